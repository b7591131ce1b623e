"""ONNX export: metadata, dynamic shapes, parity against PyTorch on real frames, bad input."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nircolor.cli import main
from nircolor.export import check, formats
from nircolor.export.onnx import OnnxModelError, export_onnx, read_metadata
from nircolor.export.pipeline import export_checked
from nircolor.models import checkpoint, zoo


@pytest.fixture(scope="module")
def model_path():
    return zoo.resolve("default")


@pytest.fixture(scope="module")
def fixture_frames():
    from pathlib import Path

    return check.sample_frames(Path(__file__).parents[1] / "data" / "pairs", limit=3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model_path):
    out = tmp_path_factory.mktemp("onnx")
    return {  # the bare network (the frame graph is tested in test_frame_graph.py)
        (io, fp16): export_onnx(model_path, out / f"m-{io}-{fp16}.onnx", io=io, fp16=fp16, graph="network")
        for io in ("float32", "uint8")
        for fp16 in (False, True)
    }


def test_metadata_and_checker(exported, model_path):
    path = exported[("float32", False)]
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    meta = read_metadata(path)
    _, card = checkpoint.load(model_path)
    assert meta["architecture"] == card.architecture and meta["options"] == card.options
    assert meta["pad_multiple"] == card.pad_multiple and meta["input_range"] == [0.0, 1.0]
    assert meta["infer_size"] == card.infer_size
    assert meta["output_range"] == [-1.0, 1.0] and meta["precision"] == "fp32" and meta["io"] == "float32"
    assert meta["source_sha256"] == checkpoint.file_sha256(model_path)
    assert meta["provenance"]["val_pairs"] == card.provenance["val_pairs"]
    assert read_metadata(exported[("uint8", True)])["precision"] == "fp16"
    assert meta["graph"] == "network"


def test_dynamic_batch_height_width(exported):
    session = ort.InferenceSession(str(exported[("uint8", False)]), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.type == "tensor(uint8)" and out.type == "tensor(uint8)"
    for shape in [(1, 1, 64, 96), (3, 1, 32, 160), (1, 1, 1088, 1920)]:
        rgb = session.run(None, {"nir": np.zeros(shape, np.uint8)})[0]
        assert rgb.shape == (shape[0], shape[2], shape[3], 3)


@pytest.mark.parametrize("io", ["float32", "uint8"])
def test_fp32_parity_with_pytorch_on_real_frames(exported, model_path, fixture_frames, io):
    reference, card = check.torch_runner(model_path)
    frames = check.pad_frames(fixture_frames, card.pad_multiple)
    report = check.compare(reference, check.onnx_runner(exported[(io, False)]), frames, ("torch", "onnx"))
    assert report.non_finite == 0
    assert report.psnr_min >= check.FP32_MIN_PSNR, str(report)


@pytest.mark.parametrize("io", ["float32", "uint8"])
def test_fp16_parity_with_fp32_on_real_frames(exported, model_path, fixture_frames, io):
    _, card = check.torch_runner(model_path)
    frames = check.pad_frames(fixture_frames, card.pad_multiple)
    report = check.compare(check.onnx_runner(exported[(io, False)]), check.onnx_runner(exported[(io, True)]), frames, ("fp32", "fp16"))
    assert report.non_finite == 0
    assert report.psnr_min >= check.FP16_MIN_PSNR, str(report)


def test_fp16_file_is_about_half(exported):
    assert exported[("float32", True)].stat().st_size < 0.6 * exported[("float32", False)].stat().st_size


def test_full_hd_frame_through_onnx_matches_pytorch(exported, model_path):
    rng = np.random.default_rng(0)
    frame = (rng.random((1080, 1920)) * 255).astype(np.uint8)
    reference, card = check.torch_runner(model_path)
    (padded,) = check.pad_frames([frame], card.pad_multiple)
    assert padded.shape == (1, 1, 1088, 1920)
    report = check.compare(reference, check.onnx_runner(exported[("float32", False)]), [padded], ("torch", "onnx"))
    assert report.psnr_min >= check.FP32_MIN_PSNR


def test_parity_detects_a_broken_model():
    frames = [np.zeros((1, 1, 16, 16), np.uint8)]

    def good(x):
        return np.full((1, 16, 16, 3), 100.0)

    def nan(x):
        out = good(x)
        out[0, 0, 0, 0] = np.nan
        return out

    report = check.compare(good, nan, frames, ("a", "b"))
    assert report.non_finite == 1 and not report.passed(40)
    assert not check.compare(good, lambda x: good(x) + 10, frames, ("a", "b")).passed(40)


def test_export_command_checks_and_reports(tmp_path, capsys):
    out = tmp_path / "d.onnx"
    assert main(["export", "--model", "default", "--out", str(out), "--io", "uint8", "--fp16"]) == 0
    printed = capsys.readouterr().out
    assert "ONNX FP16 vs ONNX FP32" in printed and "ONNX FP16 vs PyTorch" in printed
    assert out.exists() and not list(tmp_path.glob("*fp32-reference*"))


def test_export_checked_refuses_below_the_floor(tmp_path, monkeypatch, model_path):
    monkeypatch.setattr(check, "FP32_MIN_PSNR", 1000.0)
    with pytest.raises(check.ParityError, match=r"refused .*x.onnx: ONNX FP32 vs PyTorch .* \(needs at least 1000 dB"):
        export_checked(model_path, tmp_path / "x.onnx", frames=1)
    assert not (tmp_path / "x.onnx").exists()


def test_a_killed_exports_leftovers_are_removed_by_the_next_and_a_live_ones_kept(tmp_path, model_path):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".x.onnx.partial-{gone}.onnx"  # what an export killed midway (SIGKILL) leaves
    stale.write_bytes(b"\0" * 1000)
    live = tmp_path / f".x.onnx.partial-{os.getppid()}.onnx"  # an export running beside this one
    live.write_bytes(b"\0" * 1000)
    export_checked(model_path, tmp_path / "x.onnx", frames=1)
    assert (tmp_path / "x.onnx").exists() and not stale.exists() and live.exists()


def test_an_interrupted_check_leaves_no_model_behind(tmp_path, monkeypatch, model_path):
    """The file appears only once checked: Ctrl-C during the check leaves neither the model nor a
    temporary file, so the runtime cache can never trust an unchecked export."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "compare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_checked(model_path, tmp_path / "x.onnx", frames=1)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_check_folder_is_reported_before_anything_is_written(tmp_path, capsys):
    assert main(["export", "--model", "default", "--out", str(tmp_path / "x.onnx"), "--check-data", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_a_damaged_cached_export_is_exported_again(tmp_path, monkeypatch):
    from nircolor.export.artifacts import onnx_for

    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path))
    path = onnx_for("snet16", graph="network")  # a cached export (the frame graph ships with the model)
    assert path.is_relative_to(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])  # a cut-off file, as a full disk once left
    assert onnx_for("snet16", graph="network") == path and read_metadata(path)["architecture"] == "snet"
    # Bit rot that keeps the size and the metadata (one weight byte flipped): caught by the checksum.
    rotten = bytearray(path.read_bytes())
    rotten[len(rotten) // 2] ^= 0x40
    path.write_bytes(bytes(rotten))
    assert read_metadata(path)["architecture"] == "snet"  # still loads: the old check passed it
    assert onnx_for("snet16", graph="network") == path and path.read_bytes() == good


def test_bad_onnx_files(tmp_path, exported):
    with pytest.raises(OnnxModelError, match="does not exist"):
        read_metadata(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(OnnxModelError, match="junk.onnx is not a readable ONNX model"):
        read_metadata(tmp_path / "junk.onnx")
    proto = onnx.load(str(exported[("float32", False)]))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    with pytest.raises(OnnxModelError, match="plain.onnx has no nircolor metadata"):
        read_metadata(tmp_path / "plain.onnx")


def test_export_of_a_non_checkpoint_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "w.pt").write_text("nope")
    assert main(["export", "--model", str(tmp_path / "w.pt"), "--out", str(tmp_path / "w.onnx")]) == 2
    assert "w.pt is not a PyTorch checkpoint" in capsys.readouterr().err


def test_format_table_drives_names_and_help():
    assert formats.default_path("models/weights/snet16.pt", formats.get("onnx-fp16"), "uint8").name == "snet16.fp16.onnx"
    assert formats.default_path("snet16", formats.get("onnx"), "float32", "network").name == "snet16.network-float32.onnx"
    assert "engine (.plan)" in formats.help_text() and "triton (a folder)" in formats.help_text()
    assert formats.default_path("default", formats.get("triton")).name == "model_repository"
    with pytest.raises(formats.FormatError, match="onnx, onnx-fp16, onnx-int8, onnx-int8-trt, engine, triton"):
        formats.get("tflite")


def test_runners_read_the_value_ranges_the_file_declares(exported, tmp_path, fixture_frames):
    """input_range and output_range are read, not assumed: a float32 graph whose metadata says its
    output spans [-2, 2] (its real values stay in [-1, 1]) is shown at half contrast around 127.5."""
    source = exported[("float32", False)]
    proto = onnx.load(str(source))
    for prop in proto.metadata_props:
        if prop.key == "output_range":
            prop.value = "[-2.0, 2.0]"
    rescaled = tmp_path / "rescaled.onnx"
    onnx.save(proto, str(rescaled))
    frame = fixture_frames[0][None, None][..., :64, :64]
    plain, wide = check.onnx_runner(source)(frame), check.onnx_runner(rescaled)(frame)
    assert np.allclose(wide, (plain / 127.5 - 1.0 + 2.0) * 63.75, atol=1e-3)
    from nircolor.runtime.backends.onnxruntime_backend import OnnxRuntimeRunner

    with OnnxRuntimeRunner(str(rescaled), provider="cpu") as runner:
        assert np.abs(runner.infer(frame).astype(float) - wide).max() <= 0.5 + 1e-6
