import numpy as np
import pytest

from nircolor.models import zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.models.evaluate import colorize
from nircolor.models import checkpoint
from nircolor.runtime import backends
from nircolor.runtime.backends.base import BackendError
from nircolor.runtime.frames import FrameError, crop_batch, pad_batch, side_by_side, to_nir


def test_to_nir_handles_grey_colour_16_bit_and_float():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert to_nir(grey) is grey
    assert to_nir(grey[:, :, None]).shape == (3, 4)
    colour = np.repeat(grey[:, :, None], 3, axis=2)
    assert np.array_equal(to_nir(colour), grey)
    assert np.array_equal(to_nir(grey.astype(np.uint16) * 257), grey)
    assert np.array_equal(to_nir(grey / 255.0), grey)


@pytest.mark.parametrize("bad,message", [
    (np.zeros((0, 4), np.uint8), "empty"),
    (None, "empty or missing"),
    (np.zeros((2, 2, 2, 2), np.uint8), "neither grey"),
    (np.zeros((2, 2), np.int64), "not 8-bit"),
    (np.full((2, 2), np.nan, np.float32), "NaN"),
])
def test_bad_frames_are_named(bad, message):
    with pytest.raises(FrameError, match=message):
        to_nir(bad)


def test_pad_and_crop_round_trip():
    frames = [np.random.default_rng(i).integers(0, 255, (37, 50), dtype=np.uint8) for i in range(2)]
    batch, padding = pad_batch(frames, 16)
    assert batch.shape == (2, 1, 48, 64) and (padding.height, padding.width) == (37, 50)
    assert np.array_equal(batch[1, 0, :37, :50], frames[1])
    rgb = np.repeat(batch[:, 0, :, :, None], 3, axis=3)
    out = crop_batch(rgb, padding)
    assert out[0].shape == (37, 50, 3) and np.array_equal(out[0][:, :, 0], frames[0])
    with pytest.raises(FrameError, match="one size"):
        pad_batch([frames[0], frames[0][:30]], 16)


def test_side_by_side():
    nir = np.zeros((4, 5), np.uint8)
    assert side_by_side(nir, np.zeros((4, 5, 3), np.uint8)).shape == (4, 10, 3)


@pytest.fixture(scope="module")
def real_frame():
    return read_nir(find_pairs(zoo.SAMPLES_DIR)[0].nir)


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_backend_matches_single_image_inference(name, real_frame, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path_factory.mktemp("cache")))
    runner, why = backends.create(name, "default", device="cpu")
    net, card = checkpoint.load(zoo.resolve("default"))
    expected = colorize(net, real_frame, infer_size=card.infer_size)  # what the whole-frame graph shows
    with runner:
        assert runner.info.whole_frames
        (out,) = runner.infer(real_frame[None, None])
    assert out.shape == expected.shape
    # Same network, padded the same way; ONNX Runtime may round a few pixels the other way, and the
    # shipped ONNX file stores its (batch-norm folded) weights as float16: about 7 % of the values
    # differ by one grey level (57 dB, scripts/ship_onnx.py), none by more than two.
    assert np.mean(np.abs(out.astype(int) - expected)) < 0.1
    assert np.abs(out.astype(int) - expected).max() <= 2


@pytest.mark.parametrize("size", [(479, 641), (100, 100), (1080, 1920)])
def test_onnx_runtime_at_sizes_that_are_not_multiples_of_the_padding(size, real_frame, tmp_path_factory, monkeypatch):
    """The sizes cameras give (1080 rows, odd sizes) through the runtime's ONNX path match PyTorch."""
    import cv2

    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path_factory.mktemp("cache")))
    frame = cv2.resize(real_frame, size[::-1], interpolation=cv2.INTER_AREA)
    net, _ = checkpoint.load(zoo.resolve("snet16"))
    runner, _ = backends.create("onnxruntime", "snet16", device="cpu", whole_frames=False)  # the bare network, host padding
    with runner:
        batch, padding = pad_batch([frame], runner.info.pad_multiple)
        (out,) = crop_batch(runner.infer(batch), padding)
    expected = colorize(net, frame)
    assert out.shape == (*size, 3) and np.abs(out.astype(int) - expected).max() <= 2


def test_runner_checks_state_and_shapes(monkeypatch, tmp_path):
    runner, _ = backends.create("torch", "default", device="cpu", whole_frames=False)
    with pytest.raises(BackendError, match="before load"):
        runner.infer(np.zeros((1, 1, 16, 16), np.uint8))
    with backends.create("torch", "default", device="cpu")[0] as whole:
        with pytest.raises(BackendError, match="at least 17x17"):
            whole.infer(np.zeros((1, 1, 8, 40), np.uint8))
    with runner:
        m = runner.info.pad_multiple
        with pytest.raises(BackendError, match=f"multiples of {m}"):
            runner.infer(np.zeros((1, 1, m + 4, m), np.uint8))
        with pytest.raises(BackendError, match="uint8 batch"):
            runner.infer(np.zeros((1, 3, 16, 16), np.uint8))


def test_auto_backend_says_which_and_why(monkeypatch):
    import importlib.util

    name, why = backends.pick("auto")
    has_trt = importlib.util.find_spec("tensorrt") is not None
    if not has_trt:  # this machine and CI: ONNX Runtime, not the 3x slower PyTorch
        assert (name, why) == ("onnxruntime", "no TensorRT package; ONNX Runtime is the fastest backend present")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod: object() if mod == "tensorrt" else real(mod))
    monkeypatch.setattr(backends, "_cuda", lambda: True)
    assert backends.pick("auto") == ("tensorrt", "TensorRT and a CUDA GPU are present")
    monkeypatch.setattr(backends, "_cuda", lambda: False)
    assert backends.pick("auto") == ("onnxruntime", "no CUDA GPU for TensorRT; ONNX Runtime is the fastest backend present")
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod: None if mod in ("tensorrt", "onnxruntime") else real(mod))
    assert backends.pick("auto")[0] == "torch"
    with pytest.raises(BackendError, match="unknown backend 'openvino'"):
        backends.pick("openvino")


def test_torch_fp16_on_cpu_is_refused_not_dropped():
    runner, _ = backends.create("torch", "default", fp16=True, device="cpu")
    with pytest.raises(BackendError, match="FP16 with PyTorch needs a CUDA GPU"):
        runner.load()
