"""`nircolor train`: fit a generator on paired NIR/RGB folders.

A run folder holds: config.json (the resolved configuration), val_split.txt, metrics.jsonl (one
line per validation), last.pt (full training state, for --resume) and best.pt (the generator
checkpoint with the best validation PSNR, ready for eval/export).
"""

from __future__ import annotations

import collections
import json
import math
import platform
import random
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from nircolor import files

from . import checkpoint
from .augment import NightCamera
from .data import RandomCrops, default_val_keys, find_pairs, load_extra_pairs, load_pairs, read_split, scene_closure, split_pairs
from .inference import colorize
from .losses import L1Objective, NoiseConsistency, SNetObjective, TwoBranchObjective, discriminator_loss, generator_adversarial
from .metrics import all_metrics, mean_metrics
from .networks import create
from .networks.registry import LOSS_NETWORKS, trains_channels_last

BN_REFRESH_BATCHES = 16  # recent training batches the averaged weights' BN statistics are measured on
OBJECTIVES = ("snet", "l1", "l2", "psnr", "l1+adv", "estuary", "triplet", "two_branch")
# The adversarial objectives and the discriminator (models.networks LOSS_NETWORKS) each uses.
DISCRIMINATORS = {"l1+adv": "patchgan", "estuary": "single_layer", "triplet": "dcgan"}
# Each paper's training settings, used where the command line does not set them.
OBJECTIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Limmer & Lensch: Adam at 1e-3, L_G = 0.01 L_adv + 0.99 L1, one-layer conditional D.
    "estuary": {"lr": 1e-3, "adv_lambda": 0.99},
    # Suarez et al.: lr 2e-4, beta1 0.4 (G) and 0.5 (D), weight decay 1e-5, an L1 weight
    # regulariser, 64x64 patches, and a purely adversarial generator loss.
    "triplet": {"lr": 2e-4, "betas": (0.4, 0.999), "d_betas": (0.5, 0.999), "weight_decay": 1e-5, "weight_l1": 1e-5,
                "crop": 64, "adv_lambda": 0.0},
    # Park et al.: L1 content loss, 0.1 (1 - SSIM) for the last 2,500 of 4,000 epochs.
    "two_branch": {"ssim_share": 0.625},
}
KEEP = ("best", "last")
NO_VALIDATION = "none"  # --val-split none: train on every pair, keep the last weights


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    arch: str = "snet"
    options: dict[str, Any] = field(default_factory=lambda: {"width": 16})
    objective: str = "snet"  # snet: L2 + EdgeNet L2; l1; l2 (mean squared error); psnr (mean PSNR over the crops: what the benchmark averages); l1+adv: (1-lambda) L_adv + lambda L1; estuary; triplet; two_branch
    val_split: str | None = None  # file of category/id keys; default: a stratified 1/8
    crop: int = 256
    # Width of the crops (default: crop, square). At the 384-px working size a 256 x 384 crop is
    # the whole landscape frame: the global context then trains on the view it has at run time.
    crop_width: int | None = None
    # Largest magnification of a training crop (1: none): a window up to this many times smaller
    # is enlarged to the crop, so the few scenes are also seen closer up (RandomCrops).
    zoom: float = 1.0
    batch: int = 4
    lr: float = 1e-4  # SNet's; Adam's other settings at their defaults
    betas: tuple[float, float] = (0.9, 0.999)
    lr_final_fraction: float = 0.1  # cosine decay to this fraction of lr over the run
    steps: int = 20000
    steps_per_epoch: int = 500
    edge_weight: float = 1.0
    ssim_weight: float = 0.0  # optional structural term added to any objective
    angular_weight: float = 0.0  # optional colour term: weight * per-pixel angular error (radians)
    adv_lambda: float = 0.99
    conditional: bool = True  # the discriminator also sees the NIR input
    d_betas: tuple[float, float] | None = None  # the discriminator's Adam betas (default: betas)
    weight_decay: float = 0.0  # Adam's L2 weight decay of the generator
    weight_l1: float = 0.0  # L1 penalty on the weights of the layer the network names (triplet_cdcgan)
    ssim_share: float = 0.625  # two_branch: last share of training with the SSIM content loss
    data_scale: float = 1.0  # resize training pairs first (1.0: full resolution)
    # Train on scenes with their long side at most this many pixels; validation and use then run
    # the model at that size and restore full resolution by NIR-guided upsampling.
    infer_size: int | None = None
    val_limit: int | None = None  # validate on the first N validation pairs only
    init_from: str | None = None  # start from this checkpoint's generator weights (fine-tuning)
    ema: float | None = None  # validate and keep an exponential moving average of the weights (e.g. 0.999)
    # Also keep the equal-weight average of the weights from this share of the run on (tail
    # averaging, SWA), saved as tail.pt beside best.pt: the validation swings by 0.3 dB over a
    # few hundred steps, and one run's last weights are one draw of where the run wanders.
    average_from: float | None = None
    pretrained: bool = False  # start the encoder from the ImageNet weights its package ships (effnet_unet)
    freeze_stride: int = 0  # keep the pretrained encoder's layers up to this stride fixed (effnet_unet)
    extra_data: str | None = None  # a folder of more pairs with a manifest naming each one's scene (epfl-extra)
    extra_fraction: float = 0.25  # share of training crops drawn from --extra-data
    augment: float = 0.0  # strength of the night-camera degradations of the NIR input (0: none, 1: full)
    augment_h264: bool = True  # include the H.264 degradation (needs PyAV; a GPU image without it turns this off)
    augment_exposure: bool = True  # include the global gain/gamma degradation (see augment.NightCamera)
    # Weight of the sensor-noise consistency term (losses.NoiseConsistency): the colour of a crop
    # with fresh night-camera noise is pulled towards the colour of the same crop without it.
    noise_consistency: float = 0.0
    encoder_lr_scale: float = 1.0  # the pretrained encoder learns at this fraction of lr (effnet_unet)
    # Stop after this many minutes of training (the learning-rate schedule runs over them), or at
    # `steps`, whichever comes first: recipes compared at equal training time.
    minutes: float | None = None
    seed: int = 0
    # The crops and their degradations (default: --seed): runs that share an initialisation but not
    # their data order, whose weights can be averaged (scripts/soup.py).
    data_seed: int | None = None
    device: str = "cpu"
    # NHWC activations: oneDNN's convolutions on this CPU ran a step 1.4x faster than in NCHW.
    channels_last: bool = True
    # Mixed precision of the forward pass and loss: "bf16" (CUDA tensor cores; CPUs with AMX or
    # AVX512-BF16) or None (float32). Weights, optimiser and checkpoints stay float32.
    amp: str | None = None
    # Also validate and checkpoint whenever this many minutes passed since the last checkpoint,
    # so a run cut off by a time limit (a lent GPU) still leaves recent weights.
    checkpoint_minutes: float | None = None
    # Which weights best.pt holds: "best", those of the best validation PSNR, or "last", the last
    # ones. CV runs keep the last: their validation pairs are the fold they are scored on, and
    # picking a checkpoint on it (the best of 16 on one fold was 0.38 dB above the last) is
    # choosing on the test set.
    keep: str = "best"
    threads: int | None = None
    workers: int = 0

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TrainConfig":
        """The configuration that a run's config.json (or a card's provenance) recorded: keys an
        older version had and this one has not are dropped, JSON's lists become tuples again."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if k == "betas" else v for k, v in record.items() if k in known})


def config_for(objective: str, **given: Any) -> TrainConfig:
    """A configuration with the objective's paper defaults, overridden by what is given."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return TrainConfig(**{**OBJECTIVE_DEFAULTS.get(objective, {}), **given, "objective": objective})


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _progress(cfg: TrainConfig, step: int, seconds: float) -> float:
    """How far through the run: by steps, or by time when a time budget ends it sooner."""
    progress = step / max(1, cfg.steps)
    if cfg.minutes:
        progress = max(progress, seconds / (60 * cfg.minutes))
    return min(1.0, progress)


