"""INT8: calibration frames from real sources, the QDQ graph of a shipped model for ONNX Runtime
and for TensorRT, the parity refusal, the runtime's cached INT8 graph, and the TensorRT build
settings for explicit quantization (with a stand-in for the tensorrt module)."""

import types
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nircolor.cli import main
from nircolor.export import check, int8, tensorrt
from nircolor.export.metadata import read_metadata
from nircolor.models import zoo
from nircolor.runtime import backends

MODEL = "triplet16"  # the smallest shipped model: quick to calibrate


@pytest.fixture(scope="module")
def calibration():
    return int8.calibration_frames(Path(__file__).parents[1] / "data" / "pairs")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, calibration):
    out = tmp_path_factory.mktemp("int8") / "m.int8.onnx"
    report = int8.quantize(zoo.shipped_onnx(MODEL), out, calibration)
    return out, report


def test_calibration_frames_from_pairs_images_and_video(tmp_path, fixture_pairs):
    pairs = int8.calibration_frames(fixture_pairs)
    assert len(pairs) == 3 and all(f.ndim == 2 and f.dtype == np.uint8 for f in pairs)
    images = tmp_path / "images"
    images.mkdir()
    for i, frame in enumerate(pairs):
        cv2.imwrite(str(images / f"frame{i}.png"), frame)
    assert len(int8.calibration_frames(images, limit=2)) == 2  # spread over the folder, at most the limit
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    frames = int8.calibration_frames(video, limit=4)
    assert len(frames) == 4 and frames[0].shape == (48, 64) and frames[-1].mean() > frames[0].mean()


def test_calibration_source_errors_say_what_to_pass(tmp_path):
    with pytest.raises(int8.CalibrationError, match="does not exist"):
        int8.calibration_frames(tmp_path / "nowhere")
    with pytest.raises(int8.CalibrationError, match="no NIR frames"):
        int8.calibration_frames(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(int8.CalibrationError, match="neither a folder nor a video"):
        int8.calibration_frames(tmp_path / "notes.txt")


def test_calibration_size_keeps_the_middle_at_the_camera_aspect():
    portrait = np.zeros((400, 200), np.uint8)
    portrait[120:280] = 255  # the 4:3 crop is rows 125-275: all of it inside the band
    out = int8.to_calibration_size(portrait, (64, 48))
    assert out.shape == (48, 64) and out.min() == 255


def test_int8_graph_quantizes_the_network_and_keeps_the_frame_in_float(quantized):
    path, report = quantized
    assert report.passed(int8.INT8_MIN_PSNR)
    meta = read_metadata(path)
    assert meta["precision"] == "int8" and meta["int8_target"] == "cpu" and "percentile" in meta["int8_calibration"]
    proto = onnx.load(str(path))
    produced_by = {o: n for n in proto.graph.node for o in n.output}
    frame_level = set(meta["fp32_nodes"])
    convs = [n for n in proto.graph.node if n.op_type == "Conv" and n.name not in frame_level]
    reads_int8 = [n.input[0] in produced_by and produced_by[n.input[0]].op_type == "DequantizeLinear" for n in convs]
    # The first convolutions (the NIR's own contrast) read float, every later one a quantized tensor.
    first = int8.FLOAT_FIRST_CONVS
    assert meta["int8_float_first_convs"] == str(first) and len(convs) > first
    assert not any(reads_int8[:first]) and all(reads_int8[first:])
    assert all(produced_by[n.input[1]].op_type == "DequantizeLinear" for n in convs[first:])
    # The guided filter reads the working-size NIR in float (its variances from 8-bit values
    # would be rounding noise), and the network's colour leaves it in float: no frame-level node
    # reads a dequantized tensor.
    dequantized = {n.output[0] for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    assert frame_level and not [n.name for n in proto.graph.node if n.name in frame_level and set(n.input) & dequantized]


def test_int8_graph_runs_any_frame_size_close_to_fp32(quantized, calibration):
    path, _ = quantized
    frames = [cv2.resize(calibration[0], (641, 479), interpolation=cv2.INTER_CUBIC)[None, None]]
    report = check.compare(check.onnx_runner(zoo.shipped_onnx(MODEL)), check.onnx_runner(path), frames, ("fp32", "int8"))
    assert report.non_finite == 0 and report.psnr_min > int8.INT8_MIN_PSNR
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"nir": frames[0]})[0]
    assert out.shape == (1, 479, 641, 3) and out.dtype == np.uint8


