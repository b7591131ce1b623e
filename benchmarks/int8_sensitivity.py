"""How much each layer of a shipped frame graph loses when it alone is quantized to INT8.

ONNX Runtime's static QDQ quantization (onnxruntime.quantization.quantize_static: per-channel
INT8 weights, UINT8 activations with MinMax calibration on real frames, 7-bit weights as ORT
advises for x86 without VNNI), one convolution at a time, scored as the worst PSNR against the
FP32 graph on real frames. The layers at the top of the list are the ones an INT8 export has to
keep in float, equalise or fine-tune.

    python benchmarks/int8_sensitivity.py effnet32    # writes benchmarks/results/int8-sensitivity-effnet32.{json,md}
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from nircolor.models import zoo
from nircolor.models.pairs import find_pairs, read_nir

from harness import DATA, RESULTS, write_markdown, write_report

SIZE = (384, 255)  # frames at the default's working size: the graph would downscale them to it anyway


class Frames(CalibrationDataReader):
    def __init__(self, frames):
        self.it = iter([{"nir": f[None, None]} for f in frames])

    def get_next(self):
        return next(self.it, None)


def main(name: str) -> None:
    src = zoo.shipped_onnx(name)
    if src is None:
        raise SystemExit(f"{name} ships no checked ONNX file; run python scripts/ship_onnx.py {name}")
    pairs = find_pairs(DATA)
    calibration = [cv2.resize(read_nir(p.nir), SIZE, interpolation=cv2.INTER_AREA) for p in pairs[::30]]
    test = [cv2.resize(read_nir(p.nir), SIZE, interpolation=cv2.INTER_AREA) for p in pairs[7::45]]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    fp32 = ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    reference = [fp32.run(None, {"nir": f[None, None]})[0].astype(float) for f in test]
    convs = [n.name for n in onnx.load(str(src)).graph.node if n.op_type in ("Conv", "ConvTranspose")]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "one.onnx"
        for index, conv in enumerate(convs):
            quantize_static(str(src), str(out), Frames(calibration), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, per_channel=True, reduce_range=True, nodes_to_quantize=[conv],
                            calibrate_method=CalibrationMethod.MinMax)
            session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
            worst = min(10 * np.log10(255**2 / max(1e-9, np.mean((r - session.run(None, {"nir": f[None, None]})[0].astype(float)) ** 2)))
                        for r, f in zip(reference, test))
            rows.append({"index": index, "node": conv, "worst_psnr_db": float(worst)})
    rows.sort(key=lambda r: r["worst_psnr_db"])
    write_report(RESULTS / f"int8-sensitivity-{name}.json", {"model": name, "layers": len(convs), "rows": rows})
    md = [f"# INT8 sensitivity per layer: {name}", "", f"`python benchmarks/int8_sensitivity.py {name}`: each of the {len(convs)} "
          f"convolutions quantized alone; worst PSNR against FP32 on {len(test)} real frames at {SIZE[0]}x{SIZE[1]}.", "",
          "| layer (order in the graph) | node | worst PSNR dB |", "| --- | --- | --- |"]
    md += [f"| {r['index']} | {r['node']} | {r['worst_psnr_db']:.1f} |" for r in rows[:15]]
    write_markdown(RESULTS / f"int8-sensitivity-{name}.md", md)
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "effnet32")
