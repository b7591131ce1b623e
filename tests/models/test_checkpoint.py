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
