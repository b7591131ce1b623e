"""`nircolor run`, `transcode` (one recording, or a fleet on Ray) and `demo`: the video pipeline."""

from __future__ import annotations

import argparse
import signal
import sys

from .options import add_backend_option, add_runtime_options

DEMO_OUTPUT = "nircolor-demo.mp4"


def _options(args: argparse.Namespace, policy: str | None):
    """The run's option objects, built once from the command line."""
    from nircolor.runtime.app import ModelOptions, OutputOptions, PipelineOptions

    model = ModelOptions(args.model, args.backend, args.device, args.fp16, args.int8, args.infer_scale)
    pipeline = PipelineOptions(policy, args.layout, args.batch, args.max_frames, args.stabilise)
    output = OutputOptions(args.codec, args.overwrite, args.stats_json, auth=not args.no_auth)
    return model, pipeline, output


def _fleet(args: argparse.Namespace) -> int:
    from nircolor.runtime.fleet import FleetStopped, transcode_fleet
    from nircolor.runtime.signals import signal_exit_status

    if args.input_bits is not None:
        raise ValueError("--input-bits is for 16-bit image files; --cluster transcodes videos, whose decoders scale 10- and 12-bit video")
    model, pipeline, output = _options(args, "offline")
    try:
        summary = transcode_fleet(args.source, args.output_file, address=args.cluster, workers=args.workers,
                                  cpus_per_worker=args.cpus_per_worker, progress=not args.no_progress, model=model,
                                  pipeline=pipeline, output=output)
    except FleetStopped as exc:
        print(f"nircolor transcode: {exc}; finished outputs are kept, the rest are redone by running the same command again",
              file=sys.stderr)
        return signal_exit_status(signal.Signals(exc.signum).name)
    counts = summary.counts()
    print(f"{counts['done']} transcoded, {counts['skipped']} already complete (skipped), {counts['failed']} failed, "
          f"on {summary.workers} workers in {summary.seconds:.1f} s; summary: {summary.output_dir}/fleet-summary.json")
    for r in summary.recordings:
        if r.status == "failed":
            print(f"  failed: {r.source}: {r.error}")
    return 3 if counts["failed"] else 0


def _run(args: argparse.Namespace) -> int:
    from nircolor.runtime.app import SourceOptions, exit_status, run

    if args.command == "transcode":
        if args.cluster:
            if args.overwrite or args.stats_json:
                raise ValueError("--cluster never replaces a finished output (a re-run skips it; delete it to redo it) and writes "
                                 "its statistics to OUTPUT/fleet-summary.json: drop --overwrite and --stats-json")
            return _fleet(args)
        if len(args.source) > 1:
            raise ValueError(f"transcode takes one input and one output ({len(args.source)} inputs given); for many recordings "
                             "use --cluster local (or a Ray cluster's address) with an output folder")
        args.source = args.source[0]
    policy = "offline" if args.command == "transcode" else args.policy
    outputs = [args.output_file] if args.command == "transcode" else (args.output or ["display://"])
    model, pipeline, output = _options(args, policy)
    result = run(SourceOptions(args.source, args.input_bits), outputs, model, pipeline, output, progress=not args.no_progress)
    # A run that could not write every frame it read, or was cut short, says so in its exit status.
    return exit_status(result)


def _demo(args: argparse.Namespace) -> int:
    from nircolor.runtime.app import ModelOptions, OutputOptions, PipelineOptions, run
    from nircolor.runtime.sources import SAMPLE_CLIP

    # The demo's own default file is replaced on each run; a file the user named is not, unless asked.
    overwrite = args.overwrite or args.out == DEMO_OUTPUT
    run(str(SAMPLE_CLIP), [args.out], ModelOptions(args.model, args.backend), PipelineOptions("offline", "side-by-side"),
        OutputOptions(overwrite=overwrite))
    print(f"wrote {args.out}: the bundled NIR sample clip (EPFL RGB-NIR validation images) | colourised by {args.model}")
    return 0


def register(sub) -> None:
    from nircolor.runtime.sinks import URI_HELP as SINK_HELP
    from nircolor.runtime.sources import URI_HELP as SOURCE_HELP

    r = sub.add_parser("run", help="colourise a camera, stream, video or images live (or offline with --policy offline)",
                       description=f"{SOURCE_HELP}\n{SINK_HELP}", formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("source", help="camera, stream URL, video file or image glob")
    r.add_argument("--output", action="append", help="where frames go; repeat for several (default display://)")
    r.add_argument("--policy", choices=["live", "offline"], help="default: live for cameras and streams, offline for files")
    add_runtime_options(r)
    r.set_defaults(func=_run)

    tc = sub.add_parser("transcode", help="colourise a recorded video into a new one, every frame, timestamps and audio kept",
                        description=f"{SOURCE_HELP}\n{SINK_HELP}", formatter_class=argparse.RawDescriptionHelpFormatter)
    tc.add_argument("source", nargs="+", help="input video (or image glob); with --cluster: recordings, folders and globs")
    tc.add_argument("output_file", help="output video, or a folder ending in / for PNGs; with --cluster: the output folder")
    tc.add_argument("--cluster", metavar="ADDRESS",
                    help="transcode many recordings on Ray: local (start Ray here), auto (the cluster this machine joined), "
                         "ray://HOST:10001 or HOST:PORT; outputs keep the inputs' names and folders under the output folder, "
                         "finished ones are skipped when run again, a summary goes to OUTPUT/fleet-summary.json (needs nircolor[cluster])")
    tc.add_argument("--workers", type=int, help="--cluster: at most this many workers (default: one per GPU, else per --cpus-per-worker CPUs)")
    tc.add_argument("--cpus-per-worker", dest="cpus_per_worker", type=float, default=1.0, help="--cluster: CPUs each CPU worker takes (1)")
    add_runtime_options(tc)
    tc.set_defaults(func=_run)

    d = sub.add_parser("demo", help="colourise the bundled NIR sample clip into a side-by-side video")
    d.add_argument("--out", default=DEMO_OUTPUT)
    d.add_argument("--overwrite", action="store_true", help="replace --out if it exists (the default output is always replaced)")
    d.add_argument("--model", default="default")
    add_backend_option(d)
    d.set_defaults(func=_demo)
