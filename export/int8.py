"""INT8: static QDQ quantization of a checked FP32 frame graph (onnxruntime.quantization),
calibrated on real NIR frames, compared with the FP32 graph before it is written.

Two flavours of the same QDQ graph, because the two consumers want different integers:
- `cpu` (ONNX Runtime on x86 and ARM CPUs): uint8 activations with a zero point, int8 weights
  per output channel held to 7 bits, as ONNX Runtime advises for CPUs without VNNI (8-bit
  weights can saturate the u8 x s8 multiply-add of AVX2).
- `tensorrt` (explicit quantization, `nircolor build --int8`): TensorRT takes only symmetric
  int8 activations and weights (zero point 0); weights held to 7 bits as well, so the check on
  this machine's CPU judges the graph, not the CPU kernel's saturation.

A bare network graph (`--graph network`) is quantized the same way, calibrated at its working
size. What stays float: the frame-level nodes the export names in `fp32_nodes` (the working-size
resize, padding, the guided filter's box filters and variances, the uint8 conversion): a
variance from 8-bit means is mostly rounding error; and the network's first convolutions
(FLOAT_FIRST_CONVS). The rest of the network is quantized, and its colour leaves it in float.

Calibration: activation ranges at the 99.99th percentile of what real frames produce (MinMax
let single outlier pixels set the step: 26.7 dB median parity on effnet32 against 27.8 for the
percentile; benchmarks/int8_quality.py measures what either costs in colour).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from nircolor import files

from . import check
from .metadata import read_metadata

TARGETS = ("cpu", "tensorrt")
CALIBRATION_METHODS = ("percentile", "minmax", "entropy")
# Parity of the INT8 graph against its FP32 source on real frames: a sanity floor that refuses a
# broken quantization (a layer whose range collapsed gives 10-18 dB), not the quality claim, which
# is measured against ground truth (benchmarks/int8_quality.py).
INT8_MIN_PSNR = 20.0
# The network's first convolutions stay float: they see the NIR's own contrast, and a hazy,
# low-contrast scene (water, distant mountains) gives them activations a few uint8 steps wide,
# with steps set by the calibration's high-contrast frames; quantized, such scenes came out 2-5 dB
# worse than FP32 on held-out scenes. Measured in benchmarks/int8_quality.py (--float-first).
FLOAT_FIRST_CONVS = 3
# Calibration frames are brought to one size (the calibrator stacks each tensor over frames):
# the middle of each frame at 4:3, resized to a common camera size. The graph takes them to the
# working size itself, as it does a camera's frames.
CALIBRATION_SIZE = (640, 480)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts")


class CalibrationError(ValueError):
    """No usable calibration frames; the message says where they were looked for."""


def calibration_frames(source: str | Path | None = None, limit: int = 32) -> list[np.ndarray]:
    """Up to `limit` real NIR frames (HxW uint8), evenly spread over `source`: a folder of
    NIR/RGB pairs (its NIR images), a folder of images, or a video file. Default: the sample
    pairs shipped with nircolor."""
    import cv2

    from nircolor.models import zoo
    from nircolor.models.pairs import find_pairs, read_nir

    path = Path(source) if source is not None else zoo.SAMPLES_DIR
    if not path.exists():
        raise CalibrationError(f"calibration source {path} does not exist; pass a folder of NIR images or pairs, or a video")
    if path.is_dir():
        images = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        # A folder of pairs gives its NIR images; any other folder, every image in it.
        files = [p.nir for p in find_pairs(path)] if any("_nir." in f.name for f in images) else images
        files = _spread(files, limit)
        frames = [read_nir(f) for f in files]
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        frames = _spread(list(_video_frames(path)), limit)
    else:
        raise CalibrationError(f"calibration source {path} is neither a folder nor a video ({', '.join(VIDEO_SUFFIXES)})")
    frames = [f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames if f is not None]
    if not frames:
        raise CalibrationError(f"no NIR frames found in {path}; calibration needs real frames of the kind the model will see")
    return frames


def calibration_size(meta: dict) -> tuple[int, int]:
    """A frame graph takes camera frames (it scales them itself); a bare network takes frames at
    its working size, a multiple of its padding."""
    if meta["graph"] == "frame" or not meta.get("infer_size"):
        return CALIBRATION_SIZE
    m, scale = meta["pad_multiple"], meta["infer_size"] / max(CALIBRATION_SIZE)
    return tuple(max(m, round(side * scale / m) * m) for side in CALIBRATION_SIZE)  # type: ignore[return-value]


def to_calibration_size(frame: np.ndarray, size: tuple[int, int] = CALIBRATION_SIZE) -> np.ndarray:
    """The largest centred crop of `frame` with the aspect of `size`, resized to `size` (w, h)."""
    import cv2

    h, w = frame.shape
    crop_w, crop_h = min(w, round(h * size[0] / size[1])), min(h, round(w * size[1] / size[0]))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return np.ascontiguousarray(cv2.resize(frame[top:top + crop_h, left:left + crop_w], size, interpolation=cv2.INTER_AREA))


def _spread(items: list, limit: int) -> list:
    if len(items) <= limit:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, limit)]


def _video_frames(path: Path) -> Iterable[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    finally:
        capture.release()


def float_first(model, frame_nodes: Iterable[str], convs: int = FLOAT_FIRST_CONVS) -> list[str]:
    """Names of the network's nodes up to its `convs`-th convolution, that one included (ONNX keeps
    nodes in topological order, so this is everything the first convolutions read, padding and
    normalisation included); the frame-level `frame_nodes` are not the network's."""
    frame_nodes = set(frame_nodes)
    nodes = list(model.graph.node)
    network_convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv" and n.name not in frame_nodes]
    if convs <= 0 or not network_convs:
        return []
    end = network_convs[min(convs, len(network_convs)) - 1]
    return [n.name for n in nodes[:end + 1] if n.name and n.name not in frame_nodes]


