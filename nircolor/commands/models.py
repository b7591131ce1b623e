"""`nircolor models` and `nircolor eval`: the shipped models and their scores."""

from __future__ import annotations

import argparse
import json


def _models(args: argparse.Namespace) -> int:
    from nircolor.models import zoo

    if args.format == "json":
        print(json.dumps(zoo.figures(), indent=2))
    elif args.format == "markdown":
        print(zoo.markdown_table(), end="")
    else:
        for name, f in zoo.figures().items():
            default = " (default)" if zoo.ALIASES.get("default") == name else ""
            if f is None:
                print(f"{name}{default}: {zoo.ZOO[name].summary}; not measured (python scripts/zoo_table.py {name})")
                continue
            cv = f["cv"]
            quality = (f"CV {cv['psnr']['mean']:.2f} dB / SSIM {cv['ssim']['mean']:.3f} / AE {cv['angular_error']['mean']:.2f} deg "
                       f"(grey {cv['grey']['psnr']:.2f} / {cv['grey']['ssim']:.3f} / {cv['grey']['angular_error']:.2f})") if cv else "not cross-validated"
            print(f"{name}{default}: {f['architecture']}, {f['parameters'] / 1e6:.2f} M parameters, {f['gflop_640x480']:.1f} GFLOP and "
                  f"{f['ort_cpu_ms_640x480']:.0f} ms (ONNX Runtime CPU) for a 640x480 frame; {quality}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from nircolor.models.evaluate import evaluate

    report = evaluate(
        args.model, args.data, split=args.split, save_dir=args.save, json_path=args.json,
        grid_path=args.grid, device=args.device,
    )
    print(f"{len(report.rows)} images from {report.data}, {report.seconds_per_image * 1000:.0f} ms per image on {args.device}")
    print(report.table())
    gain = report.mean["psnr"] - report.baseline_mean["psnr"]
    print(f"PSNR gain over NIR-as-grey: {gain:+.2f} dB")
    return 0


def register(sub) -> None:
    ml = sub.add_parser("models", help="list the shipped models: architecture, size, speed and cross-validated quality",
                        description="Every shipped model with its parameters, GFLOPs and ONNX Runtime CPU latency for a 640x480 "
                                    "frame and the cross-validation figures of its recipe (measured by scripts/zoo_table.py).")
    ml.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                    help="text (default), json (the figures, for machines) or markdown (the README's model table)")
    ml.set_defaults(func=_models)

    e = sub.add_parser("eval", help="score a model on a folder of pairs at full resolution")
    e.add_argument("--model", default="default", help="shipped model name (nircolor models lists them) or checkpoint path")
    e.add_argument("--data", help="folder of pairs (default: the sample pairs shipped with nircolor)")
    e.add_argument("--split", help="only the category/id keys listed in this file")
    e.add_argument("--json", help="write the figures here")
    e.add_argument("--save", help="write each prediction as SAVE/<category>/<id>.png")
    e.add_argument("--grid", help="write a NIR | prediction | ground truth PNG grid here")
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=_eval)
