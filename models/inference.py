"""Single-image inference with a PyTorch generator: uint8 NIR in, uint8 RGB out."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data import nir_to_tensor, tensor_to_rgb
from .frame_graph import FrameGraph
from .upsample import GuidedUpsampling


@torch.inference_mode()
def colorize(model: nn.Module, nir: np.ndarray, device: str | torch.device = "cpu", infer_scale: float = 1.0,
             infer_size: int | None = None) -> np.ndarray:
    """HxW uint8 NIR -> HxWx3 uint8 RGB at the same size (the network pads and crops).

    With `infer_size` (the model's working size), exactly what `nircolor run` and an exported
    frame graph show: the frame graph of models/frame_graph.py. With `infer_scale` < 1 the
    network sees the frame at that fixed fraction of its size and full resolution is restored by
    the host's NIR-guided upsampling, as `nircolor run --infer-scale` does."""
    if nir.ndim != 2 or nir.dtype != np.uint8:
        raise ValueError(f"colorize needs an HxW uint8 NIR image, got shape {nir.shape} and type {nir.dtype}")
    if infer_size is not None:
        graph = FrameGraph(model, model.multiple, infer_size)  # the card's default ranges: a training-time network
        return graph(torch.from_numpy(nir)[None, None].to(device))[0].cpu().numpy()
    if infer_scale == 1.0:
        return tensor_to_rgb(model(nir_to_tensor(nir).to(device)))
    up = GuidedUpsampling(infer_scale)
    nir_small = up.downscale(nir)
    return up.restore(tensor_to_rgb(model(nir_to_tensor(nir_small).to(device))), nir, nir_small)
