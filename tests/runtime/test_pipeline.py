"""The threaded pipeline on real video: transcodes keep every frame, timestamps and audio; live
mode drops stale frames with bounded latency; errors and bad input are reported."""

import shutil
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from nircolor.cli import main
from nircolor.models import checkpoint, zoo
from nircolor.models.data import find_pairs, read_nir
from nircolor.models.inference import colorize
from nircolor.runtime.backends.base import ModelInfo, Runner
from nircolor.runtime.pipeline import Pipeline, PipelineConfig, PipelineError
from nircolor.runtime.sinks import NullSink, SinkError, open_sink
from nircolor.runtime.sources import SAMPLE_CLIP, Read, Source, SourceError, SourceInfo, Status, open_source


def make_clip(path, frames=12, fps=Fraction(12), size=(96, 64), audio=True):
    """A short NIR clip from the fixture pairs (panning crops), optionally with a tone track."""
    from pathlib import Path

    nirs = [read_nir(p.nir) for p in find_pairs(Path(__file__).parents[1] / "data" / "pairs")]
    w, h = size
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = None
        if audio:
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(frames):
            src = nirs[i % len(nirs)]
            x = i % (src.shape[1] - w + 1)  # a pan that wraps around, for clips of any length
            crop = src[: h, x : x + w]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="gray")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            t = np.arange(int(16000 * frames / float(fps))) / 16000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]), format="flt", layout="mono")
                af.sample_rate = 16000
                af.pts = start
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
    return path


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = v.average_rate
        pts = [float(f.pts * f.time_base) for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = [(s.codec_context.name, s.codec_context.sample_rate, sum(1 for _ in c.demux(s))) for s in c.streams.audio]
    return {"frames": len(pts), "fps": fps, "pts": pts, "audio": audio}


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "in.mp4")


def test_transcode_keeps_frames_rate_timestamps_and_audio(tmp_path, clip, capsys):
    out = tmp_path / "out.mp4"
    assert main(["transcode", str(clip), str(out), "--backend", "torch", "--device", "cpu", "--stats-json", str(tmp_path / "s.json"), "--no-progress"]) == 0
    src, got = probe(clip), probe(out)
    assert got["frames"] == src["frames"] == 12
    assert got["fps"] == src["fps"]
    assert got["pts"] == pytest.approx(src["pts"], abs=1e-3)
    assert got["audio"] == src["audio"] and got["audio"][0][2] > 5  # copied packet for packet
    printed = capsys.readouterr().out
    assert "read 12 frames, wrote 12, dropped 0" in printed and "end_to_end" in printed
    import json

    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames_written"] == 12 and stats["stats"]["infer"]["frames"] == 12 and stats["skipped"] == []


def test_output_frame_matches_single_image_inference(tmp_path, clip):
    assert main(["transcode", str(clip), str(tmp_path / "png") + "/", "--backend", "torch", "--device", "cpu", "--no-progress", "--batch", "4"]) == 0
    net, _ = checkpoint.load(zoo.resolve("default"))
    with av.open(str(clip)) as c:
        inputs = [f.to_ndarray(format="gray") for f in c.decode(c.streams.video[0])]
    for i in (0, 7, 11):
        written = cv2.cvtColor(cv2.imread(str(tmp_path / "png" / f"{i:06d}.png")), cv2.COLOR_BGR2RGB)
        expected = colorize(net, inputs[i])
        assert np.abs(written.astype(int) - expected).max() <= 1


def test_side_by_side_video_through_onnxruntime(tmp_path, clip, monkeypatch):
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "sbs.mkv"
    assert main(["transcode", str(clip), str(out), "--backend", "onnxruntime", "--layout", "side-by-side", "--no-progress"]) == 0
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (192, 64)


def test_bundled_sample_clip_is_real_video():
    info = probe(SAMPLE_CLIP)
    assert info["frames"] == 75 and info["fps"] == 15


