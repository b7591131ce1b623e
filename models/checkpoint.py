"""Checkpoint files: a generator's weights plus everything needed to use it without being told.

A checkpoint carries the architecture and its options, the input and output value ranges, the
padding multiple and the training provenance, so export and runtime read them from the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nircolor import files

from .networks import create
from .zoo import file_sha256  # noqa: F401  (re-exported: checkpoint.file_sha256)

FORMAT = "nircolor-checkpoint/1"
INPUT_RANGE = (0.0, 1.0)  # NIR uint8 / 255
OUTPUT_RANGE = (-1.0, 1.0)  # tanh; RGB = (y + 1) * 127.5


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


@dataclass
class ModelCard:
    """What a checkpoint says about itself besides its weights."""

    architecture: str
    options: dict[str, Any]
    pad_multiple: int
    # The model was trained on scenes with this long side in pixels: larger frames are run at
    # that size and restored to full resolution by NIR-guided upsampling (None: any size as is).
    infer_size: int | None = None
    input_range: tuple[float, float] = INPUT_RANGE
    output_range: tuple[float, float] = OUTPUT_RANGE
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "architecture": self.architecture,
            "options": dict(self.options),
            "pad_multiple": self.pad_multiple,
            "infer_size": self.infer_size,
            "input_range": list(self.input_range),
            "output_range": list(self.output_range),
            "provenance": self.provenance,
            "metrics": self.metrics,
        }


def save(path: str | Path, model: nn.Module, card: ModelCard, half: bool = False) -> Path:
    """Write weights and card; `half` stores weights as float16 to halve the file (they are
    cast back to float32 on load)."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    with files.atomic_path(path) as temporary:
        torch.save({**card.to_dict(), "state_dict": state}, temporary)
    return Path(path)


def read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a .pt file written by 'nircolor train' or a zoo name")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (not a torch.save archive); pass a .pt file written by 'nircolor train'")
    try:
        # TorchVersion is a str subclass that older runs stored in their provenance.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {reason}); re-download or retrain it") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nircolor checkpoint (no '{FORMAT}' header); use a file written by 'nircolor train'")
    return blob


def card_of(blob: dict[str, Any]) -> ModelCard:
    return ModelCard(
        architecture=blob["architecture"],
        options=blob["options"],
        pad_multiple=blob["pad_multiple"],
        infer_size=blob.get("infer_size"),
        input_range=tuple(blob["input_range"]),
        output_range=tuple(blob["output_range"]),
        provenance=blob.get("provenance", {}),
        metrics=blob.get("metrics", {}),
    )


def _fitted(card: ModelCard, blob: dict[str, Any]) -> nn.Module:
    """The card's network holding the blob's weights as float32; RuntimeError if they do not fit."""
    model = create(card.architecture, **card.options)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    return model


def parse_option_pairs(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs with JSON values (true, 3, "text") -> {KEY: value}."""
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"the value of {key} must be JSON (true, 3, \"text\"), got {value!r}") from None
    return changes


def with_options(source: str | Path, target: str | Path, **changes: Any) -> Path:
    """Copy a checkpoint with some architecture options changed (ones that add no weights, such
    as effnet_unet's flip_average), after checking the weights still fit; the provenance notes
    the change. `target` may be `source`: it is replaced whole or not at all."""
    blob = read(source)
    card = card_of(blob)
    card.options = {**card.options, **changes}
    card.provenance = {**card.provenance, "options_changed": {**card.provenance.get("options_changed", {}), **changes}}
    try:
        _fitted(card, blob)
    except RuntimeError as exc:
        raise CheckpointError(f"options {changes} change the weights {card.architecture!r} needs ({str(exc).splitlines()[0]}); "
                              "retrain with them instead") from None
    with files.atomic_path(target) as temporary:
        torch.save({**blob, **card.to_dict()}, temporary)
    return Path(target)


def load(path: str | Path, expect_architecture: str | None = None) -> tuple[nn.Module, ModelCard]:
    """Build the checkpoint's network in eval mode. With `expect_architecture`, a checkpoint of
    another architecture is refused."""
    blob = read(path)
    card = card_of(blob)
    if expect_architecture is not None and card.architecture != expect_architecture:
        raise CheckpointError(
            f"{path} holds a {card.architecture!r} network, not {expect_architecture!r}; "
            f"pass --arch {card.architecture} or a {expect_architecture} checkpoint"
        )
    try:
        model = _fitted(card, blob)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"{path}: weights do not fit architecture {card.architecture!r} with options {card.options} ({first}); "
            "the file is damaged or was written by an incompatible version"
        ) from None
    return model.eval(), card


def average(paths: list[str | Path]) -> tuple[nn.Module, ModelCard]:
    """The mean of several checkpoints' weights (a "model soup", Wortsman et al. 2022): runs of one
    recipe that share their initialisation (one --seed, different --data-seed) and differ in their
    data order. Batch-norm running statistics are averaged too. Returns the network and the first
    card with the members in its provenance; CheckpointError if the networks differ."""
    if len(paths) < 2:
        raise CheckpointError(f"averaging needs at least two checkpoints, got {len(paths)}")
    blobs = [read(p) for p in paths]
    cards = [card_of(b) for b in blobs]
    for path, card in zip(paths[1:], cards[1:]):
        if (card.architecture, card.options, card.infer_size) != (cards[0].architecture, cards[0].options, cards[0].infer_size):
            raise CheckpointError(f"{path} is a {card.architecture} {card.options} at {card.infer_size} px, {paths[0]} a "
                                  f"{cards[0].architecture} {cards[0].options} at {cards[0].infer_size} px: only runs of one recipe average")
    states = [b["state_dict"] for b in blobs]
    mean = {k: (sum(s[k].double() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[0].items()}
    card = cards[0]
    card.provenance = {**card.provenance, "average_of": [str(p) for p in paths]}
    model = _fitted(card, {"state_dict": mean})
    return model.eval(), card
