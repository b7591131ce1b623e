"""PyTorch backend: a checkpoint on the CPU or a CUDA GPU (FP16 on CUDA if asked)."""

from __future__ import annotations

import numpy as np
import torch

from nircolor.models import checkpoint, zoo
from nircolor.models.frame_graph import FrameGraph
from nircolor.runtime import frames_torch

from .base import BackendError, ModelInfo, Runner


class TorchRunner(Runner):
    name = "torch"

    def __init__(self, model: str, device: str = "auto", fp16: bool = False, threads: int | None = None, whole_frames: bool = True):
        super().__init__()
        self.model, self.device_name, self.fp16, self.threads, self.whole_frames = model, device, fp16, threads, whole_frames

    def _load_impl(self) -> ModelInfo:
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device_name == "auto" else self.device_name
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError("--device cuda asked for, but this torch sees no CUDA GPU; use --device cpu")
        if self.fp16 and not device.startswith("cuda"):
            raise BackendError("FP16 with PyTorch needs a CUDA GPU; drop --fp16 or use --device cuda")
        if self.threads:
            torch.set_num_threads(self.threads)
        path = zoo.resolve(self.model)
        net, card = checkpoint.load(path)
        self.ranges = card.input_range, card.output_range
        self.net = net.to(device).to(torch.float16 if self.fp16 else torch.float32)
        self.device = torch.device(device)
        # The same module the ONNX export writes, so PyTorch shows what the exported file shows.
        self.frame = FrameGraph.for_card(self.net, card, self.net_dtype).eval() if self.whole_frames else None
        return ModelInfo(path.stem, card.architecture, card.pad_multiple, "fp16" if self.fp16 else "fp32", device, {"options": card.options},
                         card.infer_size, whole_frames=self.whole_frames)

    @property
    def net_dtype(self) -> torch.dtype:
        return torch.float16 if self.fp16 else torch.float32

    @torch.inference_mode()
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device, non_blocking=True)
        if self.frame is not None:
            return self.frame(x).contiguous().cpu().numpy()
        y = self.net(frames_torch.nir_to_network(x, self.ranges[0], self.net_dtype))
        # Rounding and the transpose happen on the device: the host receives uint8 HxWx3.
        return frames_torch.network_to_rgb(y, self.ranges[1]).contiguous().cpu().numpy()

    def _close_impl(self) -> None:
        del self.net
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
