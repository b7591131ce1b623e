"""Publish a trained checkpoint as a shipped model: score it on the fixed validation split at
full resolution, time it on this CPU at 640x480, and write the weights and a model card.

    python scripts/model_card.py runs/snet16/best.pt snet16 --data ../shared/data/epfl-rgbnir

Writes models/weights/NAME.pt (float16 storage with --half), models/weights/NAME.md and
benchmarks/results/eval-NAME.json (per-image figures, resolved configuration, machine).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nircolor import __version__, files
from nircolor.models import checkpoint, zoo
from nircolor.models.evaluate import evaluate
from nircolor.models.inference import colorize
from nircolor.models.upsample import working_scale
from nircolor.models.networks.blocks import count_parameters
from nircolor.runtime.bench import latency, machine, time_calls

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT / "models" / "splits" / "epfl-rgbnir-val.txt"


def cpu_latency(net: torch.nn.Module, infer_size: int | None, height: int = 480, width: int = 640, runs: int = 20) -> dict[str, float]:
    """uint8 frame in, uint8 RGB out at full size: with a scale below 1 this includes the
    downscale and the NIR-guided upsampling, as the runtime does them."""
    nir = (np.random.default_rng(0).random((height, width)) * 255).astype(np.uint8)
    infer_scale = working_scale(height, width, infer_size)
    times = time_calls(lambda: colorize(net, nir, infer_scale=infer_scale), runs)
    return {**latency(times), "runs": runs, "threads": torch.get_num_threads(), "infer_scale": infer_scale}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("name")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epfl-rgbnir"))
    ap.add_argument("--half", action="store_true", help="store weights as float16 (keeps files under 20 MB)")
    ap.add_argument("--summary", default="")
    ap.add_argument("--previous", nargs="+", default=[],
                    help="run folders of the earlier stages this run was fine-tuned from (--init-from), first stage first")
    args = ap.parse_args()

    weights = zoo.WEIGHTS_DIR / f"{args.name}.pt"
    net, card = checkpoint.load(args.checkpoint)
    run_dir = Path(args.checkpoint).parent
    card.provenance.pop("config", None)
    card.provenance["config"] = json.loads((run_dir / "config.json").read_text())
    card.provenance["nircolor"] = __version__
    card.provenance.pop("previous_stage", None)
    card.provenance["previous_stages"] = [{"config": json.loads((Path(prev) / "config.json").read_text()),
                                           "metrics": [json.loads(x) for x in (Path(prev) / "metrics.jsonl").read_text().splitlines()]}
                                          for prev in args.previous]
    card.metrics = {}
    checkpoint.save(weights, net, card, half=args.half)

    # Score what ships (after any float16 rounding), not the training checkpoint.
    report = evaluate(str(weights), args.data, split=SPLIT, grid_path=ROOT / "benchmarks" / "results" / f"grid-{args.name}.jpg")
    shipped, card = checkpoint.load(weights)
    torch.set_num_threads(2)
    latency = cpu_latency(shipped, card.infer_size)
    card.metrics = {"split": str(SPLIT.relative_to(ROOT)), "resolution": "full", **report.mean, "baseline_nir_as_grey": report.baseline_mean, "cpu_latency_640x480": latency}
    checkpoint.save(weights, shipped, card, half=args.half)

    files.write_json(ROOT / "benchmarks" / "results" / f"eval-{args.name}.json",
                     {"name": args.name, "machine": machine(), "latency_640x480": latency, **report.to_dict(), "provenance": card.provenance})

    history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    cfg = card.provenance["config"]
    p = card.provenance
    rows = "\n".join(
        f"| {label} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['angular_error']:.2f} | {m['cosine']:.4f} | {m['l1']:.4f} |"
        for label, m in (("NIR as grey (baseline)", report.baseline_mean), (args.name, report.mean))
    )
    def command(c: dict) -> str:
        extra = f" --edge-weight {c['edge_weight']}" if c["objective"] == "snet" else ""
        extra += f" --ssim-weight {c['ssim_weight']}" if c.get("ssim_weight") else ""
        extra += f" --init-from {c['init_from']}" if c.get("init_from") else ""
        extra += f" --data-scale {c['data_scale']}" if c.get("data_scale", 1.0) != 1.0 else ""
        extra += f" --infer-size {c['infer_size']}" if c.get("infer_size") else ""
        extra += f" --ema {c['ema']}" if c.get("ema") else ""
        extra += f" --crop-width {c['crop_width']}" if c.get("crop_width") else ""
        return (f"nircolor train --data ../shared/data/epfl-rgbnir --out {c['out']} --arch {c['arch']} --options '{json.dumps(c['options'])}' "
                f"--objective {c['objective']}{extra} --val-split models/splits/epfl-rgbnir-val.txt --crop {c['crop']} --batch {c['batch']} "
                f"--lr {c['lr']} --betas {c['betas'][0]} {c['betas'][1]} --steps {c['steps']} --steps-per-epoch {c['steps_per_epoch']} "
                f"--threads {c['threads']} --seed {c['seed']}")

    def objective(c: dict) -> str:
        text = {"snet": f"L2 colour + {c['edge_weight']} x L2 EdgeNet (Dong et al.)", "l1": "L1 (Limmer & Lensch, lambda = 1)",
                "l1+adv": f"(1 - {c['adv_lambda']}) L_adv + {c['adv_lambda']} L1"}[c["objective"]]
        return text + (f" + {c['ssim_weight']} x (1 - SSIM)" if c.get("ssim_weight") else "")

    stages = ""
    for i, prev in enumerate(p["previous_stages"], 1):
        pc, last = prev["config"], prev["metrics"][-1]
        start = f"from stage {i - 1}'s weights" if i > 1 else "from scratch"
        stopped = f" (of {pc['steps']} scheduled; stopped there)" if last["step"] < pc["steps"] else ""
        best = max(prev["metrics"], key=lambda m: m["val_psnr"])
        stages += (f"- Stage {i}: {objective(pc)}, {last['step']} steps {start}{stopped}, lr {pc['lr']}, {last['seconds'] / 60:.0f} minutes; "
                   f"best validation {best['val_psnr']:.2f} dB / SSIM {best['val_ssim']:.4f} at step {best['step']}. `{command(pc)}`\n")
    if stages:
        stages += f"- Stage {len(p['previous_stages']) + 1} (below) starts from stage {len(p['previous_stages'])}'s weights (`{cfg['init_from']}`).\n"
    card_command = (f"python scripts/model_card.py {cfg['out']}/best.pt {args.name}" + (" --half" if args.half else "")
                    + (" --previous " + " ".join(args.previous) if args.previous else ""))
    size = card.infer_size
    resolution = "full\n  resolution" if not size else (
        f"a long side of at most {size} px; the model sees any larger frame\n  downscaled to that size, and full resolution "
        "is restored by NIR-guided upsampling (models/upsample.py), in evaluation and at run time alike")
    curve = "\n".join(f"| {h['step']} | {h['seconds'] / 60:.0f} | {h['val_psnr']:.2f} | {h['val_ssim']:.4f} |" for h in history)
    text = f"""# {args.name}