def read_float(proto, names: set[str], source) -> None:
    """Make the nodes `names` read float tensors. The quantizer gives a float node a Quantize ->
    Dequantize copy of an input that a quantized node reads too, and a dequantized copy of a
    constant they share: such inputs are rewired to the tensor itself (the constant from the FP32
    graph `source`); pairs and constants nobody reads any more are dropped."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    constants = {t.name for t in proto.graph.initializer}
    originals = {f"{t.name}_quantized": t for t in source.graph.initializer}
    for node in proto.graph.node:
        if node.name not in names:
            continue
        for k, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[k] = q.input[0]
            elif dq.input[0] in originals:
                original = originals[dq.input[0]]
                if original.name not in constants:
                    proto.graph.initializer.append(original)
                    constants.add(original.name)
                node.input[k] = original.name
    while True:
        read = {i for n in proto.graph.node for i in n.input} | {o.name for o in proto.graph.output}
        unread = [n for n in proto.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not set(n.output) & read]
        if not unread:
            break
        for n in unread:
            proto.graph.node.remove(n)
    for t in [t for t in proto.graph.initializer if t.name not in read]:
        proto.graph.initializer.remove(t)


def quantize(fp32_path: str | Path, out: str | Path, frames: Sequence[np.ndarray], target: str = "cpu",
             method: str = "percentile", check_frames: Sequence[np.ndarray] | None = None,
             float_first_convs: int | None = None) -> check.ParityReport:
    """Quantize the FP32 frame graph at `fp32_path` to `out`, calibrated on `frames` (HxW uint8),
    and compare it with the FP32 graph on `check_frames` (default: the calibration frames and a
    1920x1080 one). The network's first `float_first_convs` convolutions (default
    FLOAT_FIRST_CONVS) stay float. Below
    INT8_MIN_PSNR nothing is written. The file appears only once checked."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    if target not in TARGETS:
        raise ValueError(f"INT8 target must be one of {', '.join(TARGETS)}, got {target!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    meta = read_metadata(fp32_path)
    if meta["precision"] != "fp32" or meta["io"] != "uint8":
        raise ValueError(f"{fp32_path} is a {meta['precision']} graph with {meta['io']} I/O; INT8 quantizes an FP32 graph with "
                         "uint8 I/O (the default export)")
    if not frames:
        raise CalibrationError("no calibration frames given")
    size = calibration_size(meta)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"nir": to_calibration_size(f, size)[None, None]} for f in frames])

        def get_next(self):
            return next(self.batches, None)

    cpu = target == "cpu"
    if float_first_convs is None:
        float_first_convs = FLOAT_FIRST_CONVS
    source = onnx.load(str(fp32_path))
    first = float_first(source, meta.get("fp32_nodes", []), float_first_convs)
    out = Path(out)
    with files.atomic_path(out) as temporary:
        quantize_static(
            str(fp32_path), str(temporary), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            # 7-bit weights for both: the CPU's u8 x s8 multiply-add saturates with 8-bit ones, and the
            # parity check below runs on the CPU, so a TensorRT-flavoured graph with 8-bit weights
            # would be judged by that saturation (12 dB worst frame on effnet32 against 27.6 with 7 bits).
            activation_type=QuantType.QUInt8 if cpu else QuantType.QInt8, weight_type=QuantType.QInt8, reduce_range=True,
            nodes_to_exclude=list(meta.get("fp32_nodes", [])) + first,
            calibrate_method={"percentile": CalibrationMethod.Percentile, "minmax": CalibrationMethod.MinMax,
                              "entropy": CalibrationMethod.Entropy}[method],
            extra_options={"CalibPercentile": 99.99, "ActivationSymmetric": not cpu, "WeightSymmetric": True,
                           # Each reader its own Quantize/Dequantize pair, so that read_float can give the
                           # float nodes theirs back without touching the quantized readers'.
                           "DedicatedQDQPair": True})
        proto = onnx.load(str(temporary))
        read_float(proto, set(first) | set(meta.get("fp32_nodes", [])), source)
        props = {p.key: p.value for p in proto.metadata_props}
        props.update({"precision": "int8", "int8_target": target, "int8_calibration": f"{method}, {len(frames)} real frames",
                      "int8_float_first_convs": str(float_first_convs)})
        del proto.metadata_props[:]
        for key, value in props.items():
            if key != "onnx.infer":
                proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(temporary))
        nirs = list(check_frames) if check_frames is not None else list(frames)[:4]
        if meta["graph"] == "frame":
            samples = check.frame_samples(nirs)
        else:  # the bare network sees frames at its working size, padded to its multiple
            samples = [to_calibration_size(f, size)[None, None] for f in nirs]
        report = check.compare(check.onnx_runner(fp32_path), check.onnx_runner(temporary), samples, ("ONNX FP32", f"ONNX INT8 ({target})"))
        if not report.passed(INT8_MIN_PSNR):
            raise check.ParityError(f"refused {out}: {report} (needs at least {INT8_MIN_PSNR:.0f} dB and no NaN/Inf); "
                                    "calibrate on more frames of the kind the model will see (--calibration)")
    return report
