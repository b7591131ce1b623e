import numpy as np
import pytest

from nircolor.cli import main
from nircolor.models.upsample import GuidedUpsampling


def test_guided_restore_follows_the_nir_edges():
    nir = np.zeros((64, 64), np.uint8)
    nir[:, 31:] = 255  # a sharp vertical edge at column 31
    up = GuidedUpsampling(0.25, radius=4, eps=0.001)
    small = up.downscale(nir)
    rgb_small = np.repeat(small[:, :, None], 3, axis=2)
    restored = up.restore(rgb_small, nir)
    import cv2

    bilinear = cv2.resize(rgb_small, (64, 64), interpolation=cv2.INTER_LINEAR)
    step_restored = int(restored[32, 31, 0]) - int(restored[32, 30, 0])
    step_bilinear = int(bilinear[32, 31, 0]) - int(bilinear[32, 30, 0])
    assert restored.shape == (64, 64, 3) and restored.dtype == np.uint8
    assert step_restored > 2 * step_bilinear


def test_scale_must_be_a_fraction():
    with pytest.raises(ValueError, match="between 0 and 1"):
        GuidedUpsampling(1.5)


def test_transcode_with_guided_upsampling_keeps_full_size(tmp_path):
    from ..runtime.test_pipeline import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    assert main(["transcode", str(clip), str(tmp_path / "png") + "/", "--backend", "torch", "--device", "cpu",
                 "--infer-scale", "0.5", "--no-progress"]) == 0
    import cv2

    assert cv2.imread(str(tmp_path / "png" / "000003.png")).shape == (64, 96, 3)


def test_model_with_a_working_size_runs_there_unless_told(tmp_path):
    import torch

    from nircolor.models import checkpoint
    from nircolor.models.networks import create

    from ..runtime.test_pipeline import make_clip

    torch.manual_seed(0)
    net = create("snet", width=4).eval()
    card = checkpoint.ModelCard("snet", {"width": 4}, net.multiple, infer_size=48)
    model = checkpoint.save(tmp_path / "small.pt", net, card)
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=False)  # 96x64 frames
    import av
    import cv2
    import numpy as np

    from nircolor.models.inference import colorize

    with av.open(str(clip)) as c:
        last = [f.to_ndarray(format="gray") for f in c.decode(c.streams.video[0])][-1]
    expected = {"metadata": colorize(net, last, infer_size=48), "override": colorize(net, last)}
    assert np.abs(expected["metadata"].astype(int) - expected["override"]).max() > 5  # the two runs differ
    for label, extra in (("metadata", []), ("override", ["--infer-scale", "1"])):
        assert main(["transcode", str(clip), str(tmp_path / label) + "/", "--model", str(model), "--backend", "torch",
                     "--device", "cpu", "--no-progress", *extra]) == 0
        written = cv2.cvtColor(cv2.imread(str(tmp_path / label / "000002.png")), cv2.COLOR_BGR2RGB)
        assert written.shape == (64, 96, 3) and np.abs(written.astype(int) - expected[label]).max() <= 1