def _lr_at(cfg: TrainConfig, step: int, seconds: float = 0.0) -> float:
    progress = _progress(cfg, step, seconds)
    return cfg.lr * (cfg.lr_final_fraction + (1 - cfg.lr_final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def refresh_bn_statistics(model: torch.nn.Module, batches) -> None:
    """Measure the batch-norm running statistics of `model`'s current weights on `batches` (a
    cumulative average over them), leaving frozen layers (in eval mode while training) as they
    are. For weight averages, whose statistics cannot be averaged (torch's swa_utils.update_bn
    does the same for a data loader)."""
    was_training = model.training
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    if not norms or not batches:
        model.train(was_training)
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        for x in batches:
            model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def validate(model: torch.nn.Module, pairs, device: str, infer_size: int | None = None) -> dict[str, float]:
    """Full-resolution figures, with the model run at its working size as it will be in use."""
    model.eval()
    rows = [all_metrics(colorize(model, p.nir, device, infer_size=infer_size), p.rgb) for p in pairs]
    model.train()
    return mean_metrics(rows)


def training_crops(cfg: TrainConfig, train_paths, held_out: set[str] = frozenset()) -> RandomCrops:
    """The recipe's random training crops of `train_paths` (at its working size), with its share of
    --extra-data (scenes in `held_out` left out) and its night-camera degradations."""
    if cfg.infer_size and cfg.data_scale != 1.0:
        raise ValueError("--infer-size sets the training scale itself; leave --data-scale at 1")
    train_pairs = load_pairs(train_paths, cfg.data_scale, cfg.infer_size)
    extra: list = []
    if cfg.extra_data:
        extra, skipped = load_extra_pairs(cfg.extra_data, held_out, cfg.infer_size)
        tqdm.write(f"{len(extra)} extra pairs from {cfg.extra_data} ({skipped} of validation scenes left out), {cfg.extra_fraction:.0%} of crops")
    augment = NightCamera(cfg.augment, h264_p=0.1 if cfg.augment_h264 else 0.0, exposure=cfg.augment_exposure) if cfg.augment > 0 else None
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    crops = RandomCrops(train_pairs, cfg.crop, data_seed, extra, cfg.extra_fraction if extra else 0.0, augment, edges=cfg.objective == "snet",
                         crop_width=cfg.crop_width, zoom=cfg.zoom)
    if crops.padded:
        tqdm.write(f"{len(crops.padded)} pairs smaller than the {crops.crop}x{crops.crop_width}px crop are mirrored out to it: {', '.join(crops.padded[:5])}")
    return crops


def build_generator(cfg: TrainConfig) -> torch.nn.Module:
    """The recipe's network before its first step: ImageNet weights, frozen layers, or the
    weights of --init-from."""
    model = create(cfg.arch, **cfg.options)
    if cfg.pretrained:
        if not hasattr(model, "load_pretrained"):
            raise ValueError(f"architecture {cfg.arch!r} has no pretrained weights; drop --pretrained or use --arch effnet_unet")
        model.load_pretrained()
    if cfg.freeze_stride:
        if not hasattr(model, "freeze_encoder"):
            raise ValueError(f"architecture {cfg.arch!r} has no pretrained encoder to freeze; drop --freeze-stride")
        frozen = model.freeze_encoder(cfg.freeze_stride)
        tqdm.write(f"encoder layers up to stride {cfg.freeze_stride} frozen ({frozen / 1e6:.2f} M parameters)")
    if cfg.init_from:
        start, start_card = checkpoint.load(cfg.init_from, expect_architecture=cfg.arch)
        if start_card.options != cfg.options:
            raise checkpoint.CheckpointError(f"{cfg.init_from} has options {start_card.options}, the run asks for {cfg.options}")
        model.load_state_dict(start.state_dict())
    if cfg.weight_l1 and not hasattr(model, "l1_regularized"):
        raise ValueError(f"architecture {cfg.arch!r} names no layer for the L1 weight regulariser; drop --weight-l1")
    return model


def build_objective(cfg: TrainConfig, model: torch.nn.Module) -> torch.nn.Module:
    """The generator's loss of the recipe (the discriminator's, if any, is separate)."""
    if cfg.objective == "snet":
        return SNetObjective(LOSS_NETWORKS["edgenet"](), cfg.edge_weight, cfg.ssim_weight, cfg.angular_weight)
    if cfg.objective == "two_branch":
        if not hasattr(model, "training_outputs"):
            raise ValueError(f"the two_branch objective needs a grey branch; architecture {cfg.arch!r} has none: use --arch two_branch")
        return TwoBranchObjective(cfg.ssim_share, cfg.ssim_weight, cfg.angular_weight)
    norms = {"l1": 1, "l2": 2, "psnr": "psnr"}
    return L1Objective(cfg.ssim_weight, cfg.angular_weight, norm=norms.get(cfg.objective, 1))


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module, objective: torch.nn.Module) -> torch.optim.Adam:
    """Adam over the trainable weights (and the objective's own); a pretrained encoder learns at
    --encoder-lr-scale of the rate (the "scale" of its group, applied by the schedule)."""
    encoder = set(map(id, model.encoder.parameters())) if hasattr(model, "encoder") else set()
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and id(p) not in encoder] + list(objective.parameters()), "scale": 1.0},
              {"params": [p for p in model.parameters() if p.requires_grad and id(p) in encoder], "scale": cfg.encoder_lr_scale}]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def forward_and_loss(model: torch.nn.Module, objective: torch.nn.Module, nir, rgb, edges, progress: float):
    """One batch through the generator and its objective: (prediction, LossTerms)."""
    if hasattr(model, "training_outputs"):
        pred, extras = model.training_outputs(nir)
    else:
        pred, extras = model(nir), {}
    return pred, objective(pred, rgb, edges, extras, progress)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    if cfg.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {cfg.objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if cfg.amp not in (None, "bf16"):
        raise ValueError(f"unknown mixed precision {cfg.amp!r}; use bf16 or leave it out")
    if cfg.keep not in KEEP:
        raise ValueError(f"unknown --keep {cfg.keep!r}; choose one of {', '.join(KEEP)}")
    if cfg.average_from is not None and not 0.0 <= cfg.average_from < 1.0:
        raise ValueError(f"--average-from {cfg.average_from} is outside [0, 1): it is the share of the run after which the weights are averaged")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    all_pairs = find_pairs(cfg.data)
    if cfg.val_split == NO_VALIDATION:
        val_keys: set[str] = set()
    else:
        val_keys = read_split(cfg.val_split) if cfg.val_split else set(default_val_keys(all_pairs))
    train_paths, val_paths = split_pairs(all_pairs, val_keys)
    # Neighbouring shots of a validation scene stay out of training too.
    held_out = scene_closure(val_keys)
    leaked = [p for p in train_paths if p.key in held_out]
    if leaked:
        tqdm.write(f"{len(leaked)} training pairs show a validation scene and are left out: {', '.join(p.key for p in leaked[:6])}")
        train_paths = [p for p in train_paths if p.key not in held_out]
    files.write_text(out / "val_split.txt", "".join(f"{p.key}\n" for p in val_paths))
    if cfg.channels_last and not trains_channels_last(cfg.arch):
        tqdm.write(f"{cfg.arch} trains in NCHW: its backward pass crashes in channels-last on this PyTorch")
        cfg = replace(cfg, channels_last=False)
    files.write_json(out / "config.json", asdict(cfg))

    tqdm.write(f"loading {len(train_paths)} training and {len(val_paths)} validation pairs from {cfg.data}")
    crops = training_crops(cfg, train_paths, held_out)
    val_pairs = load_pairs(val_paths[: cfg.val_limit] if cfg.val_limit else val_paths)
    consistency = NoiseConsistency(seed=cfg.seed) if cfg.noise_consistency > 0 else None
    loader = torch.utils.data.DataLoader(crops, batch_size=cfg.batch, num_workers=cfg.workers)

    device = torch.device(cfg.device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = build_generator(cfg).to(device, memory_format=memory_format).train()
    # The averaged weights are what gets validated and saved: on 150 pairs single-step weights
    # swing the validation PSNR by about 0.3 dB. Their batch-norm statistics are measured anew for
    # them (refresh_bn_statistics) rather than averaged: averaged statistics do not belong to
    # averaged weights, and for the triplet cDCGAN, whose first layer's variance is 0.002, the
    # mismatch turned a 15.7 dB model into an 8.6 dB one (fold 0).
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=False) if cfg.ema else None
    tail = AveragedModel(model, use_buffers=False) if cfg.average_from is not None else None
    recent_inputs: collections.deque = collections.deque(maxlen=BN_REFRESH_BATCHES)
    objective = build_objective(cfg, model).to(device)
    opt = build_optimizer(cfg, model, objective)
    disc = opt_d = None
    if cfg.objective in DISCRIMINATORS:
        disc = LOSS_NETWORKS[DISCRIMINATORS[cfg.objective]](conditional=cfg.conditional).to(device).train()
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=cfg.d_betas or cfg.betas)

    step, best_psnr, elapsed = 0, -math.inf, 0.0
    last_path, best_path = out / "last.pt", out / "best.pt"
    if resume and last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
        if tail is not None and state.get("tail") is not None:
            tail.load_state_dict(state["tail"])
        objective.load_state_dict(state["objective"])
        opt.load_state_dict(state["opt"])
        if disc is not None:
            disc.load_state_dict(state["disc"])
            opt_d.load_state_dict(state["opt_d"])
        step, best_psnr, elapsed = state["step"], state["best_psnr"], state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        tqdm.write(f"resumed {last_path} at step {step}")
    elif resume and best_path.exists():
        # A run folder that came back from another machine with its weights only (a GPU run
        # returns model checkpoints, not optimiser state): continue from those weights with
        # fresh optimiser moments, counting steps and time from where it stopped.
        start, start_card = checkpoint.load(best_path, expect_architecture=cfg.arch)
        if start_card.options != cfg.options:
            raise checkpoint.CheckpointError(f"{best_path} has options {start_card.options}, the run asks for {cfg.options}")
        model.load_state_dict(start.state_dict())
        if averaged is not None:
            averaged.module.load_state_dict(start.state_dict())
        step = int(start_card.provenance.get("steps", 0))
        tqdm.write(f"resumed from the weights of {best_path} at step {step} (no optimiser state in the folder: Adam starts afresh)")

    provenance = {
        "data": str(cfg.data),
        "train_pairs": len(train_paths),
        "extra_pairs": crops.extra_pairs,
        "val_pairs": [p.key for p in val_paths],
        "objective": cfg.objective,
        "init_from": None if not cfg.init_from else {"path": str(cfg.init_from), "sha256": checkpoint.file_sha256(cfg.init_from)},
        "config": asdict(cfg),
        "git_commit": _git_commit(),
        "torch": str(torch.__version__),
        "machine": platform.processor() or platform.machine(),
    }
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.arch}", unit="step", dynamic_ncols=True)
    started = time.perf_counter() - elapsed
    last_checkpoint = time.perf_counter()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")
    batches = iter(loader)
    while _progress(cfg, step, time.perf_counter() - started) < 1.0:
        nir, rgb, edges = (t.to(device, non_blocking=True, memory_format=memory_format) for t in next(batches))
        recent_inputs.append(nir)
        lr = _lr_at(cfg, step, time.perf_counter() - started)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("scale", 1.0)
        with autocast:
            pred, terms = forward_and_loss(model, objective, nir, rgb, edges, _progress(cfg, step, time.perf_counter() - started))
        loss = terms.total
        if disc is not None:
            for g in opt_d.param_groups:
                g["lr"] = lr
            d_loss = discriminator_loss(disc(nir, rgb), disc(nir, pred.detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            adv = generator_adversarial(disc(nir, pred))
            loss = (1 - cfg.adv_lambda) * adv + cfg.adv_lambda * terms.total
            terms.parts.update(adv=adv.item(), d=d_loss.item())
        if cfg.weight_l1:
            loss = loss + cfg.weight_l1 * sum(w.abs().sum() for w in model.l1_regularized())
        if consistency is not None:
            with autocast:
                steady = consistency(model, nir)
            loss = loss + cfg.noise_consistency * steady
            terms.parts["steady"] = steady.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if averaged is not None:
            averaged.update_parameters(model)
        if tail is not None and _progress(cfg, step, time.perf_counter() - started) >= cfg.average_from:
            tail.update_parameters(model)
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in terms.parts.items()} | {"img/s": f"{step * cfg.batch / (time.perf_counter() - started):.1f}"}, refresh=False)

        finished = _progress(cfg, step, time.perf_counter() - started) >= 1.0
        due = cfg.checkpoint_minutes is not None and time.perf_counter() - last_checkpoint >= 60 * cfg.checkpoint_minutes
        if step % cfg.steps_per_epoch == 0 or finished or due:
            last_checkpoint = time.perf_counter()
            kept = model if averaged is None else averaged.module
            if averaged is not None:
                refresh_bn_statistics(kept, recent_inputs)
            # Without held-out pairs there is nothing to pick on: the last weights are the result.
            metrics = validate(kept, val_pairs, device, cfg.infer_size) if val_pairs else {}
            elapsed = time.perf_counter() - started
            card = checkpoint.ModelCard(
                cfg.arch, dict(cfg.options), model.multiple, infer_size=cfg.infer_size,
                provenance={**provenance, "steps": step, "train_seconds": round(elapsed, 1)},
                metrics={"split": "validation", **metrics} if metrics else {},
            )
            if not metrics:
                checkpoint.save(best_path, kept, card)
            else:
                record = {"step": step, "epoch": step // cfg.steps_per_epoch, "seconds": round(elapsed, 1), "lr": _lr_at(cfg, step, elapsed), **terms.parts, **{f"val_{k}": v for k, v in metrics.items()}}
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
                tqdm.write(f"step {step}: val PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}, AE {metrics['angular_error']:.2f} deg")
                if metrics["psnr"] > best_psnr or cfg.keep == "last":
                    best_psnr = max(best_psnr, metrics["psnr"])
                    checkpoint.save(best_path, kept, card)
                checkpoint.save(out / "latest_model.pt", kept, card)
            if tail is not None and int(tail.n_averaged):
                refresh_bn_statistics(tail.module, recent_inputs)
                averaged_steps = int(tail.n_averaged)
                # The run's card, without the validation figures, which belong to the other weights.
                checkpoint.save(out / "tail.pt", tail.module, replace(card, metrics={}, provenance={
                    **card.provenance, "averaged_steps": averaged_steps, "averaged_from_step": step - averaged_steps + 1}))
            _save_state(last_path, model, averaged, objective, opt, disc, opt_d, step, best_psnr, elapsed, tail)
    bar.close()
    return best_path


def _save_state(path: Path, model, averaged, objective, opt, disc, opt_d, step: int, best_psnr: float, elapsed: float,
                tail=None) -> None:
    """Full training state for --resume, written whole under a temporary name, then renamed."""
    state = {"model": model.state_dict(), "objective": objective.state_dict(), "opt": opt.state_dict(), "step": step,
             "best_psnr": best_psnr, "elapsed": elapsed, "torch_rng": torch.get_rng_state()}
    if disc is not None:
        state.update(disc=disc.state_dict(), opt_d=opt_d.state_dict())
    if averaged is not None:
        state["averaged"] = averaged.state_dict()
    if tail is not None:
        state["tail"] = tail.state_dict()
    with files.atomic_path(path) as temporary:
        torch.save(state, temporary)
