"""Compare two runners of one model on real frames: PSNR in 8-bit RGB units (peak 255, no
rounding of float outputs), worst frame and mean, largest difference, NaN/Inf count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nircolor.models import zoo
from nircolor.models.pairs import find_pairs, read_nir
from nircolor.runtime import frames

# Floors from the export issue: ONNX FP32 vs PyTorch, FP16 vs FP32.
FP32_MIN_PSNR = 50.0
FP16_MIN_PSNR = 40.0

Runner = Callable[[np.ndarray], np.ndarray]  # N x 1 x H x W uint8 -> N x H x W x 3 float in [0, 255]


class ParityError(RuntimeError):
    pass


@dataclass
class ParityReport:
    reference: str
    candidate: str
    frames: int
    psnr_min: float
    psnr_mean: float
    max_abs: float
    non_finite: int

    def passed(self, min_psnr: float) -> bool:
        return self.non_finite == 0 and self.psnr_min >= min_psnr

    def __str__(self) -> str:
        return (f"{self.candidate} vs {self.reference} on {self.frames} frames: PSNR min {self.psnr_min:.1f} dB, "
                f"mean {self.psnr_mean:.1f} dB, max |diff| {self.max_abs:.3f} of 255, NaN/Inf {self.non_finite}")


def pad_frames(nirs: Sequence[np.ndarray], multiple: int) -> list[np.ndarray]:
    """Each HxW uint8 frame reflect-padded to the multiple, as 1 x 1 x H' x W'."""
    return [frames.pad_batch([nir], multiple)[0] for nir in nirs]


def sample_frames(folder: str | Path | None = None, limit: int = 4) -> list[np.ndarray]:
    """Real NIR frames for checks: the shipped sample pairs unless a folder is given."""
    pairs = find_pairs(folder if folder is not None else zoo.SAMPLES_DIR)[:limit]
    return [read_nir(p.nir) for p in pairs]


def frame_samples(nirs: Sequence[np.ndarray], full_hd: bool = True) -> list[np.ndarray]:
    """Frames for a frame graph, as 1 x 1 x H x W at their own sizes (no padding: the graph pads),
    plus the first one at 1920x1080, so the working-size downscale and the guided upsampling run."""
    import cv2

    frames = [nir[None, None] for nir in nirs]
    if full_hd and nirs:
        frames.append(cv2.resize(nirs[0], (1920, 1080), interpolation=cv2.INTER_CUBIC)[None, None])
    return frames


def torch_runner(model: str | Path, device: str = "cpu", graph: str = "network"):
    """PyTorch as the reference: the bare network (float output in [0, 255], no rounding), or the
    frame graph, which rounds to uint8 itself as the exported one does. Returns (runner, card).
    PyTorch is imported here only: an engine build's guard compares with ONNX Runtime instead."""
    import torch

    from nircolor.models import checkpoint
    from nircolor.models.frame_graph import FrameGraph
    from nircolor.runtime import frames_torch

    net, card = checkpoint.load(zoo.resolve(model))
    net.to(device)
    frame = FrameGraph.for_card(net, card).eval() if graph == "frame" else None

    @torch.inference_mode()
    def run(nir: np.ndarray) -> np.ndarray:
        if frame is not None:
            return frame(torch.from_numpy(nir).to(device)).cpu().numpy().astype(np.float32)
        y = net(frames_torch.nir_to_network(torch.from_numpy(nir).to(device), card.input_range))
        return frames_torch.network_to_rgb_float(y, card.output_range).cpu().numpy()

    return run, card


def onnx_runner(path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> Runner:
    import onnxruntime as ort

    from .metadata import read_metadata

    meta = read_metadata(path)
    session = ort.InferenceSession(str(path), providers=list(providers))

    def run(nir: np.ndarray) -> np.ndarray:
        if meta["io"] == "uint8":
            return session.run(None, {"nir": nir})[0].astype(np.float32)
        y = session.run(None, {"nir": frames.nir_to_network(nir, meta["input_range"])})[0]
        return frames.network_to_rgb_float(y, meta["output_range"])

    return run


def compare(reference: Runner, candidate: Runner, frames: Sequence[np.ndarray], names: tuple[str, str]) -> ParityReport:
    psnrs, max_abs, non_finite = [], 0.0, 0
    for frame in frames:
        ref, got = reference(frame).astype(np.float64), candidate(frame).astype(np.float64)
        if ref.shape != got.shape:
            raise ParityError(f"{names[1]} returned shape {got.shape} where {names[0]} returned {ref.shape}")
        bad = ~np.isfinite(got)
        non_finite += int(bad.sum())
        diff = np.abs(np.where(bad, 0.0, got) - ref)
        max_abs = max(max_abs, float(diff.max()))
        mse = float(np.mean(diff**2))
        psnrs.append(float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse))
    return ParityReport(names[0], names[1], len(frames), min(psnrs), float(np.mean(psnrs)), max_abs, non_finite)
