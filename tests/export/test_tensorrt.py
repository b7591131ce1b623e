"""Everything around the TensorRT build that runs without TensorRT: engine headers, the cache,
invalidation, shape profiles, precision rules, the accuracy guard and ONNX Runtime providers.
The build itself needs TensorRT and a GPU and is skipped here with that reason."""

import importlib.util
import json

import numpy as np
import pytest

from nircolor.cli import main
from nircolor.export import engine_file, ort_providers, tensorrt
from nircolor.export.engine_file import EngineFileError, EngineHeader, Profile

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def header(**changes):
    base = dict(onnx_sha256="ab" * 32, tensorrt_version="10.3.0", compute_capability="8.7", precision="fp16",
                profile=[[1, 1, 240, 320], [1, 1, 480, 640], [1, 1, 1088, 1920]], model={"pad_multiple": 16, "io": "uint8"})
    base.update(changes)
    return EngineHeader(**base)


def test_header_round_trip_keeps_engine_bytes(tmp_path):
    path = engine_file.write(tmp_path / "m.engine", header(), b"\x00PLAN\xff" * 100)
    got, data = engine_file.read_engine(path, header())
    assert got == header() and data == b"\x00PLAN\xff" * 100
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("field,value", [("tensorrt_version", "8.6.1"), ("compute_capability", "9.0"),
                                         ("onnx_sha256", "cd" * 32), ("precision", "fp32"),
                                         ("profile", [[1, 1, 240, 320], [1, 1, 480, 640], [1, 1, 720, 1280]])])
def test_mismatched_engine_is_refused_naming_the_field(tmp_path, field, value):
    path = engine_file.write(tmp_path / "m.engine", header(**{field: value}), b"plan")
    with pytest.raises(EngineFileError, match=rf"m.engine was built for something else \({field}: engine has"):
        engine_file.read_engine(path, header())


def test_cache_key_changes_with_every_key_field_only():
    keys = {header().cache_key(), header(tensorrt_version="8.6.1").cache_key(), header(compute_capability="9.0").cache_key(),
            header(precision="fp32").cache_key(), header(onnx_sha256="00" * 32).cache_key()}
    assert len(keys) == 5
    assert header(model={"other": 1}).cache_key() == header().cache_key()
    path = engine_file.cache_path("cache", "out/snet16.uint8.onnx", header())
    assert path.name == f"snet16-fp16-{header().cache_key()}.engine"


def test_bare_damaged_and_missing_engine_files(tmp_path):
    with pytest.raises(EngineFileError, match="does not exist"):
        engine_file.read_header(tmp_path / "none.engine")
    (tmp_path / "bare.engine").write_bytes(b"ftrt" + b"\x00" * 64)
    with pytest.raises(EngineFileError, match="bare.engine has no nircolor engine header"):
        engine_file.read_header(tmp_path / "bare.engine")
    (tmp_path / "bad.engine").write_bytes(engine_file.MAGIC + (5).to_bytes(4, "little") + b"{oops")
    with pytest.raises(EngineFileError, match="bad.engine has a damaged header"):
        engine_file.read_header(tmp_path / "bad.engine")
    engine_file.write(tmp_path / "empty.engine", header(), b"")
    with pytest.raises(EngineFileError, match="holds a header but no engine"):
        engine_file.read_engine(tmp_path / "empty.engine")


def test_header_is_plain_json_after_magic(tmp_path):
    path = engine_file.write(tmp_path / "m.engine", header(), b"plan")
    raw = path.read_bytes()[len(engine_file.MAGIC):]
    size = int.from_bytes(raw[:4], "little")
    assert json.loads(raw[4 : 4 + size])["compute_capability"] == "8.7"


def test_parse_shapes():
    p = engine_file.parse_shapes("240x320/480x640/1088x1920", 16)
    assert p == Profile((1, 1, 240, 320), (1, 1, 480, 640), (1, 1, 1088, 1920))
    assert engine_file.parse_shapes("1x64x64/2x128x128/4x256x256", 64).max == (4, 1, 256, 256)
    assert p.admits((1, 1, 1088, 1920)) and not p.admits((1, 1, 1088, 2048)) and not p.admits((1, 1088, 1920))


@pytest.mark.parametrize("text,message", [
    ("240x320/480x640", "min/opt/max"),
    ("240x320/480x640/1080x1920", r"multiples of the model's padding 16; use 1088x1920"),
    ("480x640/240x320/1088x1920", "min <= opt <= max"),
    ("240x320/axb/1088x1920", "not HxW"),
])
def test_bad_shapes_say_what_to_do(text, message):
    with pytest.raises(ValueError, match=message):
        engine_file.parse_shapes(text, 16)


def test_fp16_builds_keep_normalisation_in_fp32():
    assert tensorrt.keep_in_fp32("NORMALIZATION", "layer_7")
    assert tensorrt.keep_in_fp32("SCALE", "/net/encoders.0/BatchNorm2d_1")
    assert tensorrt.keep_in_fp32("REDUCE", "mean")
    assert not tensorrt.keep_in_fp32("CONVOLUTION", "/net/encoders.0/Conv")


