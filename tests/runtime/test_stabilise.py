"""The temporal stabiliser: less shimmer where the scene holds still or moves as the flow says,
the current frame as it is where the flow cannot be trusted, and a fresh start at cuts."""

import cv2
import numpy as np
import pytest

from nircolor.models.data import find_pairs, read_nir
from nircolor.runtime.stabilise import TemporalStabiliser

from .test_pipeline import make_clip


@pytest.fixture(scope="module", params=[1, 4], ids=["160x120", "640x480"])
def scene(request):
    """A real NIR photograph at 160x120 (flow at full size) and at 640x480 (flow on a 320 px copy,
    the sampling map and the trust mask resized up)."""
    from pathlib import Path

    nir = read_nir(find_pairs(Path(__file__).parents[1] / "data" / "pairs")[0].nir)
    k = request.param
    return cv2.resize(nir, (160 * k, 120 * k), interpolation=cv2.INTER_AREA)


def colour_of(nir: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colorizer that passes the NIR's sensor noise through, as the shipped head does."""
    noisy = np.clip(nir.astype(np.float32) + rng.normal(0, 6, nir.shape), 0, 255)
    return np.stack([noisy, 0.8 * noisy, 0.5 * noisy], axis=-1).astype(np.uint8)


def test_a_noisy_night_camera_is_still_trusted(scene):
    """The NIR itself carries the sensor's noise (σ 8 grey levels, as a night camera's): that is
    no change of the scene, so the history is still used (before the trust check blurred, most
    pixels of such frames failed it and kept their shimmer)."""
    rng = np.random.default_rng(1)
    stabiliser = TemporalStabiliser()
    clean = np.stack([scene, 0.8 * scene, 0.5 * scene], axis=-1).astype(np.float32)
    raw_err, stable_err = [], []
    for _ in range(20):
        nir = np.clip(scene + rng.normal(0, 8, scene.shape), 0, 255).astype(np.uint8)
        frame = colour_of(nir, rng)
        out = stabiliser(nir, frame)
        raw_err.append(np.abs(frame - clean).mean())
        stable_err.append(np.abs(out.astype(np.float32) - clean).mean())
    assert np.mean(stable_err[5:]) < 0.6 * np.mean(raw_err[5:])


def test_noise_on_a_still_scene_is_smoothed_without_a_bias(scene):
    rng = np.random.default_rng(0)
    stabiliser = TemporalStabiliser()
    clean = np.stack([scene, 0.8 * scene, 0.5 * scene], axis=-1).astype(np.float32)
    raw_err, stable_err = [], []
    for _ in range(20):
        frame = colour_of(scene, rng)
        out = stabiliser(scene, frame)
        raw_err.append(np.abs(frame - clean).mean())
        stable_err.append(np.abs(out.astype(np.float32) - clean).mean())
    assert np.mean(stable_err[5:]) < 0.6 * np.mean(raw_err[5:])
    assert abs(float(out.astype(np.float32).mean() - clean.mean())) < 1.5  # no drift of the colour


def test_a_moving_scene_is_followed_not_smeared(scene):
    rng = np.random.default_rng(1)
    stabiliser = TemporalStabiliser()
    k = scene.shape[1] // 160
    wide = cv2.resize(scene, (200 * k, 120 * k))
    for shift in range(0, 30 * k, 3 * k):  # the camera pans 3 px a frame at 160x120
        view = np.ascontiguousarray(wide[:, shift: shift + 160 * k])
        out = stabiliser(view, colour_of(view, rng))
    expected = np.stack([view, 0.8 * view, 0.5 * view], axis=-1).astype(np.float32)
    assert np.abs(out.astype(np.float32) - expected).mean() < 5  # aligned: a smeared history would be far off


def test_untrusted_pixels_and_cuts_show_the_current_frame(scene):
    stabiliser = TemporalStabiliser()
    rng = np.random.default_rng(2)
    stabiliser(scene, colour_of(scene, rng))
    k = scene.shape[1] // 160
    changed = scene.copy()
    changed[40 * k:80 * k, 60 * k:100 * k] = 255  # something new appears
    frame = colour_of(changed, rng)
    out = stabiliser(changed, frame)
    inner = (slice(50 * k, 70 * k), slice(70 * k, 90 * k))
    assert np.abs(out[inner].astype(int) - frame[inner].astype(int)).max() <= 2
    cut = 255 - scene  # a new scene: nothing of the old one may remain
    frame = colour_of(cut, rng)
    assert np.array_equal(stabiliser(cut, frame), frame)
    small = cv2.resize(scene, (scene.shape[1] // 2, scene.shape[0] // 2))
    frame = colour_of(small, rng)
    assert np.array_equal(stabiliser(small, frame), frame)  # a new size starts afresh


def test_weight_is_checked():
    with pytest.raises(ValueError, match="weight"):
        TemporalStabiliser(weight=0.0)


def test_video_and_image_sequences_are_stabilised_by_default_and_a_single_image_is_not(tmp_path, capsys):
    from nircolor.cli import main

    clip = make_clip(tmp_path / "in.mp4", audio=False)
    assert main(["transcode", str(clip), str(tmp_path / "a") + "/", "--backend", "onnxruntime", "--no-progress", "--no-stabilise"]) == 0
    assert main(["transcode", str(clip), str(tmp_path / "b") + "/", "--backend", "onnxruntime", "--no-progress"]) == 0
    assert "temporal stabiliser on" in capsys.readouterr().out
    a = [cv2.imread(str(p)) for p in sorted((tmp_path / "a").glob("*.png"))]
    b = [cv2.imread(str(p)) for p in sorted((tmp_path / "b").glob("*.png"))]
    assert len(a) == len(b) == 12 and np.array_equal(a[0], b[0])  # the first frame has no history
    assert any(not np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))
    # The same frames saved as a numbered sequence: a video frame by frame, stabilised alike.
    frames = tmp_path / "frames"
    frames.mkdir()
    import av

    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            cv2.imwrite(str(frames / f"{i:04d}.png"), frame.to_ndarray(format="gray"))
    assert main(["transcode", str(frames / "*.png"), str(tmp_path / "c") + "/", "--backend", "onnxruntime", "--no-progress"]) == 0
    assert "temporal stabiliser on" in capsys.readouterr().out
    assert main(["transcode", str(frames), str(tmp_path / "d") + "/", "--backend", "onnxruntime", "--no-progress", "--no-stabilise"]) == 0
    c, d = (sorted((tmp_path / x).glob("*.png")) for x in "cd")
    assert len(c) == len(d) == 12 and any(not np.array_equal(cv2.imread(str(x)), cv2.imread(str(y))) for x, y in zip(c[1:], d[1:]))
    # One image given by itself is a still: coloured on its own, as the exported graph does.
    capsys.readouterr()
    assert main(["transcode", str(frames / "0002.png"), str(tmp_path / "e") + "/", "--backend", "onnxruntime", "--no-progress"]) == 0
    assert "temporal stabiliser on" not in capsys.readouterr().out