"""A recorder that survives the car: kills, signals, in-place writes, full disks, truncated
inputs, hours of running. Each test here failed on the main of 2026-11-23 morning."""

import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nircolor.cli import main
from nircolor.runtime.sources import ImageSource, SourceInfo, VideoFileSource, open_source
from nircolor.runtime.stats import LatencyHistogram, StageStats

from .test_pipeline import make_clip

CLI = [sys.executable, "-m", "nircolor.cli"]


def decoded_frames(path) -> int:
    """Frames a player gets out of `path`, passing over a damaged last packet as a player does;
    raises if the file cannot be opened at all."""
    frames = 0
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            try:
                frames += len(packet.decode())
            except av.error.InvalidDataError:
                continue
    return frames


def durations(path) -> tuple[float, float]:
    """(video, audio) seconds actually present in the file, from packet timestamps."""
    ends = {}
    with av.open(str(path)) as c:
        for s in (c.streams.video[0], c.streams.audio[0]):
            ends[s.type] = max(float((p.pts + (p.duration or 0)) * p.time_base) for p in c.demux(s) if p.pts is not None)
            c.seek(0)
    return ends["video"], ends["audio"]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """20 s at 24 fps with audio: long enough that a kill lands midway."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=480, fps=Fraction(24), size=(112, 64))


def start(args, tmp_path):
    env = {**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "cache")}
    return subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_growth(path: Path, proc, size: int = 40_000, timeout: float = 120) -> None:
    """Until the output holds `size` bytes (some fragments are on disk)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size >= size:
            return
        if proc.poll() is not None:
            raise AssertionError(f"finished before the kill: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the output never grew")


# Recordings survive a kill.

@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_a_killed_recorder_loses_at_most_about_a_second(tmp_path, suffix):
    """SIGKILL right after 90 frames (3 s at 30 fps) were handed to the sink: what is on disk
    decodes, and at most 30 frames (one second, encoder delay included) are missing."""
    script = tmp_path / "record.py"
    script.write_text(
        "import os, signal, sys\nfrom fractions import Fraction\nimport numpy as np\n"
        "from nircolor.runtime.sinks import VideoFileSink\nfrom nircolor.runtime.sources import SourceInfo\n"
        "sink = VideoFileSink(sys.argv[1]).open(SourceInfo('x', False, 160, 120, Fraction(30), None, Fraction(1, 30)), (160, 120))\n"
        "base = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)\n"
        "for i in range(90):\n    sink.write(np.ascontiguousarray(base[:, i % 40 : i % 40 + 160]), i / 30)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    out = tmp_path / f"rec{suffix}"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # never finished: the name asked for is not taken by a cut recording
    assert 60 <= decoded_frames(tmp_path / f"rec.partial{suffix}") <= 90


@pytest.mark.parametrize("command", ["transcode", "run"])
def test_sigkill_midway_leaves_a_playable_file(tmp_path, long_clip, command):
    out = tmp_path / "rec.mp4"
    args = [command, str(long_clip), str(out)] if command == "transcode" else ["run", str(long_clip), "--output", str(out), "--policy", "live"]
    proc = start(args + ["--backend", "torch", "--no-progress"], tmp_path)
    partial = tmp_path / "rec.partial.mp4"
    wait_for_growth(partial, proc)
    proc.kill()
    proc.wait()
    assert 0 < decoded_frames(partial) < 480 and not out.exists()


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_drains_finalizes_and_exits_non_zero(tmp_path, long_clip, signame):
    out, partial = tmp_path / "out.mp4", tmp_path / "out.partial.mp4"
    proc = start(["transcode", str(long_clip), str(out), "--backend", "torch", "--no-progress"], tmp_path)
    wait_for_growth(partial, proc)
    proc.send_signal(getattr(signal, signame))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, signame), (stdout, stderr)
    line = next(line for line in stdout.splitlines() if line.startswith("read "))
    read, wrote = int(line.split()[1]), int(line.split()[4].rstrip(","))
    assert f"interrupted ({signame})" in line and 0 < wrote == read < 480
    # A transcode stopped early is finalized but keeps its partial name, and says so.
    assert not out.exists() and f"{out} was not finished" in stdout + stderr
    assert decoded_frames(partial) == wrote  # the count printed is what the file holds
    video, audio = durations(partial)
    assert audio <= video + 0.15  # audio only for the span written (to an AAC packet), not the whole input's