def test_accuracy_guard_refuses_nan_and_low_psnr(tmp_path):
    frames = [np.zeros((1, 1, 16, 16), np.uint8)]

    def reference(x):
        return np.full((1, 16, 16, 3), 120.0)

    assert tensorrt.accuracy_guard(reference, lambda x: reference(x) + 0.5, frames, tmp_path / "ok.engine").psnr_min > 50

    def with_nan(x):
        out = reference(x)
        out[0, 3, 3, 1] = np.nan
        return out

    with pytest.raises(tensorrt.EngineBuildError, match=r"refused engine .*bad.engine: .*NaN/Inf 1"):
        tensorrt.accuracy_guard(reference, with_nan, frames, tmp_path / "bad.engine")
    with pytest.raises(tensorrt.EngineBuildError, match=r"PSNR min 2\d\.\d dB"):
        tensorrt.accuracy_guard(reference, lambda x: reference(x) + 12, frames, tmp_path / "bad.engine")


def test_ort_providers_prefer_tensorrt_with_caches_and_profile(tmp_path):
    profile = engine_file.parse_shapes("240x320/480x640/1088x1920", 16)
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    chosen, why = ort_providers.choose(available, "auto", fp16=True, cache_dir=tmp_path, profile=profile)
    assert [name for name, _ in chosen] == available
    trt_options = chosen[0][1]
    assert trt_options["trt_fp16_enable"] and trt_options["trt_engine_cache_enable"]
    assert trt_options["trt_engine_cache_path"].startswith(str(tmp_path))
    assert trt_options["trt_profile_max_shapes"] == "nir:1x1x1088x1920"
    assert why == "using TensorrtExecutionProvider"


def test_ort_providers_say_what_is_missing():
    chosen, why = ort_providers.choose(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert chosen[0][0] == "CUDAExecutionProvider" and "TensorrtExecutionProvider not in this onnxruntime" in why
    # The advice names a flag that exists (it once named --provider, which no command has).
    with pytest.raises(ValueError, match="not CUDAExecutionProvider; on a CUDA machine install onnxruntime-gpu, otherwise run with --device cpu"):
        ort_providers.choose(["CPUExecutionProvider"], "cuda")
    with pytest.raises(ValueError, match="unknown execution provider 'rocm'"):
        ort_providers.choose(["CPUExecutionProvider"], "rocm")


def test_ort_cpu_session_runs_here(tmp_path):
    from nircolor.export.onnx import export_onnx

    path = export_onnx("default", tmp_path / "m.onnx", io="uint8")
    sess, why = ort_providers.session(path)
    assert sess.get_providers()[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    assert sess.run(None, {"nir": np.zeros((1, 1, 64, 64), np.uint8)})[0].shape == (1, 64, 64, 3)


@pytest.mark.skipif(HAS_TRT, reason="checks the message given when TensorRT is absent")
def test_build_without_tensorrt_says_what_to_install(tmp_path, capsys):
    assert main(["build", "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "TensorRT's Python package is not installed" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_TRT, reason="TensorRT's Python package is not installed (its wheels come from NVIDIA's index; needs an NVIDIA GPU)")
def test_fp16_engine_build_passes_guard_and_is_cached(tmp_path):
    from nircolor.export.onnx import export_onnx

    onnx_path = export_onnx("default", tmp_path / "m.onnx", io="uint8")
    first = tensorrt.build_engine(onnx_path, fp16=True, shapes="64x64/352x512/704x1024", cache_dir=tmp_path / "cache")
    assert not first.cached and first.parity.psnr_min >= 40
    again = tensorrt.build_engine(onnx_path, fp16=True, shapes="64x64/352x512/704x1024", cache_dir=tmp_path / "cache")
    assert again.cached and again.path == first.path


def test_default_profile_covers_the_working_size_only():
    shapes = engine_file.default_shapes(480, 16)
    assert shapes == "1x16x16/1x272x480/4x480x480"
    profile = engine_file.parse_shapes(shapes, 16)
    assert profile.admits((1, 1, 272, 480)) and profile.admits((1, 1, 480, 320))  # landscape and portrait
    assert profile.admits((2, 1, 272, 480))  # the runtime's offline batch
    assert not profile.admits((1, 1, 1088, 1920))
    full = engine_file.parse_shapes(engine_file.default_shapes(None, 16), 16)
    assert full.admits((2, 1, 1088, 1920)) and not full.admits((1, 1, 1088, 2048))


def test_guard_frames_are_seen_at_the_working_size():
    from nircolor.export.check import sample_frames

    frames = [tensorrt._at_working_size(nir, 480) for nir in sample_frames()]
    assert frames and all(max(f.shape) <= 480 for f in frames)
    small = np.zeros((240, 320), np.uint8)
    assert tensorrt._at_working_size(small, 480) is small
