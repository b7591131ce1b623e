"""PyTorch checkpoint -> ONNX, with the checkpoint's metadata in `metadata_props`.

Two graphs (`graph` in the metadata):
- `frame` (the default for uint8 I/O): what `nircolor run` shows, self-contained
  (models/frame_graph.py): uint8 NIR N x 1 x H x W at any H and W >= 17 -> uint8 RGB N x H x W x 3,
  with the padding, the working-size downscale and the NIR-guided upsampling inside. A consumer
  hands it camera frames and needs nothing else.
- `network`: the bare network on frames already padded to the model's multiple (`pad_multiple`
  in the metadata), for consumers that do their own pre- and post-processing. Two I/O forms:
  `float32`: NIR in [0, 1] -> RGB N x 3 x H x W in [-1, 1] (the network as trained); `uint8`:
  the scaling, rounding and the transpose to interleaved RGB done in the graph.
Batch, height and width are dynamic in both.
"""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from nircolor import __version__
from nircolor import files
from nircolor.models import checkpoint, zoo
from nircolor.models.frame_graph import FrameGraph
from nircolor.models.upsample import frame_min_side
from nircolor.runtime import frames_torch

from .formats import default_graph
from .metadata import ONNX_FORMAT, OnnxModelError, read_metadata  # noqa: F401  (read_metadata re-exported)

IO_KINDS = ("float32", "uint8")
GRAPH_KINDS = ("frame", "network")
DEFAULT_OPSET = 18
MAX_SIDE = 8192  # largest frame side the dynamic shapes admit


class DeployGraph(nn.Module):
    """The network with the chosen I/O conversions around it."""

    def __init__(self, net: nn.Module, card: checkpoint.ModelCard, io: str, fp16: bool = False):
        super().__init__()
        if io not in IO_KINDS:
            raise ValueError(f"unknown I/O kind {io!r}; choose one of {', '.join(IO_KINDS)}")
        self.net, self.io = (net.half() if fp16 else net), io
        self.compute = torch.float16 if fp16 else torch.float32
        self.input_range, self.output_range = tuple(card.input_range), tuple(card.output_range)

    def forward(self, nir: torch.Tensor) -> torch.Tensor:
        if self.io == "float32":
            # FP16 inside, FP32 at the boundary: callers feed the same arrays to both variants.
            return self.net(nir.to(self.compute)).float()
        y = self.net(frames_torch.nir_to_network(nir, self.input_range, self.compute))
        return frames_torch.network_to_rgb(y, self.output_range)


def deploy_module(net: nn.Module, card: checkpoint.ModelCard, io: str, fp16: bool, graph: str) -> nn.Module:
    """The module that is exported (and that the PyTorch backend runs, so both show one picture)."""
    if graph not in GRAPH_KINDS:
        raise ValueError(f"unknown graph {graph!r}; choose one of {', '.join(GRAPH_KINDS)}")
    if graph == "frame":
        if io != "uint8":
            raise ValueError("the frame graph takes and returns uint8 frames: use --io uint8, or --graph network for float32 I/O")
        return FrameGraph.for_card(net, card, torch.float16 if fp16 else torch.float32)
    return DeployGraph(net, card, io, fp16)


def _require(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"ONNX export needs the '{module}' package: pip install 'nircolor[{extra}]'") from None


def frame_level_nodes(proto) -> list[str]:
    """Names of the nodes the frame graph itself adds around the network (working-size resize,
    padding, the guided filter's box filters and variance, the uint8 conversion), read from the
    name scopes the exporter records on each node: the network's nodes are under `net`.

    These are what a TensorRT FP16 build keeps in FP32: the guided filter's variance is
    E[I^2] - E[I]^2 of 8-bit intensities, which half precision cancels away. (The network's own
    batch norms are folded into its convolutions by the export, so no normalisation layer is
    left to pin.)"""
    names = []
    for node in proto.graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        scopes = props.get("pkg.torch.onnx.name_scopes")
        if scopes is None:
            continue
        try:
            path = ast.literal_eval(scopes)
        except (ValueError, SyntaxError):
            continue
        if len(path) < 2 or path[1] != "net":
            names.append(node.name)
    return names


