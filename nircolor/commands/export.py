"""`nircolor export` and `nircolor build`: checked ONNX, INT8, Triton and TensorRT artefacts."""

from __future__ import annotations

import argparse


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


def register(sub) -> None:
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