def test_tensorrt_flavour_is_symmetric_int8_and_passes_its_check(tmp_path, calibration):
    # With 8-bit weights this flavour failed its own check (12-16 dB worst frame): the check runs on
    # this CPU, whose u8 x s8 kernels saturate on them. 7-bit weights: the check judges the graph.
    out = tmp_path / "m.int8-trt.onnx"
    report = int8.quantize(zoo.shipped_onnx(MODEL), out, calibration[:2], target="tensorrt")
    assert report.passed(int8.INT8_MIN_PSNR)
    proto = onnx.load(str(out))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    points = [inits[n.input[2]] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    assert points and all(p.dtype == np.int8 and not p.any() for p in points)
    assert read_metadata(out)["int8_target"] == "tensorrt"
    tensorrt.int8_precision_check(read_metadata(out), out)  # accepted for an INT8 build


def test_build_refuses_a_float_or_cpu_flavoured_graph(quantized):
    path, _ = quantized
    with pytest.raises(tensorrt.EngineBuildError, match="--int8-target tensorrt"):
        tensorrt.int8_precision_check(read_metadata(path), path)
    fp32 = zoo.shipped_onnx(MODEL)
    with pytest.raises(tensorrt.EngineBuildError, match="nircolor export --int8"):
        tensorrt.int8_precision_check(read_metadata(fp32), fp32)


def test_a_quantization_below_the_floor_is_refused_and_leaves_nothing(tmp_path, calibration, monkeypatch):
    monkeypatch.setattr(int8, "INT8_MIN_PSNR", 99.0)
    out = tmp_path / "refused.int8.onnx"
    with pytest.raises(check.ParityError, match="refused"):
        int8.quantize(zoo.shipped_onnx(MODEL), out, calibration[:1])
    assert list(tmp_path.iterdir()) == []


def test_only_fp32_uint8_graphs_are_quantized(quantized, calibration, tmp_path):
    path, _ = quantized
    with pytest.raises(ValueError, match="int8 graph"):
        int8.quantize(path, tmp_path / "again.onnx", calibration)


def test_runtime_quantizes_once_and_caches(tmp_path, monkeypatch, calibration):
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path))
    calls = []
    real = int8.quantize
    monkeypatch.setattr(int8, "calibration_frames", lambda *a, **k: calibration[:1])
    monkeypatch.setattr(int8, "quantize", lambda *a, **k: calls.append(a) or real(*a, **k))
    with backends.create("onnxruntime", MODEL, device="cpu", int8=True)[0] as runner:
        assert runner.info.precision == "int8"
        assert runner.infer(calibration[0][None, None]).shape == (1, *calibration[0].shape, 3)
    with backends.create("onnxruntime", MODEL, device="cpu", int8=True)[0] as runner:
        assert runner.info.precision == "int8"
    assert len(calls) == 1


def test_int8_on_other_backends_says_where_it_runs():
    with pytest.raises(backends.BackendError, match="ONNX Runtime"):
        backends.create("torch", MODEL, int8=True)


def test_export_command_writes_the_int8_file(tmp_path, fixture_pairs, capsys):
    out = tmp_path / "cli.int8.onnx"
    assert main(["export", "--model", MODEL, "--int8", "--calibration", str(fixture_pairs), "--out", str(out)]) == 0
    assert read_metadata(out)["precision"] == "int8" and "parity:" in capsys.readouterr().out
    every = tmp_path / "every.int8.onnx"
    assert main(["export", "--model", MODEL, "--int8", "--calibration", str(fixture_pairs), "--int8-float-first", "0",
                 "--out", str(every)]) == 0
    assert read_metadata(every)["int8_float_first_convs"] == "0"
    proto = onnx.load(str(every))
    produced_by = {o: n for n in proto.graph.node for o in n.output}
    assert all(produced_by[n.input[0]].op_type == "DequantizeLinear" for n in proto.graph.node if n.op_type == "Conv")
    assert main(["export", "--model", MODEL, "--int8", "--fp16", "--out", str(tmp_path / "x.onnx")]) != 0
    assert "choose one" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()


class _Flags:
    def __init__(self, **names):
        for i, name in enumerate(names):
            setattr(self, name, i)


def _fake_tensorrt(version: str):
    """Enough of the tensorrt module for _serialize: records the network flags and builder flags."""
    seen = {"network_flags": None, "builder_flags": []}

    class Network:
        num_layers = 0

        def get_input(self, i):
            return types.SimpleNamespace(name="nir")

    class Config:
        def set_memory_pool_limit(self, *a):
            pass

        def set_flag(self, flag):
            seen["builder_flags"].append(flag)

        def add_optimization_profile(self, p):
            pass

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            seen["network_flags"] = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return types.SimpleNamespace(set_shape=lambda *a: None)

        def build_serialized_network(self, network, config):
            return b"plan"

    class Parser:
        def __init__(self, network, logger):
            pass

        def parse(self, data):
            return True

    trt = types.SimpleNamespace(
        __version__=version, Builder=Builder, OnnxParser=Parser,
        NetworkDefinitionCreationFlag=_Flags(EXPLICIT_BATCH=0, STRONGLY_TYPED=1), MemoryPoolType=types.SimpleNamespace(WORKSPACE=0),
        BuilderFlag=types.SimpleNamespace(INT8="INT8", FP16="FP16", OBEY_PRECISION_CONSTRAINTS="OBEY"))
    trt.Logger = lambda level: None
    trt.Logger.WARNING = 0
    return trt, seen


@pytest.mark.parametrize("version, network_flags, builder_flags", [("10.3.0", 1 << 1, []), ("8.6.1", 1 << 0, ["INT8"])])
def test_int8_build_uses_explicit_quantization(tmp_path, version, network_flags, builder_flags):
    """TensorRT 10: a strongly typed network and no precision flags; 8.6: the INT8 flag."""
    trt, seen = _fake_tensorrt(version)
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx")
    profile = tensorrt.Profile((1, 1, 16, 16), (1, 1, 32, 32), (1, 1, 64, 64))
    assert tensorrt._serialize(trt, onnx_path, "int8", profile, None, set()) == b"plan"
    assert seen["network_flags"] == network_flags and seen["builder_flags"] == builder_flags
