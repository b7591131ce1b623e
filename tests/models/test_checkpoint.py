import pytest
import torch

from nircolor.models import checkpoint
from nircolor.models.networks import create


def _card(net, arch="snet", options=None):
    return checkpoint.ModelCard(arch, options or {"width": 4}, net.multiple, provenance={"data": "test"})


def test_round_trip_keeps_outputs_and_metadata(tmp_path):
    net = create("snet", width=4).eval()
    path = checkpoint.save(tmp_path / "m.pt", net, _card(net))
    loaded, card = checkpoint.load(path)
    x = torch.rand(1, 1, 40, 24)
    with torch.no_grad():
        assert torch.allclose(net(x), loaded(x), atol=1e-5)
    assert card.architecture == "snet" and card.options == {"width": 4}
    assert card.pad_multiple == 16 and card.input_range == (0.0, 1.0) and card.output_range == (-1.0, 1.0)
    assert card.provenance == {"data": "test"}
    assert not loaded.training


def test_infer_size_round_trips_and_defaults_to_any_size(tmp_path):
    net = create("snet", width=4).eval()
    card = _card(net)
    card.infer_size = 480
    assert checkpoint.load(checkpoint.save(tmp_path / "small.pt", net, card))[1].infer_size == 480
    blob = checkpoint.read(checkpoint.save(tmp_path / "old.pt", net, _card(net)))
    del blob["infer_size"]  # as written before the field existed
    torch.save(blob, tmp_path / "old.pt")
    assert checkpoint.load(tmp_path / "old.pt")[1].infer_size is None


def test_half_storage_is_close_and_smaller(tmp_path):
    net = create("unet", width=8).eval()
    full = checkpoint.save(tmp_path / "f.pt", net, _card(net, "unet", {"width": 8}))
    half = checkpoint.save(tmp_path / "h.pt", net, _card(net, "unet", {"width": 8}), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = checkpoint.load(half)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert (net(x) - loaded(x)).abs().max() < 1e-2


def test_wrong_architecture_is_refused_with_advice(tmp_path):
    net = create("unet", width=4)
    path = checkpoint.save(tmp_path / "u.pt", net, _card(net, "unet"))
    with pytest.raises(checkpoint.CheckpointError, match=r"u.pt holds a 'unet' network, not 'snet'"):
        checkpoint.load(path, expect_architecture="snet")


def test_weights_that_do_not_fit_are_refused(tmp_path):
    net = create("snet", width=4)
    path = checkpoint.save(tmp_path / "lie.pt", net, checkpoint.ModelCard("snet", {"width": 8}, 16))
    with pytest.raises(checkpoint.CheckpointError, match="lie.pt: weights do not fit architecture 'snet'"):
        checkpoint.load(path)


def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(checkpoint.CheckpointError, match="junk.pt is not a PyTorch checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(checkpoint.CheckpointError, match="foreign.pt is not a nircolor checkpoint"):
        checkpoint.load(tmp_path / "foreign.pt")
    good = tmp_path / "good.pt"
    checkpoint.save(good, create("snet", width=4), _card(create("snet", width=4)))
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(checkpoint.CheckpointError, match="cut.pt is not"):
        checkpoint.load(tmp_path / "cut.pt")


def test_flip_average_option_is_set_on_a_trained_checkpoint_and_averages_mirror_images(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    options = {"width": 4, "context_width": 4}
    net = create("effnet_unet", **options).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # the zero-initialised head would make both guesses grey
    source = checkpoint.save(tmp_path / "m.pt", net, _card(net, "effnet_unet", options))
    before = source.read_bytes()
    script = Path(__file__).parents[2] / "scripts" / "set_options.py"
    done = subprocess.run([sys.executable, str(script), str(source), str(tmp_path / "flip.pt"), "flip_average=true"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert source.read_bytes() == before  # the source stays as it was
    flipped, card = checkpoint.load(tmp_path / "flip.pt")
    assert card.options == {**options, "flip_average": True} and card.provenance["options_changed"] == {"flip_average": True}
    x = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        plain, mirrored = net(x), torch.flip(net(torch.flip(x, dims=[-1])), dims=[-1])
        assert not torch.allclose(plain, mirrored, atol=1e-3)
        assert torch.allclose(flipped(x), (plain + mirrored) / 2, atol=1e-5)

    with pytest.raises(ValueError, match="no_such_option"):
        checkpoint.with_options(source, tmp_path / "bad.pt", no_such_option=True)
    with pytest.raises(checkpoint.CheckpointError, match="retrain"):
        checkpoint.with_options(source, tmp_path / "bad.pt", width=8)
    assert not (tmp_path / "bad.pt").exists()
    bad = subprocess.run([sys.executable, str(script), str(source), str(tmp_path / "bad.pt"), "flip_average"], capture_output=True, text=True)
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr


def test_average_of_checkpoints_is_the_mean_of_their_weights(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    torch.manual_seed(0)
    a, b = create("snet", width=4), create("snet", width=4)
    pa, pb = checkpoint.save(tmp_path / "a.pt", a, _card(a)), checkpoint.save(tmp_path / "b.pt", b, _card(b))
    soup, card = checkpoint.average([pa, pb])
    for k, v in soup.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (a.state_dict()[k] + b.state_dict()[k]) / 2)
    assert card.provenance["average_of"] == [str(pa), str(pb)]
    script = Path(__file__).parents[2] / "scripts" / "soup.py"
    done = subprocess.run([sys.executable, str(script), str(pa), str(pb), str(tmp_path / "soup.pt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded, _ = checkpoint.load(tmp_path / "soup.pt")
    torch.testing.assert_close(loaded.state_dict(), soup.state_dict())

    wider = create("snet", width=8)
    pw = checkpoint.save(tmp_path / "w.pt", wider, _card(wider, options={"width": 8}))
    with pytest.raises(checkpoint.CheckpointError, match="only runs of one recipe average"):
        checkpoint.average([pa, pw])
    with pytest.raises(checkpoint.CheckpointError, match="at least two"):
        checkpoint.average([pa])
