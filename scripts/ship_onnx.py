"""Write the checked uint8 frame graph of each shipped model beside its checkpoint
(models/weights/<name>.onnx), so that `nircolor run`, `transcode` and `bench` with ONNX Runtime or
TensorRT need no PyTorch. Run it whenever a shipped checkpoint changes; a test fails while an ONNX
file does not match its checkpoint.

    python scripts/ship_onnx.py            # every shipped model

Each file goes through `nircolor export`'s parity check (PyTorch against ONNX Runtime on real
frames, one of them at 1920x1080) before it is renamed into place. Weights are stored as float16
and cast to float32 inside the graph (export.onnx.store_weights_fp16): the file halves, ONNX
Runtime folds the casts when it loads it, and the graph still computes in FP32.
"""

from __future__ import annotations

import sys

from nircolor.export.pipeline import export_checked
from nircolor.models import zoo

MAX_MIB = 20


def main(names: list[str]) -> None:
    for name in names or list(zoo.ZOO):
        entry = zoo.ZOO[name]
        result = export_checked(entry.path, entry.onnx, weights_fp16=True)
        size = entry.onnx.stat().st_size / 2**20
        if size > MAX_MIB:
            entry.onnx.unlink()
            raise SystemExit(f"{entry.onnx} is {size:.1f} MiB, over the {MAX_MIB} MiB a shipped file may weigh; not shipped")
        print(f"{entry.onnx}: {size:.1f} MiB; " + "; ".join(str(r) for r in result.parity))


if __name__ == "__main__":
    main(sys.argv[1:])
