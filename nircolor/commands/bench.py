"""`nircolor bench`: latency per runner, precision and resolution."""

from __future__ import annotations

import argparse

from nircolor.runtime.backends import BACKENDS, pick

from .options import BACKEND_CHOICES


def _bench(args: argparse.Namespace) -> int:
    from nircolor.runtime.bench import BenchConfig, run_bench

    resolutions = tuple(tuple(int(v) for v in r.split("x"))[::-1] for r in args.resolutions.split(","))
    names = BACKENDS if args.backend == "all" else tuple(args.backend.split(","))
    names = tuple(dict.fromkeys(pick(n)[0] for n in names))  # auto: the runner this machine would use; unknown names refused
    cfg = BenchConfig(models=tuple(args.model.split(",")), backends=names, precisions=tuple(args.precision.split(",")), resolutions=resolutions,
                      device=args.device, min_runs=args.runs, threads=args.threads)
    prefix = args.json[: -len(".json")] if args.json and args.json.endswith(".json") else (args.json or "benchmarks/results/bench")
    run_bench(cfg, prefix)
    print(f"wrote {prefix}.json, {prefix}.md, {prefix}-latency.png, {prefix}-throughput.png")
    return 0


def register(sub) -> None:
    bn = sub.add_parser("bench", help="latency per backend, precision and resolution; pipeline latency; FLOPs and fraction of peak")
    bn.add_argument("--model", default="default", help="comma-separated models from the zoo or checkpoint paths (default: default)")
    bn.add_argument("--backend", default="auto", help=f"comma-separated runners ({', '.join(BACKEND_CHOICES)}) or all (default: auto, "
                    "the one `run` would use)")
    bn.add_argument("--precision", default="fp32,fp16", help="comma-separated: fp32, fp16, int8 (ONNX Runtime's QDQ graph)")
    bn.add_argument("--resolutions", default="320x240,640x480,1280x720,1920x1080", help="comma-separated WxH")
    bn.add_argument("--device", default="auto")
    bn.add_argument("--runs", type=int, default=10, help="at least this many timed runs per cell (and at least 2 s)")
    bn.add_argument("--threads", type=int)
    bn.add_argument("--json", help="PATH.json; the Markdown table and plots go beside it (default benchmarks/results/bench)")
    bn.set_defaults(func=_bench)
