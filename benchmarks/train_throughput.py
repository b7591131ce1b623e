"""Training throughput of a recipe on this machine, one setting beside the other, in one run.

The recipe's own training step (models.train's crops of the real pairs at its working size, its
network, objective and Adam, data loading included) is timed under each setting: threads,
activation layout (channels-last or the default NCHW) and precision (float32, or bfloat16
autocast of the forward pass and loss, as `nircolor train --amp bf16` runs it). Settings are
interleaved round by round, so a machine that slows down part-way slows each of them alike.
Samples/s = batch / median step; the ratio is against the first setting (the way training runs
now: channels-last, float32, one thread per run).

    python benchmarks/train_throughput.py                     # the shipped default's recipe
    python benchmarks/train_throughput.py --steps 6 --rounds 2 --threads 1

Measure on a quiet machine (no training beside it). Two one-thread runs side by side, the way
CV folds run here, are not measured: the two runs share the memory bandwidth.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
from pathlib import Path

import torch

from nircolor.models import checkpoint
from nircolor.models.data import find_pairs
from nircolor.models.train import TrainConfig, build_generator, build_objective, build_optimizer, forward_and_loss, training_crops

from harness import DATA, RESULTS, ROOT, time_calls, write_report

SHIPPED = ROOT / "models" / "weights" / "effnet32.pt"


@dataclasses.dataclass(frozen=True)
class Setting:
    threads: int
    channels_last: bool
    bf16: bool

    @property
    def name(self) -> str:
        return f"{self.threads} thread{'s' if self.threads > 1 else ''}, {'channels-last' if self.channels_last else 'NCHW'}, {'bf16' if self.bf16 else 'fp32'}"


def shipped_recipe(data: Path, extra: Path | None) -> TrainConfig:
    """The training configuration the shipped default's card records, on this machine's data."""
    _, card = checkpoint.load(SHIPPED)
    return dataclasses.replace(TrainConfig.from_record(card.provenance["config"]), data=str(data), extra_data=str(extra) if extra else None)


def settings(threads: list[int]) -> list[Setting]:
    """Channels-last float32 at the first thread count first (how training runs: the ratios' base)."""
    return [Setting(t, cl, bf) for t in threads for cl in (True, False) for bf in (False, True)]


class Stepper:
    """One model per activation layout (a layout is fixed when the weights are placed), each with
    its own optimiser; a step draws the next batch of crops, as training does."""

    def __init__(self, cfg: TrainConfig):
        self.batches = iter(torch.utils.data.DataLoader(training_crops(cfg, find_pairs(cfg.data)), batch_size=cfg.batch))
        self.runs = {}
        for channels_last in (True, False):
            torch.manual_seed(cfg.seed)
            layout = torch.channels_last if channels_last else torch.contiguous_format
            model = build_generator(cfg).to(memory_format=layout).train()
            objective = build_objective(cfg, model)
            self.runs[channels_last] = (model, objective, build_optimizer(cfg, model, objective), layout)

    def step(self, setting: Setting) -> None:
        model, objective, opt, layout = self.runs[setting.channels_last]
        nir, rgb, edges = (t.to(memory_format=layout) for t in next(self.batches))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.bf16):
            _, terms = forward_and_loss(model, objective, nir, rgb, edges, 0.5)
        opt.zero_grad(set_to_none=True)
        terms.total.backward()
        opt.step()


def measure(cfg: TrainConfig, chosen: list[Setting], steps: int, rounds: int) -> list[dict]:
    stepper = Stepper(cfg)
    times: dict[Setting, list[float]] = {s: [] for s in chosen}
    for _ in range(rounds):
        for s in chosen:
            torch.set_num_threads(s.threads)
            times[s] += time_calls(lambda: stepper.step(s), runs=steps, warmup=1)  # the first step after a switch re-plans kernels
    base = statistics.median(times[chosen[0]])
    return [{"setting": s.name, **dataclasses.asdict(s), "steps_timed": len(t), "median_s_per_step": statistics.median(t) / 1000,
             "samples_per_s": cfg.batch * 1000 / statistics.median(t), "speed_vs_first": base / statistics.median(t)}
            for s, t in times.items()]


def markdown(rows: list[dict], cfg: TrainConfig, command: str) -> list[str]:
    lines = [f"# Training throughput of the default's recipe (batch {cfg.batch}, {cfg.crop} px crops at working size {cfg.infer_size})", "",
             f"`{command}`: median of each setting's timed steps, settings interleaved; data loading included.", "",
             "| setting | s / step | samples / s | speed vs first |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['setting']} | {r['median_s_per_step']:.3f} | {r['samples_per_s']:.2f} | {r['speed_vs_first']:.2f}x |" for r in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--extra-data", type=Path, default=DATA.parent / "epfl-extra")
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}), help="thread counts to compare")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setting per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "train-throughput")
    args = parser.parse_args(argv)
    extra = args.extra_data if args.extra_data and args.extra_data.is_dir() else None
    cfg = shipped_recipe(args.data, extra)
    rows = measure(cfg, settings(args.threads), args.steps, args.rounds)
    lines = markdown(rows, cfg, " ".join(["python benchmarks/train_throughput.py", *(sys.argv[1:] if argv is None else argv)]))
    write_report(args.out, {"recipe": dataclasses.asdict(cfg), "rows": rows}, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