def metadata(card: checkpoint.ModelCard, source: Path, io: str, precision: str, graph: str = "network",
             fp32_nodes: list[str] | None = None) -> dict[str, str]:
    """The key/value pairs written to `metadata_props` (values are strings; JSON for nested)."""
    frame = {
        "min_side": str(frame_min_side(card.pad_multiple)), "max_side": str(MAX_SIDE),
        "working_size_resize": "bilinear, antialiased (ONNX Resize antialias=1, half_pixel)",
        "guided_upsampling": json.dumps({"radius": FrameGraph.radius_default, "eps": FrameGraph.eps_default}),
        "fp32_nodes": json.dumps(fp32_nodes or []),
    } if graph == "frame" else {}
    return {
        "graph": graph,
        **frame,
        "nircolor.format": ONNX_FORMAT,
        "nircolor.version": __version__,
        "architecture": card.architecture,
        "options": json.dumps(card.options),
        "pad_multiple": str(card.pad_multiple),
        "infer_size": str(card.infer_size or 0),
        "input_range": json.dumps(list(card.input_range)),
        "output_range": json.dumps(list(card.output_range)),
        "io": io,
        "precision": precision,
        "input_layout": "NCHW",
        "output_layout": "NHWC" if io == "uint8" else "NCHW",
        "provenance": json.dumps(card.provenance),
        "source_checkpoint": source.name,
        "source_sha256": checkpoint.file_sha256(source),
    }


def _name_dims(model, multiple: int | None) -> None:
    """Give the dynamic axes readable names (the exporter writes e.g. '16*s0')."""
    names = {0: "batch", 2: "height", 3: "width"}
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        layout = [0, 2, 3] if len(dims) == 4 and dims[1].dim_value in (1, 3) else [0, 1, 2]
        for axis, name in zip(layout, names.values()):
            if dims[axis].dim_param:
                plain = axis == 0 or name == "batch" or multiple is None
                dims[axis].dim_param = name if plain else f"{name} (multiple of {multiple})"


def export_onnx(
    model: str | Path,
    out: str | Path,
    io: str = "uint8",
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    simplify: bool = True,
    graph: str | None = None,
    weights_fp16: bool = False,
) -> Path:
    """Export a checkpoint (path or zoo name) to ONNX and check it. Returns the written path.
    `graph`: frame or network (default: frame for uint8 I/O, see the module's docstring);
    `weights_fp16`: store FP32 weights as float16 (store_weights_fp16), for files that ship."""
    onnx = _require("onnx", "train")
    _require("onnxscript", "train")
    if opset < 17:
        raise ValueError(f"opset {opset} is too old; nircolor exports opset 17 or newer")
    source = zoo.resolve(model)
    net, card = checkpoint.load(source)
    graph = graph or default_graph(io)
    module = deploy_module(net, card, io, fp16, graph).eval()
    m = card.pad_multiple
    k = max(8, -(-64 // m))  # a multiple of the padding at least 64 pixels: above any graph's smallest side
    example = torch.zeros(1, 1, k * m, (k + 2) * m, dtype=torch.uint8 if io == "uint8" else torch.float32)
    dim = torch.export.Dim
    if graph == "frame":
        sides = {2: dim("height", min=module.min_side, max=MAX_SIDE), 3: dim("width", min=module.min_side, max=MAX_SIDE)}
    else:
        sides = {2: m * dim("hb", min=1, max=MAX_SIDE // m), 3: m * dim("wb", min=1, max=MAX_SIDE // m)}
    shapes = ({0: dim("batch", min=1, max=256), **sides},)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, (example,), dynamo=True, opset_version=opset, input_names=["nir"], output_names=["rgb"],
            dynamic_shapes=shapes, external_data=False, verbose=False,
        )
    proto = program.model_proto
    frame_nodes = frame_level_nodes(proto) if graph == "frame" else []
    if simplify:
        proto = _simplify(proto)
    kept = {n.name for n in proto.graph.node}
    frame_nodes = [n for n in frame_nodes if n in kept]
    if weights_fp16 and not fp16:
        store_weights_fp16(proto)
    _name_dims(proto, None if graph == "frame" else m)
    del proto.metadata_props[:]
    for key, value in metadata(card, source, io, "fp16" if fp16 else "fp32", graph, frame_nodes).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    with files.atomic_path(out) as temporary:
        onnx.save(proto, str(temporary))
    return out


COMPACT_MIN_ELEMENTS = 1024  # smaller tensors (biases, scales) stay float32: they weigh nothing


def store_weights_fp16(proto) -> int:
    """Store each large float32 weight as float16 followed by a Cast back to float32: the file
    halves, the graph still computes in float32, and ONNX Runtime folds the Casts once when it
    loads the session (constant folding), so inference costs what it did. For shipped files,
    whose parity with PyTorch is checked after. Returns the number of weights converted."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts, kept, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < COMPACT_MIN_ELEMENTS:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}.fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], name=f"{init.name}.to_fp32", to=TensorProto.FLOAT))
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # first, so the graph stays topologically sorted
    return converted


def _simplify(proto):
    """Fold constants and fuse what a maintained simplifier can (onnxslim)."""
    try:
        import onnxslim
    except ImportError:
        return proto
    return onnxslim.slim(proto)