{args.summary}

- Architecture: `{card.architecture}` with options `{json.dumps(card.options)}`, {count_parameters(shipped) / 1e6:.2f} M parameters,
  padding multiple {card.pad_multiple}; weights stored as {'float16' if args.half else 'float32'} ({weights.stat().st_size / 2**20:.1f} MiB).
- Input: one NIR channel in [0, 1] (uint8 / 255). Output: RGB in [-1, 1] (tanh); uint8 = (y + 1) * 127.5.
- Data: EPFL RGB-NIR Scene Dataset (Brown & Süsstrunk, CVPR 2011), {p['train_pairs']} training pairs at {resolution}; the {len(p['val_pairs'])} pairs of `models/splits/epfl-rgbnir-val.txt` held out.
{stages}- Training: {objective(cfg)}, {p['steps']} steps of batch {cfg['batch']} random {cfg['crop']}x{cfg.get('crop_width') or cfg['crop']} crops with
  horizontal flips, Adam lr {cfg['lr']} betas {cfg['betas']} with cosine decay to {cfg['lr_final_fraction']} x lr, seed {cfg['seed']},
  {p['train_seconds'] / 60:.0f} minutes on {cfg['threads']} CPU thread(s) of this project's 2-core machine (torch {p['torch']}).
  The checkpoint kept is the validation epoch with the best PSNR.

## Validation (full resolution, {len(report.rows)} pairs)

| model | PSNR dB | SSIM | angular error deg | cosine | L1 |
| --- | --- | --- | --- | --- | --- |
{rows}

PSNR gain over NIR-as-grey: {report.mean['psnr'] - report.baseline_mean['psnr']:+.2f} dB. Per-image figures:
`benchmarks/results/eval-{args.name}.json`; a NIR | prediction | ground truth grid:
`benchmarks/results/grid-{args.name}.jpg`.

## Speed

PyTorch {torch.__version__} on this CPU ({machine['processor']}, {latency['threads']} threads), one 640x480 uint8 frame to RGB{'' if latency['infer_scale'] == 1.0 else f" (network at {latency['infer_scale']:g} x, guided upsampling included)"}:
median {latency['median_ms']:.0f} ms, best {latency['min_ms']:.0f} ms over {latency['runs']} runs after warm-up.

## Training curve (validation on the fixed split)

| step | minutes | PSNR dB | SSIM |
| --- | --- | --- | --- |
{curve}

Reproduce: `{command(cfg)}`, then
`{card_command}`.

Credit: M. Brown and S. Süsstrunk, "Multi-spectral SIFT for scene category recognition", CVPR 2011.
"""
    files.write_text(zoo.WEIGHTS_DIR / f"{args.name}.md", text)
    print(text)


if __name__ == "__main__":
    main()
