"""Store shipped checkpoints' weights as float16 where the picture stays the same, halving the
files so the working tree travels to a GPU machine (64 MiB carried in all).

    python scripts/slim_weights.py            # every shipped model still stored as float32
    python scripts/ship_onnx.py               # then re-export the ONNX files (their source changed)

Each checkpoint is run by PyTorch before and after on real frames (the shipped samples and one
at 1920x1080, through the frame graph) and replaced only when the float16-stored weights give at
least FP32_MIN_PSNR, the floor an FP32 ONNX export must reach against PyTorch; the new file is
written beside the old one and renamed over it, so an interrupted run leaves either file whole.
"""

from __future__ import annotations

import sys

import torch

from nircolor import files
from nircolor.export import check
from nircolor.models import checkpoint, zoo


def stored_as_fp32(path) -> bool:
    return any(v.dtype == torch.float32 for v in checkpoint.read(path)["state_dict"].values())


class _Kept(Exception):
    """The float16 weights changed the picture: the float32 file stays."""


def slim(name: str) -> str:
    entry = zoo.ZOO[name]
    if not stored_as_fp32(entry.path):
        return f"{name}: already float16"
    net, card = checkpoint.load(entry.path)
    try:
        with files.atomic_path(entry.path) as temporary:  # replaces the weights only if the check below passes
            checkpoint.save(temporary, net, card, half=True)
            frames = check.frame_samples(check.sample_frames())
            before, _ = check.torch_runner(entry.path, graph="frame")
            after, _ = check.torch_runner(temporary, graph="frame")
            report = check.compare(before, after, frames, ("float32 weights", "float16 weights"))
            if not report.passed(check.FP32_MIN_PSNR):
                raise _Kept(f"{name}: kept float32 ({report}; needs {check.FP32_MIN_PSNR:.0f} dB)")
            size = (entry.path.stat().st_size, temporary.stat().st_size)
    except _Kept as kept:
        return str(kept)
    return f"{name}: {size[0] / 2**20:.1f} -> {size[1] / 2**20:.1f} MiB; {report}"


def main(names: list[str]) -> None:
    for name in names or list(zoo.ZOO):
        print(slim(name), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
