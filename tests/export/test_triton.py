"""`nircolor export --format triton`: a model repository that Triton's own ModelConfig schema
accepts, whose model file does what the config says."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nircolor.cli import main
from nircolor.export.triton import TritonExportError, config_text, model_name
from nircolor.models import zoo

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] is not installed (test extra)")
text_format = pytest.importorskip("google.protobuf.text_format")


def parse(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("triton") / "model_repository"
    assert main(["export", "--format", "triton", "--model", "snet16", "--out", str(root), "--max-batch", "4"]) == 0
    return root


def test_both_variants_parse_as_triton_model_configs(repository):
    assert sorted(p.name for p in repository.iterdir()) == ["nircolor_snet16", "nircolor_snet16_trt"]
    for variant in ("nircolor_snet16", "nircolor_snet16_trt"):
        config = parse(repository / variant / "config.pbtxt")
        assert config.name == variant and config.platform == "onnxruntime_onnx" and config.max_batch_size == 4
        (inp,), (out,) = config.input, config.output
        assert (inp.name, inp.data_type, list(inp.dims)) == ("nir", model_config_pb2.TYPE_UINT8, [1, -1, -1])
        assert (out.name, out.data_type, list(out.dims)) == ("rgb", model_config_pb2.TYPE_UINT8, [-1, -1, 3])
        assert config.HasField("dynamic_batching") and list(config.dynamic_batching.preferred_batch_size) == [2, 4]
        assert config.parameters["architecture"].string_value == "snet"
        assert config.parameters["infer_size"].string_value == "480"
    trt = parse(repository / "nircolor_snet16_trt" / "config.pbtxt")
    (accelerator,) = trt.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert trt.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert parse(repository / "nircolor_snet16" / "config.pbtxt").instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO


def test_the_model_file_matches_its_config(repository):
    """Names, types and ranks as the config declares, and a batch of two frames as the dynamic
    batcher would send it: N x 1 x H x W uint8 in, N x H x W x 3 uint8 out."""
    path = repository / "nircolor_snet16" / "1" / "model.onnx"
    assert path.read_bytes() == zoo.ZOO["snet16"].onnx.read_bytes()  # the shipped, checked frame graph
    graph = onnx.load(str(path)).graph
    assert [(i.name, i.type.tensor_type.elem_type, len(i.type.tensor_type.shape.dim)) for i in graph.input] == [("nir", onnx.TensorProto.UINT8, 4)]
    assert [(o.name, o.type.tensor_type.elem_type, len(o.type.tensor_type.shape.dim)) for o in graph.output] == [("rgb", onnx.TensorProto.UINT8, 4)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).integers(0, 255, (2, 1, 120, 161), dtype=np.uint8)
    assert session.run(None, {"nir": frames})[0].shape == (2, 120, 161, 3)


def test_an_existing_repository_is_kept_unless_overwrite(repository, capsys):
    before = (repository / "nircolor_snet16" / "config.pbtxt").read_text()
    assert main(["export", "--format", "triton", "--model", "snet16", "--out", str(repository)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (repository / "nircolor_snet16" / "config.pbtxt").read_text() == before
    assert main(["export", "--format", "triton", "--model", "snet16", "--out", str(repository), "--overwrite"]) == 0
    assert parse(repository / "nircolor_snet16" / "config.pbtxt").max_batch_size == 8
    assert not [p for p in repository.iterdir() if p.name.startswith(".")]  # no partial folders left


def test_names_and_refusals(capsys):
    assert model_name("default") == f"nircolor_{zoo.ALIASES['default']}" and model_name("runs/my-model.pt") == "nircolor_my_model"
    with pytest.raises(TritonExportError, match="frame graph"):
        config_text("m", {"graph": "network", "io": "uint8"})
    assert main(["export", "--format", "triton", "--fp16", "--out", "x"]) == 2
    assert "drop --fp16" in capsys.readouterr().err


def test_an_overwrite_that_fails_midway_keeps_the_old_model(tmp_path, monkeypatch):
    """--overwrite moves the old variant aside and puts it back if the new one cannot take its
    place: the repository never ends up without the model it had."""
    import os

    from nircolor.export import triton

    root = tmp_path / "repo"
    (root / "nircolor_x" / "1").mkdir(parents=True)
    (root / "nircolor_x" / "config.pbtxt").write_text("old")
    staged = tmp_path / "staged"
    (staged / "1").mkdir(parents=True)
    (staged / "config.pbtxt").write_text("new")
    real_replace = os.replace

    def refuse_the_new(src, dst):
        if str(src) == str(staged):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(triton.os, "replace", refuse_the_new)
    with pytest.raises(OSError, match="No space"):
        triton._swap_in(staged, root / "nircolor_x", tmp_path / "aside")
    assert (root / "nircolor_x" / "config.pbtxt").read_text() == "old"
    monkeypatch.setattr(triton.os, "replace", real_replace)
    triton._swap_in(staged, root / "nircolor_x", tmp_path / "aside")
    assert (root / "nircolor_x" / "config.pbtxt").read_text() == "new"