class SlowRunner(Runner):
    name = "slow"

    def __init__(self, delay, fail_at=None):
        super().__init__()
        self.delay, self.fail_at, self.calls = delay, fail_at, 0

    def _load_impl(self):
        return ModelInfo("slow", "test", 16, "fp32", "cpu")

    def _infer_impl(self, batch):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("device lost")
        time.sleep(self.delay)
        return np.repeat(batch[:, 0, :, :, None], 3, axis=3)


class FastLiveSource(Source):
    """A camera-like source delivering `count` frames at `fps`, then ending."""

    def __init__(self, count, fps):
        self.info = SourceInfo("fake://camera", live=True, width=32, height=32, fps=Fraction(fps))
        self.count, self.period, self.i = count, 1.0 / fps, 0

    def read(self):
        if self.i >= self.count:
            return Read(Status.END, index=self.i)
        time.sleep(self.period)
        self.i += 1
        return Read(Status.OK, np.full((32, 32), self.i % 255, np.uint8), time.monotonic(), self.i - 1)


def test_live_policy_drops_stale_frames_and_keeps_latency_bounded():
    runner = SlowRunner(delay=0.05).load()
    result = Pipeline(FastLiveSource(120, fps=200), runner, [NullSink()], PipelineConfig(policy="live")).run()
    assert result.frames_read == 120
    assert result.dropped > 30 and result.frames_written + result.dropped == 120
    e2e = result.stats["end_to_end"]
    # Bounded: at most a frame waiting plus one in inference, never the whole backlog.
    assert e2e["max_ms"] < 4 * 50 + 50


def test_offline_policy_drops_nothing_and_keeps_order():
    runner = SlowRunner(delay=0.005).load()
    seen = []

    class Recorder(NullSink):
        def write(self, rgb, pts, overlay=""):
            seen.append(int(rgb[0, 0, 0]))
            return True

    result = Pipeline(FastLiveSource(40, fps=1000), runner, [Recorder()], PipelineConfig(policy="offline", batch=3)).run()
    assert result.dropped == 0 and result.frames_written == 40
    assert seen == [(i + 1) % 255 for i in range(40)]


def test_a_long_run_of_unusable_frames_is_counted_not_kept():
    """A failing camera that hands over 5,000 broken frames: all counted, the first 100 listed
    (what a report can show), memory bounded, and the run is not complete."""
    from nircolor.runtime.pipeline import SKIPPED_LISTED

    class Broken(FastLiveSource):
        def read(self):
            if self.i >= self.count:
                return Read(Status.END, index=self.i)
            self.i += 1
            return Read(Status.SKIP, index=self.i - 1, reason="corrupt frame")

    result = Pipeline(Broken(5000, fps=1000), SlowRunner(delay=0.0).load(), [NullSink()], PipelineConfig(policy="offline")).run()
    assert result.skipped_count == 5000 and len(result.skipped) == SKIPPED_LISTED == 100
    assert result.skipped[0][0] == 0 and not result.complete


def test_a_failing_stage_is_reported_not_swallowed():
    runner = SlowRunner(delay=0.0, fail_at=3).load()
    with pytest.raises(PipelineError, match="infer stage failed: RuntimeError: device lost"):
        Pipeline(FastLiveSource(50, fps=1000), runner, [NullSink()], PipelineConfig()).run()


def test_not_a_video_and_missing_file(tmp_path, capsys):
    (tmp_path / "notes.mp4").write_text("this is not a video")
    assert main(["transcode", str(tmp_path / "notes.mp4"), str(tmp_path / "o.mp4"), "--backend", "torch", "--no-progress"]) == 2
    assert "notes.mp4 is not a video FFmpeg can read" in capsys.readouterr().err
    assert main(["transcode", str(tmp_path / "none.mp4"), str(tmp_path / "o.mp4"), "--backend", "torch", "--no-progress"]) == 2
    assert "none.mp4 does not exist" in capsys.readouterr().err


