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


def test_plan_is_written_as_is_with_a_json_sidecar(tmp_path):
    """trtexec, Triton and DeepStream read the plan file itself: not one byte of ours in it."""
    plan = b"\x00PLAN\xff" * 100
    path = engine_file.write(tmp_path / "m.plan", header(), plan)
    assert path.read_bytes() == plan
    side = json.loads(engine_file.sidecar_path(path).read_text())
    assert side["onnx_sha256"] == header().onnx_sha256 and side["precision"] == "fp16" and side["model"]["io"] == "uint8"
    got, data = engine_file.read_engine(path, header())
    assert got == header() and data == plan
    assert not list(tmp_path.glob("*partial*"))


@pytest.mark.parametrize("field, value", [("onnx_sha256", "cd" * 32), ("tensorrt_version", "8.6.1"),
                                          ("compute_capability", "8.6"), ("precision", "fp32"),
                                          ("profile", [[1, 1, 16, 16], [1, 1, 16, 16], [1, 1, 16, 16]])])
def test_mismatched_engine_is_refused_naming_the_field(tmp_path, field, value):
    path = engine_file.write(tmp_path / "m.plan", header(**{field: value}), b"plan")
    with pytest.raises(EngineFileError, match=rf"m.plan was built for something else \({field}: engine has"):
        engine_file.read_engine(path, header())


def test_cache_key_changes_with_every_key_field_only():
    keys = {header(**{f: v}).cache_key() for f, v in [("precision", "fp32"), ("tensorrt_version", "9"), ("compute_capability", "9.0")]}
    assert len(keys | {header().cache_key()}) == 4
    assert header(model={"other": 1}).cache_key() == header().cache_key()
    path = engine_file.cache_path("cache", "out/snet16.uint8.onnx", header())
    assert path.name == f"snet16-fp16-{header().cache_key()}.plan"


def test_plans_nircolor_cannot_vouch_for(tmp_path):
    with pytest.raises(EngineFileError, match="does not exist"):
        engine_file.read_header(tmp_path / "none.plan")
    (tmp_path / "bare.plan").write_bytes(b"ftrt" + b"\x00" * 64)
    with pytest.raises(EngineFileError, match="bare.plan has no sidecar bare.plan.json.*trtexec, Triton and DeepStream can still load"):
        engine_file.read_header(tmp_path / "bare.plan")
    (tmp_path / "old.engine").write_bytes(engine_file.OLD_MAGIC + (5).to_bytes(4, "little") + b"{oops")
    with pytest.raises(EngineFileError, match="old.engine is an engine in nircolor's old format"):
        engine_file.read_header(tmp_path / "old.engine")
    engine_file.write(tmp_path / "bad.plan", header(), b"plan")
    engine_file.sidecar_path(tmp_path / "bad.plan").write_text("{oops")
    with pytest.raises(EngineFileError, match="bad.plan.json is damaged"):
        engine_file.read_header(tmp_path / "bad.plan")
    swapped = engine_file.write(tmp_path / "swapped.plan", header(), b"plan one")
    swapped.write_bytes(b"plan two")  # replaced by hand, or truncated by a full disk
    with pytest.raises(EngineFileError, match="not the plan its sidecar describes"):
        engine_file.read_engine(swapped)


def test_a_checked_plan_moves_into_place_with_its_sidecar(tmp_path):
    partial = engine_file.write(tmp_path / "m.plan.unchecked", header(), b"new")
    engine_file.write(tmp_path / "m.plan", header(precision="fp32"), b"old")
    engine_file.move(partial, tmp_path / "m.plan")
    assert engine_file.read_engine(tmp_path / "m.plan", header())[1] == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.plan", "m.plan.json"]
    engine_file.remove(tmp_path / "m.plan")
    assert not list(tmp_path.iterdir())


def test_build_and_run_share_one_engine_cache(monkeypatch, tmp_path):
    from nircolor.export.engine_file import cache_root as cache_dir

    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "volume"))
    assert engine_file.engine_cache() == tmp_path / "volume" / "engines" and cache_dir() == tmp_path / "volume"
    import inspect

    from nircolor.cli import build_parser

    build = build_parser()._subparsers._group_actions[0].choices["build"]
    assert build.get_default("cache_dir") is None  # so build_engine falls back to engine_file.engine_cache()
    assert inspect.signature(tensorrt.build_engine).parameters["cache_dir"].default is None


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


def test_fp16_pinning_names_the_exported_frame_graphs_own_nodes():
    """The names a TensorRT FP16 build keeps in FP32 are read from the exported graph: the guided
    filter's box filters and variance around the network, none of the network's convolutions."""
    import onnx

    from nircolor.export.metadata import read_metadata
    from nircolor.models import zoo

    path = zoo.ZOO["snet16"].onnx
    pinned = set(read_metadata(path)["fp32_nodes"])
    nodes = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    assert pinned and pinned <= set(nodes)
    assert {name for name, op in nodes.items() if op == "AveragePool"} <= pinned  # every box filter
    assert not {name for name, op in nodes.items() if op in ("Conv", "ConvTranspose")} & pinned
    assert {"Resize", "Div", "Sub"} <= {nodes[n] for n in pinned}
    assert tensorrt.keep_in_fp32(next(n for n in pinned if nodes[n] == "AveragePool"), pinned)
    assert not tensorrt.keep_in_fp32(next(n for n, op in nodes.items() if op == "Conv"), pinned)


def test_accuracy_guard_refuses_nan_and_low_psnr(tmp_path):
    frames = [np.zeros((1, 1, 16, 16), np.uint8)]

    def reference(x):
        return np.full((1, 16, 16, 3), 120.0)

    assert tensorrt.accuracy_guard(reference, lambda x: reference(x) + 0.5, frames, tmp_path / "ok.plan").psnr_min > 50

    def with_nan(x):
        out = reference(x)
        out[0, 3, 3, 1] = np.nan
        return out

    with pytest.raises(tensorrt.EngineBuildError, match=r"refused engine .*bad.plan: .*NaN/Inf 1"):
        tensorrt.accuracy_guard(reference, with_nan, frames, tmp_path / "bad.plan")
    with pytest.raises(tensorrt.EngineBuildError, match=r"PSNR min 2\d\.\d dB"):
        tensorrt.accuracy_guard(reference, lambda x: reference(x) + 12, frames, tmp_path / "bad.plan")


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
