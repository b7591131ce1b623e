"""What a user keeps is never overwritten, and bad options are refused before any work (issue 23)."""

import errno
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from nircolor.cli import main
from nircolor.runtime.app import report
from nircolor.runtime.pipeline import PipelineResult
from nircolor.runtime.sinks import SinkError

from .test_pipeline import make_clip

ORT = ["--backend", "onnxruntime", "--no-progress"]


def _frames(folder: Path, n: int = 3) -> list[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:04d}.png"), (rng.random((48, 64)) * 255).astype(np.uint8))
    return [p.read_bytes() for p in sorted(folder.glob("*.png"))]


def test_stats_json_never_replaces_a_file_without_overwrite_nor_an_output(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4")
    kept = tmp_path / "kept.json"
    kept.write_text("a user's file\n")
    assert main(["transcode", str(clip), str(tmp_path / "o.mp4"), "--stats-json", str(kept), *ORT]) == 2
    assert "already exists" in capsys.readouterr().err and kept.read_text() == "a user's file\n"
    assert not (tmp_path / "o.mp4").exists()
    # The run's own output as its statistics: refused even with --overwrite, nothing written.
    out = tmp_path / "so.mp4"
    assert main(["transcode", str(clip), str(out), "--stats-json", str(out), "--overwrite", *ORT]) == 2
    assert "also an output" in capsys.readouterr().err and not out.exists()


def test_an_image_folder_is_never_its_own_output(tmp_path, capsys):
    frames = tmp_path / "frames"
    before = _frames(frames)
    for target in (str(frames), str(frames) + "/", str(frames / ".") + "/"):
        assert main(["transcode", str(frames), target if target.endswith("/") else target + "/", "--overwrite", *ORT]) == 2
        assert "holds the input images" in capsys.readouterr().err
    assert main(["transcode", str(frames / "*.png"), str(frames) + "/", "--overwrite", *ORT]) == 2
    assert [p.read_bytes() for p in sorted(frames.glob("*.png"))] == before and len(list(frames.iterdir())) == 3


@pytest.mark.parametrize("option, value, message", [("--max-frames", "-5", "not a positive number of frames"),
                                                     ("--max-frames", "0", "not a positive number of frames"),
                                                     ("--infer-scale", "0", "not a fraction of the frame size"),
                                                     ("--infer-scale", "1.5", "not a fraction of the frame size")])
def test_bad_numbers_are_refused_before_any_work(tmp_path, capsys, option, value, message):
    clip = make_clip(tmp_path / "c.mp4")
    with pytest.raises(SystemExit) as stop:
        main(["transcode", str(clip), str(tmp_path / "o.mp4"), option, value, *ORT])
    assert stop.value.code == 2 and message in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()


def test_statistics_on_a_full_disk_say_so_and_leave_no_partial_file(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(SinkError, match="could not write the statistics .*No space left on device.*outputs are complete"):
        report(PipelineResult(policy="offline"), str(tmp_path / "s.json"))
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_matroska_file_is_reported_not_passed_as_complete(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mkv", frames=48, audio=True)  # 4 s at 12 fps, with sound
    assert main(["transcode", str(clip), str(tmp_path / "whole.mkv"), *ORT]) == 0
    data = clip.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    capsys.readouterr()
    assert main(["transcode", str(cut), str(tmp_path / "o.mkv"), *ORT]) == 3
    assert "its header announces: it is truncated or damaged" in capsys.readouterr().out


def test_one_image_too_small_is_skipped_and_mixed_sizes_are_said(tmp_path, capsys):
    frames = tmp_path / "frames"
    _frames(frames, 3)
    cv2.imwrite(str(frames / "0001.png"), np.full((8, 8), 90, np.uint8))  # a thumbnail among the frames
    cv2.imwrite(str(frames / "0003.png"), np.full((96, 128), 90, np.uint8))  # another size
    assert main(["transcode", str(frames), str(tmp_path / "o.mp4"), *ORT]) == 3
    out = capsys.readouterr().out
    assert "read 3 frames, wrote 3" in out and "a 8x8 frame is below the model's smallest side" in out
    assert "frame 2 is 128x96 but" in out and "are scaled to it" in out


def _first_times(path: Path) -> tuple[float, float]:
    """The first video frame's and the first audio frame's presentation time, in seconds."""
    import av

    with av.open(str(path)) as c:
        video = next(c.decode(video=0))
    with av.open(str(path)) as c:
        audio = next(c.decode(audio=0))
    return float(video.pts * video.time_base), float(audio.pts * audio.time_base)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="FFmpeg's command-line tool makes the moving test clip (apt-get install ffmpeg)")
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_picture_and_sound_keep_the_sources_timing(tmp_path, suffix):
    # A moving picture, so that the encoder uses B-frames (which shifted fragmented MP4 output by a frame).
    clip = tmp_path / f"c{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(clip)], check=True)
    out = tmp_path / f"o{suffix}"
    assert main(["transcode", str(clip), str(out), *ORT]) == 0
    (video_in, audio_in), (video_out, audio_out) = _first_times(clip), _first_times(out)
    half_frame = 0.5 / 30
    assert abs(video_out - video_in) < half_frame, (video_in, video_out)
    assert abs((video_out - audio_out) - (video_in - audio_in)) < half_frame
