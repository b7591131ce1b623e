"""The exported file is the product: the self-contained frame graph takes a camera frame of any
size and returns what `nircolor transcode` writes, in plain ONNX Runtime with no help from nircolor."""

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from nircolor.cli import main
from nircolor.export import check
from nircolor.export.onnx import export_onnx, read_metadata
from nircolor.models import checkpoint, zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.models.frame_graph import FrameGraph

SIZES = [(240, 320), (479, 641), (720, 1280), (1080, 1920), (2160, 3840)]  # H, W


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def frame_onnx(tmp_path_factory):
    """`nircolor export` with its defaults: the checked uint8 frame graph of the default model."""
    out = tmp_path_factory.mktemp("frame") / "default.onnx"
    assert main(["export", "--model", "default", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def camera_frames(tmp_path_factory):
    """A real NIR photograph at the sizes cameras give, as PNG files in one folder."""
    folder = tmp_path_factory.mktemp("frames")
    nir = read_nir(find_pairs(zoo.SAMPLES_DIR)[0].nir)
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.resize(nir, (w, h), interpolation=cv2.INTER_CUBIC))
    return folder


def test_plain_onnx_runtime_matches_nircolor_transcode_at_every_size(frame_onnx, camera_frames, tmp_path):
    """The floor of the export issue: 45 dB at 320x240 to 3840x2160, 641x479 and 1080p included."""
    out = tmp_path / "out"
    # The PyTorch backend, so the comparison is between two implementations, not the file with itself.
    assert main(["transcode", str(camera_frames), str(out) + "/", "--backend", "torch", "--no-progress"]) == 0
    session = ort.InferenceSession(str(frame_onnx), providers=["CPUExecutionProvider"])
    for i, (h, w) in enumerate(SIZES):
        nir = cv2.imread(str(camera_frames / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        (rgb,) = session.run(None, {"nir": nir[None, None]})[0]
        shown = cv2.cvtColor(cv2.imread(str(out / f"{i:06d}.png")), cv2.COLOR_BGR2RGB)
        assert rgb.dtype == np.uint8 and rgb.shape == (h, w, 3)
        assert psnr(rgb, shown) >= 45, (h, w)


def test_the_graph_says_what_a_consumer_needs(frame_onnx):
    meta = read_metadata(frame_onnx)
    assert meta["graph"] == "frame" and meta["io"] == "uint8" and meta["infer_size"] == 384
    assert meta["min_side"] == 17 and meta["guided_upsampling"] == {"radius": 8, "eps": 0.01}
    proto = onnx.load(str(frame_onnx))
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "height", "width"]  # any size, not a multiple of the padding
    ops = {n.op_type for n in proto.graph.node}
    assert {"Resize", "AveragePool", "Pad"} <= ops  # downscale, box filters and padding are in the graph


def test_a_batch_of_two_odd_sized_frames(frame_onnx, camera_frames):
    session = ort.InferenceSession(str(frame_onnx), providers=["CPUExecutionProvider"])
    nir = cv2.imread(str(camera_frames / "1.png"), cv2.IMREAD_GRAYSCALE)
    batch = np.stack([nir, 255 - nir])[:, None]
    rgb = session.run(None, {"nir": batch})[0]
    single = session.run(None, {"nir": batch[1:]})[0]
    assert rgb.shape == (2, 479, 641, 3) and np.array_equal(rgb[1], single[0])


def test_the_torch_backend_runs_the_same_module_that_is_exported(camera_frames):
    net, card = checkpoint.load(zoo.resolve("default"))
    graph = FrameGraph.for_card(net, card).eval()
    nir = cv2.imread(str(camera_frames / "0.png"), cv2.IMREAD_GRAYSCALE)
    from nircolor.runtime import backends

    runner, _ = backends.create("torch", "default", device="cpu")
    with runner, torch.inference_mode():
        assert runner.info.whole_frames
        assert np.array_equal(runner.infer(nir[None, None]), graph(torch.from_numpy(nir)[None, None]).numpy())


def test_fp16_frame_graph_keeps_the_picture(tmp_path, frame_onnx, camera_frames):
    fp16 = export_onnx("default", tmp_path / "fp16.onnx", fp16=True)
    frames = [cv2.imread(str(camera_frames / f"{i}.png"), cv2.IMREAD_GRAYSCALE)[None, None] for i in (0, 3)]
    report = check.compare(check.onnx_runner(frame_onnx), check.onnx_runner(fp16), frames, ("fp32", "fp16"))
    assert report.non_finite == 0 and report.psnr_min >= check.FP16_MIN_PSNR, str(report)


def test_float32_io_needs_the_bare_network(tmp_path, capsys):
    assert main(["export", "--model", "snet16", "--io", "float32", "--graph", "frame", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "the frame graph takes and returns uint8 frames" in capsys.readouterr().err


def test_a_calibrated_model_exports_with_its_calibration(tmp_path, camera_frames):
    """The calibration (models/calibration.py) is part of the network, so of the exported file."""
    calibrated = checkpoint.with_options(zoo.resolve("default"), tmp_path / "cal.pt",
                                         calibration=[[0.02, 0.3, 0.1, -0.3, -0.05]] * 3)
    out = tmp_path / "cal.onnx"
    assert main(["export", "--model", str(calibrated), "--out", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    plain = FrameGraph.for_card(*checkpoint.load(zoo.resolve("default")))
    graph = FrameGraph.for_card(*checkpoint.load(calibrated))
    for i in (1, 3):  # 641x479 and 1080p: the correction reaches full resolution through the upsampling
        nir = cv2.imread(str(camera_frames / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        (rgb,) = session.run(None, {"nir": nir[None, None]})[0]
        with torch.no_grad():
            expected = graph(torch.from_numpy(nir)[None, None])[0].numpy()
            uncalibrated = plain(torch.from_numpy(nir)[None, None])[0].numpy()
        assert psnr(rgb, expected) >= 45 and psnr(rgb, uncalibrated) < 35