def test_truncated_video_writes_what_it_read_and_says_so(tmp_path, clip, capsys):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    code = main(["transcode", str(cut), str(tmp_path / "png") + "/", "--backend", "torch", "--device", "cpu", "--no-progress"])
    printed = capsys.readouterr()
    if code == 2:  # the index was cut away: nothing decodable, said clearly
        assert "cut.mp4" in printed.err
    else:
        written = len(list((tmp_path / "png").glob("*.png")))
        assert f"wrote {written}" in printed.out and written < 12


def test_corrupt_image_in_a_folder_is_a_counted_reported_skip(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    pairs = find_pairs(__import__("pathlib").Path(__file__).parents[1] / "data" / "pairs")
    for i in range(4):
        shutil.copy(pairs[0].nir, frames / f"{i:03d}.jpg")
    (frames / "002.jpg").write_bytes(b"broken")
    code = main(["transcode", str(frames), str(tmp_path / "out") + "/", "--backend", "torch", "--device", "cpu", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 3
    assert "read 3 frames, wrote 3" in out and "could not use source frame 2: " in out and "002.jpg is not a readable image" in out
    assert "(missing from the output between output frames 1 and 2)" in out  # where, in the file the user gets


def test_uri_factories():
    assert type(open_source("0")).__name__ == "CameraSource"
    assert type(open_source("/dev/video3")).__name__ == "CameraSource"
    assert type(open_source("v4l2:///dev/video1")).__name__ == "CameraSource"
    assert type(open_source("rtsp://127.0.0.1:8554/cam")).__name__ == "StreamSource"
    assert type(open_source("frames/*.png")).__name__ == "ImageSource"
    assert type(open_source("clip.mkv")).__name__ == "VideoFileSource"
    assert type(open_sink("null://")).__name__ == "NullSink"
    assert type(open_sink("out/")).__name__ == "ImageFolderSink"
    with pytest.raises(SinkError, match="cannot tell what output"):
        open_sink("out.xyz")


def test_unreachable_camera_is_a_clear_error():
    with pytest.raises(SourceError, match="camera 9 cannot be opened"):
        open_source("9").open()


def test_demo_writes_the_side_by_side_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--out", str(out)]) == 0
    info = probe(out)
    assert info["frames"] == 75 and info["fps"] == 15
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.width == 960
    assert "read 75 frames, wrote 75, dropped 0" in capsys.readouterr().out


def test_display_without_a_gui_says_what_to_install():
    import cv2

    if cv2.getBuildInformation().split("GUI:")[1].split()[0] != "NONE":
        pytest.skip("this OpenCV has a GUI backend, so a window may open")
    with pytest.raises(SinkError, match="cannot open a window .*opencv-contrib-python"):
        open_sink("display://").open(SourceInfo("x", live=True), (64, 64))


def test_realtime_file_source_is_paced_to_its_timestamps(tmp_path):
    from nircolor.runtime.sources import Status, VideoFileSource

    clip = make_clip(tmp_path / "c.mp4", frames=6, fps=Fraction(20), audio=False)
    with VideoFileSource(str(clip), realtime=True) as paced:
        start = time.monotonic()
        reads = [paced.read() for _ in range(6)]
        elapsed = time.monotonic() - start
    assert all(r.status is Status.OK for r in reads)
    assert elapsed >= 0.95 * (reads[-1].pts - reads[0].pts) > 0  # no faster than the clip's own rate


def test_live_run_of_a_recording_plays_it_at_its_rate(tmp_path):
    import json

    clip = make_clip(tmp_path / "c.mp4", frames=8, fps=Fraction(20), audio=False)
    assert main(["run", str(clip), "--output", "null://", "--policy", "live", "--backend", "torch", "--device", "cpu",
                 "--stats-json", str(tmp_path / "s.json"), "--no-progress"]) == 0
    stats = json.loads((tmp_path / "s.json").read_text())["stats"]
    assert stats["capture"]["frames"] == 8 and stats["capture"]["fps"] < 30  # read as a 20-fps camera delivers it