def test_a_second_signal_stops_at_once_and_still_finalizes(tmp_path, long_clip):
    out, partial = tmp_path / "out.mkv", tmp_path / "out.partial.mkv"
    proc = start(["transcode", str(long_clip), str(out), "--backend", "torch", "--no-progress"], tmp_path)
    wait_for_growth(partial, proc)
    proc.send_signal(signal.SIGTERM)
    proc.stderr.readline()  # the first was handled: the second lands during the drain or the finalizing
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert 0 < decoded_frames(partial) < 480 and not out.exists()
    with av.open(str(partial)) as c:  # finalized: Matroska's duration is written at close
        assert c.duration is not None and c.duration > 0


def test_a_live_recording_stopped_by_the_user_takes_its_name(tmp_path, long_clip):
    """Stopping is how a live run ends: the recording is finished, under the name asked for."""
    out = tmp_path / "drive.mp4"
    proc = start(["run", str(long_clip), "--output", str(out), "--policy", "live", "--backend", "torch", "--no-progress"], tmp_path)
    wait_for_growth(tmp_path / "drive.partial.mp4", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr  # how a camera run ends
    assert 0 < decoded_frames(out) < 480 and not (tmp_path / "drive.partial.mp4").exists()


def test_a_finished_transcode_leaves_only_its_output(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12)
    out = tmp_path / "out" / "o.mp4"
    assert main(["transcode", str(clip), str(out), "--backend", "onnxruntime", "--no-progress"]) == 0
    assert decoded_frames(out) == 12 and sorted(p.name for p in out.parent.iterdir()) == ["o.mp4"]


def test_a_leftover_partial_recording_is_replaced_with_a_note(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    (tmp_path / "o.partial.mp4").write_bytes(b"cut by a power loss")
    assert main(["transcode", str(clip), str(tmp_path / "o.mp4"), "--backend", "onnxruntime", "--no-progress"]) == 0
    assert "replacing" in capsys.readouterr().out and decoded_frames(tmp_path / "o.mp4") == 6
    assert not (tmp_path / "o.partial.mp4").exists()


def test_signals_ask_first_to_drain_then_to_stop_and_are_restored():
    from nircolor.runtime.signals import StopOnSignals

    calls, logged = [], []
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignals(lambda name, drain: calls.append((name, drain)), log=logged.append) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.01)
    assert calls == [("SIGTERM", True), ("SIGHUP", False)] and stop.exit_status == 143
    assert "stopping now" in logged[1] and signal.getsignal(signal.SIGTERM) is before


def test_max_frames_keeps_audio_only_for_the_video_written(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=36, fps=Fraction(12))
    out = tmp_path / "out.mp4"
    assert main(["transcode", str(clip), str(out), "--backend", "torch", "--max-frames", "12", "--no-progress"]) == 0
    video, audio = durations(out)
    assert decoded_frames(out) == 12 and video == pytest.approx(1.0, abs=0.05)
    assert audio <= video + 0.15  # it carried all 3 s of audio


# Nothing is overwritten or left half-written.

def test_the_input_is_never_the_output(tmp_path, capsys):
    clip = make_clip(tmp_path / "s.mp4")
    before = clip.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    for output in (clip, link, tmp_path / "." / "s.mp4"):
        assert main(["transcode", str(clip), str(output), "--backend", "torch", "--no-progress", "--overwrite"]) == 2
        assert "is the input" in capsys.readouterr().err
    assert clip.read_bytes() == before


def test_an_existing_output_is_kept_unless_overwrite_is_given(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the user's earlier recording")
    assert main(["transcode", str(clip), str(out), "--backend", "torch", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"the user's earlier recording"
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "000000.png").write_bytes(b"kept")
    assert main(["transcode", str(clip), str(frames) + "/", "--backend", "torch", "--no-progress"]) == 2
    assert (frames / "000000.png").read_bytes() == b"kept"
    assert main(["transcode", str(clip), str(out), "--backend", "torch", "--no-progress", "--overwrite"]) == 0
    assert decoded_frames(out) == 12


def test_output_paths_are_checked_before_the_model_loads(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # The model does not exist either: the output is what gets reported, first and by name.
    assert main(["transcode", str(clip), str(blocker / "out.mp4"), "--model", "no-such-model", "--no-progress"]) == 2
    assert f"cannot write video {blocker / 'out.mp4'}" in capsys.readouterr().err
    assert main(["transcode", str(clip), str(tmp_path / "ok.mp4"), "--model", "no-such-model", "--no-progress",
                 "--stats-json", str(blocker / "s.json")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write statistics {blocker / 's.json'}" in err and not (tmp_path / "ok.mp4").exists()


def test_a_write_error_stops_at_once_and_keeps_what_was_written(tmp_path, long_clip):
    """A file-size limit makes writes fail with an OS error mid-run, as a full disk does."""
    out = tmp_path / "out.mp4"
    limit = "import resource, signal, runpy, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); " \
            "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000)); sys.argv = ['nircolor'] + sys.argv[1:]; " \
            "runpy.run_module('nircolor.cli', run_name='__main__')"
    proc = subprocess.run([sys.executable, "-c", limit, "transcode", str(long_clip), str(out), "--backend", "torch", "--no-progress"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NIRCOLOR_CACHE": str(tmp_path / "c")})
    assert proc.returncode == 2, proc.stderr
    assert f"writing {out} failed after" in proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("read "))
    wrote = int(line.split()[4].rstrip(","))
    assert 0 < wrote < 480 and "error in output" in line
    partial = tmp_path / "out.partial.mp4"
    assert not out.exists() and f"in {partial}" in proc.stderr  # the name says it is not finished
    assert 0 < decoded_frames(partial) <= wrote  # found at the first failing write, not at the end of the clip


# Inputs that are not what they seem.

def test_a_truncated_faststart_mp4_is_reported_not_passed_as_complete(tmp_path, capsys):
    whole = make_clip(tmp_path / "whole.mp4", frames=30, audio=False)
    fast = tmp_path / "fast.mp4"
    with av.open(str(whole)) as src, av.open(str(fast), "w", container_options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    cut = tmp_path / "cut.mp4"
    data = fast.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert main(["transcode", str(cut), str(tmp_path / "out.mp4"), "--backend", "torch", "--no-progress"]) == 3
    printed = capsys.readouterr().out
    assert "of the 30 frames its header announces" in printed


def test_a_path_that_exists_is_a_file_first(tmp_path):
    clip = make_clip(tmp_path / "in.mp4")
    for name in ("drive[1].mp4", "what?.mp4", "20240101"):
        shutil.copy(clip, tmp_path / name)
        source = open_source(str(tmp_path / name))
        assert isinstance(source, VideoFileSource)
        with source:
            assert source.read().frame is not None
    png = tmp_path / "frame[0].png"
    png.write_bytes((Path(__file__).parents[1] / "data" / "pairs").glob("*/*_nir.*").__next__().read_bytes())
    assert isinstance(open_source(str(png)), ImageSource) and open_source(str(png)).open().info.frames == 1
    assert not isinstance(open_source("20240102"), VideoFileSource)  # no such file: a camera index, as before


def test_cuda_without_a_cuda_provider_names_the_flag_that_exists(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4")
    assert main(["transcode", str(clip), str(tmp_path / "o.mp4"), "--backend", "onnxruntime", "--device", "cuda", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--device cpu" in err and "--provider" not in err


# Hours of running cost what a minute does.

def test_latency_statistics_are_bounded_and_still_accurate():
    rng = np.random.default_rng(0)
    samples = rng.lognormal(np.log(0.02), 0.5, 50_000)
    stage = StageStats("infer")
    size = stage.latencies.counts.nbytes
    for s in samples:
        stage.record(float(s))
    assert stage.latencies.counts.nbytes == size  # no per-frame list
    summary = stage.summary()
    for q in (50, 95, 99):
        assert summary[f"p{q}_ms"] == pytest.approx(1000 * np.percentile(samples, q), rel=0.025)
    assert summary["max_ms"] == pytest.approx(1000 * samples.max()) and summary["frames"] == 50_000
    assert LatencyHistogram().percentile(50) == 0.0


def test_the_overlay_is_drawn_only_for_a_sink_a_person_watches(tmp_path):
    from nircolor.runtime.pipeline import Pipeline, PipelineConfig
    from nircolor.runtime.sinks import NullSink

    from .test_pipeline import FastLiveSource, SlowRunner

    class Recording(NullSink):
        def __init__(self, shows):
            super().__init__()
            self.shows_overlay, self.overlays = shows, []

        def write(self, rgb, pts, overlay=""):
            self.overlays.append(overlay)
            return super().write(rgb, pts, overlay)

    for shows in (False, True):
        sink = Recording(shows)
        Pipeline(FastLiveSource(5, fps=1000), SlowRunner(0.0).load(), [sink], PipelineConfig()).run()
        assert all(o.endswith(" ms") for o in sink.overlays) if shows else sink.overlays == [""] * 5


# Decisions follow the frame.

def test_each_frame_is_seen_at_its_own_working_scale():
    from nircolor.models.upsample import WorkingSize
    from nircolor.runtime.backends.base import ModelInfo, Runner
    from nircolor.runtime.pipeline import Pipeline, PipelineConfig
    from nircolor.runtime.sinks import NullSink
    from nircolor.runtime.sources import Read, Source, Status

    class Grey(Runner):
        name = "grey"

        def __init__(self):
            super().__init__()
            self.shapes = []

        def _load_impl(self):
            return ModelInfo("grey", "test", 16, "fp32", "cpu", infer_size=384)

        def _infer_impl(self, batch):
            self.shapes.append(batch.shape[2:])
            return np.repeat(batch[:, 0, :, :, None], 3, axis=3)

    class Mixed(Source):  # a folder of mixed sizes, or a stream that reconnects at another size
        sizes = [(64, 96), (600, 800), (64, 96)]
        info = SourceInfo("mixed", live=False, width=96, height=64)

        def __init__(self):
            self.i = 0

        def read(self):
            if self.i == len(self.sizes):
                return Read(Status.END, index=self.i)
            self.i += 1
            return Read(Status.OK, np.full(self.sizes[self.i - 1], 90, np.uint8), None, self.i - 1)

    runner, sink = Grey().load(), NullSink()
    outputs = []
    sink.write = lambda rgb, pts, overlay="": outputs.append(rgb.shape) or True
    Pipeline(Mixed(), runner, [sink], PipelineConfig(batch=1, working=WorkingSize(384))).run()
    assert [tuple(s) for s in runner.shapes] == [(64, 96), (288, 384), (64, 96)]  # 800x600 seen at 384x288
    assert outputs == [(64, 96, 3), (600, 800, 3), (64, 96, 3)]


def test_pipeline_output_with_upsampling_matches_the_reference(tmp_path):
    """The sample clip (480x320) is never upsampled by the default model; a 1024x680 frame is."""
    from nircolor.models import checkpoint, zoo
    from nircolor.models.data import find_pairs, read_nir
    from nircolor.models.inference import colorize
    from nircolor.models.upsample import working_scale

    pair = find_pairs(Path(__file__).parents[1] / "data" / "pairs")[0]
    nir = read_nir(pair.nir)
    frame = np.ascontiguousarray(np.tile(nir, (8, 8))[:680, :1024])
    import cv2

    cv2.imwrite(str(tmp_path / "big.png"), frame)
    assert main(["transcode", str(tmp_path / "big.png"), str(tmp_path / "out") + "/", "--backend", "torch", "--no-progress"]) == 0
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "000000.png")), cv2.COLOR_BGR2RGB)
    net, card = checkpoint.load(zoo.resolve("default"))
    assert working_scale(680, 1024, card.infer_size) < 1
    expected = colorize(net, frame, infer_size=card.infer_size)
    assert written.shape == (680, 1024, 3) and np.abs(written.astype(int) - expected).max() <= 1
    # The host's own padding and upsampling (--infer-scale) give nearly the same picture.
    assert main(["transcode", str(tmp_path / "big.png"), str(tmp_path / "host") + "/", "--backend", "torch", "--no-progress",
                 "--infer-scale", str(working_scale(680, 1024, card.infer_size))]) == 0
    host = cv2.cvtColor(cv2.imread(str(tmp_path / "host" / "000000.png")), cv2.COLOR_BGR2RGB)
    assert 10 * np.log10(255**2 / np.mean((host.astype(float) - expected) ** 2)) > 28


def test_twelve_bit_data_in_sixteen_bit_pngs_is_not_black(tmp_path, capsys):
    import cv2

    from nircolor.models.data import find_pairs, read_nir

    nir = read_nir(find_pairs(Path(__file__).parents[1] / "data" / "pairs")[0].nir)
    folder = tmp_path / "raw"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), (nir.astype(np.uint32) * 4095 // 255).astype(np.uint16))  # a 12-bit sensor's PNG
    with open_source(str(folder)) as source:
        frame = source.read().frame
    assert np.abs(frame.astype(int) - nir).max() <= 1 and "as 12-bit" in capsys.readouterr().out
    with open_source(str(folder)) as source:
        source.bits = 16
        assert source.read().frame.max() <= 16  # what every 16-bit PNG gave before: nearly black


# Live sources: stalls, clocks, Ctrl-C while connecting.

class FakeCamera:
    """A live source whose device clock counts from boot, that can stall or be slow to connect."""

    @staticmethod
    def make(stall_after=None, connect_seconds=0.0, stall_seconds=3600.0):
        from nircolor.runtime.sources import _Reconnecting

        class Camera(_Reconnecting):
            def __init__(self):
                super().__init__("fake://camera", read_timeout=0.3, log=lambda text: None)
                self.frames, self.connections, self.released = 0, 0, []

            def _connect(self):
                time.sleep(connect_seconds)
                self.connections += 1
                connection = self.connections
                return lambda: self.released.append(connection)

            def _grab(self):
                self.frames += 1
                if stall_after is not None and self.frames == stall_after + 1:
                    time.sleep(stall_seconds)  # a USB camera that stops delivering without an error
                time.sleep(0.01)
                return np.full((8, 8), 50, np.uint8), 705.7 + self.frames / 30  # seconds since boot

        return Camera()


def test_live_timestamps_start_at_zero_and_a_stalled_camera_times_out():
    from nircolor.runtime.sources import Status

    camera = FakeCamera.make(stall_after=3).open()
    reads = [camera.read() for _ in range(3)]
    assert reads[0].pts == 0.0 and reads[2].pts == pytest.approx(2 / 30, abs=1e-6)
    start = time.monotonic()
    stalled = camera.read()
    assert stalled.status is Status.TIMEOUT and "stalled" in stalled.reason
    assert time.monotonic() - start < 1.0  # read_timeout is 0.3 s; it used to block for good


def test_reconnects_leave_no_thread_or_device_behind():
    """A camera that stalls once for 1 s: the source reconnects at once; when the stuck read comes
    back, its thread ends and closes the first connection's device (it used to wait for good)."""
    from nircolor.runtime.sources import Status

    camera = FakeCamera.make(stall_after=2, stall_seconds=1.0)
    camera.backoff_start = 0.01
    camera.open()
    first = camera._grabber
    reads = [camera.read() for _ in range(3)]
    assert [r.status for r in reads] == [Status.OK, Status.OK, Status.TIMEOUT] and camera.released == []
    deadline = time.monotonic() + 10
    while camera.connections < 2 and time.monotonic() < deadline:
        camera.read()
    assert camera.connections == 2 and camera.read().status is Status.OK
    first.thread.join(timeout=10)
    assert not first.thread.is_alive() and camera.released == [1]  # the stuck one, not the live one
    camera.close()
    assert camera.released == [1, 2]


def test_ctrl_c_while_connecting_stops_at_once():
    import threading

    # A connection that would take a minute; Ctrl-C after 0.2 s must end it long before that. The
    # margin is wide so that a loaded machine (a full test run) cannot fail it: "at once" here
    # means "not after the connect timeout", which is what the user waits for otherwise.
    camera = FakeCamera.make(connect_seconds=30.0)
    sent = []
    # Python's own Ctrl-C handling, whatever a library loaded earlier in the test run left installed.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.2, lambda: (sent.append(time.monotonic()), os.kill(os.getpid(), signal.SIGINT))).start()
        with pytest.raises(KeyboardInterrupt):
            camera.open()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent and time.monotonic() - sent[0] < 15


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="FFmpeg's command-line tool writes the rotation metadata (apt-get install ffmpeg)")
def test_rotation_metadata_is_applied_so_the_output_plays_upright(tmp_path, capsys):
    import cv2

    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    turned = tmp_path / "turned.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(clip), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(turned)], check=True)
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(turned), "-frames:v", "1", "-pix_fmt", "gray", str(tmp_path / "upright.png")], check=True)
    upright = cv2.imread(str(tmp_path / "upright.png"), cv2.IMREAD_GRAYSCALE)  # what a player shows
    with open_source(str(turned)) as source:
        assert (source.info.height, source.info.width) == upright.shape == (96, 64)
        assert np.abs(source.read().frame.astype(int) - upright).mean() < 1
    assert main(["transcode", str(turned), str(tmp_path / "out.mp4"), "--backend", "torch", "--no-progress"]) == 0
    assert "turned 90 degrees upright" in capsys.readouterr().out
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (c.streams.video[0].height, c.streams.video[0].width) == (96, 64)
