"""Frame sources made from one string, each read returning an explicit status.

    clip.mp4, file:///path/clip.mkv     video files of any container/codec PyAV reads
    frames/*.png, frames/               image globs and folders (sorted)
    /dev/video0, v4l2:///dev/video0, 0  cameras through OpenCV (live)
    rtsp:// rtp:// udp:// tcp:// http(s)://   network streams through PyAV (live)

A read gives (status, frame, timestamp): OK, TIMEOUT (a live source had nothing in time), END
(end of stream) or SKIP (a frame that could not be decoded: counted and reported, never silent).
Live sources that fail reconnect with back-off and say so.
"""

from __future__ import annotations

import glob
import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .frames import FrameError, to_nir

SAMPLE_CLIP = Path(__file__).parent / "samples" / "nir-sample.mp4"
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtp://", "udp://", "tcp://", "http://", "https://", "rtmp://", "srt://")
CAMERA_SCHEMES = ("v4l2://", "csi://")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm")

URI_HELP = """sources: VIDEO (any container/codec FFmpeg reads, file:// optional); 'frames/*.png' or a
folder of images; a camera as /dev/videoN, v4l2:///dev/videoN or an index like 0; a network
stream rtsp://, rtp://, udp://, tcp://, http(s)://, rtmp://, srt://"""


class SourceError(OSError):
    """A source that cannot be opened or read; the message names it and says what to do."""


class Status(Enum):
    OK = "ok"
    TIMEOUT = "timeout"
    END = "end of stream"
    SKIP = "skipped frame"


@dataclass
class Read:
    status: Status
    frame: np.ndarray | None = None  # HxW uint8 NIR
    pts: float | None = None  # seconds
    index: int = -1
    reason: str = ""


@dataclass
class SourceInfo:
    uri: str
    live: bool
    width: int = 0
    height: int = 0
    fps: Fraction | None = None
    frames: int | None = None  # known frame count, if the container says
    time_base: Fraction | None = None
    audio: bool = False
    notes: list[str] = field(default_factory=list)


def _announced_seconds(container, stream) -> float | None:
    """The video's duration as its container announces it: the stream's own, Matroska's per-track
    DURATION tag, or the whole file's when it holds no audio (audio may run longer)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            pass
    if container.duration and not container.streams.audio:
        return container.duration / 1_000_000
    return None


def _open_video(url: str, failure: str, **kwargs):
    """Open `url` with PyAV and return (container, first video stream); `failure` starts the
    message of the SourceError raised when that is not possible."""
    import av

    try:
        container = av.open(url, **kwargs)
    except av.error.FFmpegError as exc:
        raise SourceError(f"{failure} ({exc.strerror or exc})") from None
    if not container.streams.video:
        container.close()
        raise SourceError(f"{url} carries no video stream; pass a video")
    return container, container.streams.video[0]


class Source:
    info: SourceInfo

    def open(self) -> "Source":
        return self

    def read(self) -> Read:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


class VideoFileSource(Source):
    """A recorded video through PyAV; frames decoded to grey (16-bit kept, then scaled).

    With `realtime`, reads are paced to the frames' timestamps, as a camera would deliver them:
    a recording replayed in live mode then measures live latency and drops, not the decoder's speed."""

    def __init__(self, path: str, realtime: bool = False):
        self.path = path
        self.info = SourceInfo(path, live=False)
        self.realtime = realtime
        self._index = 0
        self._clock: tuple[float, float] | None = None  # (wall time, pts) of the first frame

    def open(self) -> "VideoFileSource":
        if not Path(self.path).exists():
            raise SourceError(f"video file {self.path} does not exist; check the path")
        self.container, stream = _open_video(self.path, f"{self.path} is not a video FFmpeg can read; check the file or re-encode it")
        stream.thread_type = "AUTO"
        self.stream = stream
        self.info.width, self.info.height = stream.codec_context.width, stream.codec_context.height
        self.info.fps = stream.average_rate or stream.guessed_rate
        self.info.frames = stream.frames or None
        # Matroska and WebM count no frames but keep the duration in their header, which a cut
        # file still has: a file that ends well short of it is truncated (said, exit 3).
        self._announced = None if self.info.frames else _announced_seconds(self.container, stream)
        self._last_pts: float | None = None
        self.info.time_base = stream.time_base
        self.info.audio = bool(self.container.streams.audio)
        self._sixteen = "16" in (stream.codec_context.pix_fmt or "")
        self._frames = self._decode()
        # A phone or dash camera mounted sideways stores its rotation as metadata: frames are
        # turned upright here, as players do, so the output plays the right way up.
        first = next(self._frames, None)
        self._quarter_turns = (round(first[0].rotation / 90) % 4) if first is not None and first[0] is not None else 0
        if self._quarter_turns % 2:
            self.info.width, self.info.height = self.info.height, self.info.width
            self.info.notes.append(f"turned {90 * self._quarter_turns} degrees upright, as its rotation metadata asks")
        if first is not None:
            self._frames = itertools.chain([first], self._frames)
        return self

    def _decode(self):
        import av

        for packet in self.container.demux(self.stream):
            try:
                for frame in packet.decode():
                    yield frame, None
            except av.error.FFmpegError as exc:  # a damaged packet: report it, keep going
                at = f"{float(packet.pts * packet.time_base):.3f} s" if packet.pts is not None and packet.time_base else "an unknown time"
                yield None, f"undecodable packet at {at}: {exc.strerror or exc}"

    def read(self) -> Read:
        try:
            frame, problem = next(self._frames)
        except StopIteration:
            return Read(Status.END, index=self._index, reason=self._short_of_announced())
        except Exception as exc:  # demuxer failure mid-file (truncated container)
            return Read(Status.END, index=self._index, reason=f"stream ended early: {exc}")
        index = self._index
        self._index += 1
        if frame is None:
            return Read(Status.SKIP, index=index, reason=problem)
        pts = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
        self._last_pts = pts if pts is not None else self._last_pts
        if self.realtime:
            self._wait_for(pts if pts is not None else index / float(self.info.fps or 25))
        array = frame.to_ndarray(format="gray16le" if self._sixteen else "gray")
        if self._quarter_turns:
            array = np.ascontiguousarray(np.rot90(array, self._quarter_turns))
        return Read(Status.OK, to_nir(array), pts, index)

    def _short_of_announced(self) -> str | None:
        """Why the file ended early, when its header announced a duration the frames fall short
        of by more than a second; None when it ended where it said (or said nothing)."""
        if self._announced is None or self._last_pts is None or self._last_pts + 1.0 >= self._announced:
            return None
        return (f"the file ends at {self._last_pts:.2f} s of the {self._announced:.2f} s its header announces: it is truncated "
                "or damaged")

    def _wait_for(self, pts: float) -> None:
        if self._clock is None:
            self._clock = (time.monotonic(), pts)
        due = self._clock[0] + (pts - self._clock[1])
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def close(self) -> None:
        if getattr(self, "container", None) is not None:
            self.container.close()
            self.container = None


class ImageSource(Source):
    """A sorted glob or folder of images, one frame each, at a nominal frame rate.

    16-bit images from 10- or 12-bit sensors hold values up to 1023 or 4095 only: read as 16-bit
    they come out nearly black. Unless `bits` is given, the first 16-bit image decides: values
    that all fit in 12 (or 10) bits are taken as that many, said once, for the whole run (a
    per-frame guess would flicker)."""

    def __init__(self, pattern: str, fps: float = 25.0, bits: int | None = None, log=print):
        self.pattern = pattern
        self.info = SourceInfo(pattern, live=False, fps=Fraction(fps).limit_denominator(1001))
        self._index = 0
        self.bits, self.log = bits, log

    def _bits_for(self, image: np.ndarray, path: str) -> int:
        if self.bits is None:
            top = int(image.max())
            self.bits = 10 if top < 1024 else 12 if top < 4096 else 16
            if self.bits < 16:
                self.log(f"note: {path} is 16-bit with values up to {top}: reading the images as {self.bits}-bit "
                         f"(0..{(1 << self.bits) - 1} is black..white); pass --input-bits 16 if they are a dim 16-bit scene")
        return self.bits

    def folders(self) -> set[Path]:
        """The folders the input images are in (resolved): no output may write into them."""
        p = Path(self.pattern)
        if p.is_dir():
            return {p.resolve()}
        if p.is_file():
            return {p.resolve().parent}
        return {Path(f).resolve().parent for f in glob.glob(self.pattern)}

    def open(self) -> "ImageSource":
        p = Path(self.pattern)
        if p.is_file():
            files = [str(p)]
        elif p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files = sorted(glob.glob(self.pattern))
        if not files:
            raise SourceError(f"no images match {self.pattern}; check the folder or glob")
        self.files = files
        self.info.frames = len(files)
        first = cv2.imread(files[0], cv2.IMREAD_UNCHANGED)
        if first is not None:
            self.info.height, self.info.width = first.shape[:2]
        return self

    def read(self) -> Read:
        if self._index >= len(self.files):
            return Read(Status.END, index=self._index)
        index, path = self._index, self.files[self._index]
        self._index += 1
        pts = index / float(self.info.fps)
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            return Read(Status.SKIP, pts=pts, index=index, reason=f"{path} is not a readable image")
        try:
            bits = self._bits_for(image, path) if image.dtype == np.uint16 else 16
            return Read(Status.OK, to_nir(image, bits), pts, index)
        except FrameError as exc:
            return Read(Status.SKIP, pts=pts, index=index, reason=f"{path}: {exc}")


class _Stalled(Exception):
    pass


class _Grabber:
    """Runs a source's blocking grab on a daemon thread, so a camera or stream that stalls costs
    the pipeline `read_timeout`, not forever. A stalled grabber is abandoned with the device it
    is stuck in (releasing a device mid-read is unsafe) and the source reconnects with a new one;
    if the stuck read ever returns, the thread releases that device and ends, so reconnects over a
    long drive leave neither threads nor open devices behind."""

    def __init__(self, grab):
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._release_on_exit = None
        self.thread = threading.Thread(target=self._serve, args=(grab,), name="grab", daemon=True)
        self.thread.start()

    def _serve(self, grab) -> None:
        while self._requests.get() is not None:
            try:
                self._results.put((grab(), None))
            except Exception as exc:
                self._results.put((None, exc))
        if self._release_on_exit is not None:
            try:
                self._release_on_exit()
            except Exception:  # a device that died while stuck: it is gone either way
                pass

    def abandon(self, release) -> None:
        """Give up on a stuck read: `release` closes its device once the read returns."""
        self._release_on_exit = release
        self._requests.put(None)

    def grab(self, timeout: float):
        self._requests.put(True)
        try:
            result, exc = self._results.get(timeout=timeout)
        except queue.Empty:
            raise _Stalled from None
        if exc is not None:
            raise exc
        return result

    def close(self) -> None:
        self._requests.put(None)


def _interruptible(work, what: str):
    """Run blocking `work` (a connect with its own timeout) on a daemon thread while the main
    thread waits in short steps, so Ctrl-C stops a connect at once instead of after its timeout."""
    outcome: list = []

    def target():
        try:
            outcome.append((work(), None))
        except BaseException as exc:
            outcome.append((None, exc))

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
    result, exc = outcome[0]
    if exc is not None:
        raise exc
    return result


class _Reconnecting(Source):
    """Shared by live sources: reopen with exponential back-off, never block the pipeline.

    Timestamps count from the run's first frame (a camera's own clock counts from boot; a stream
    that reconnects starts its clock again) and a read that brings nothing for `read_timeout`
    seconds is a stall: the source reconnects."""

    backoff_start, backoff_max = 0.5, 8.0

    def __init__(self, uri: str, read_timeout: float, log=print):
        self.info = SourceInfo(uri, live=True)
        self.read_timeout, self.log = read_timeout, log
        self._index, self._retry_at, self._backoff = 0, 0.0, self.backoff_start
        self.reconnects = 0
        self._connected = False
        self._grabber: _Grabber | None = None
        self._closer = None  # closes the current connection (what _connect returned)
        self._run_start: float | None = None  # monotonic time of the run's first frame
        self._offset: float | None = None  # source clock -> seconds since the first frame, per connection

    def _connect(self):
        """Open the device or stream; return a callable that closes this connection (a later
        reconnect opens another, and a stalled grabber closes its own when its read returns)."""
        raise NotImplementedError

    def _grab(self) -> tuple[np.ndarray | None, float | None]:
        raise NotImplementedError

    def open(self) -> "_Reconnecting":
        self._closer = _interruptible(self._connect, "connect")  # the first connection must work: a wrong address is an error
        self._connected = True
        self._grabber, self._offset = _Grabber(self._grab), None
        return self

    def read(self) -> Read:
        if not self._connected:
            if time.monotonic() < self._retry_at:
                time.sleep(min(0.05, self._retry_at - time.monotonic()))
                return Read(Status.TIMEOUT, index=self._index, reason="waiting to reconnect")
            try:
                self._closer = self._connect()
                self._connected = True
                self._grabber, self._offset = _Grabber(self._grab), None
                self.reconnects += 1
                self._backoff = self.backoff_start
                self.log(f"{self.info.uri}: reconnected")
            except Exception as exc:
                self._schedule_retry(f"reconnect failed: {exc}")
                return Read(Status.TIMEOUT, index=self._index, reason=str(exc))
        try:
            image, pts = self._grabber.grab(self.read_timeout)
        except _Stalled:
            self._grabber.abandon(self._closer)  # stuck in the device: it closes the device when (if) the read returns
            self._grabber, self._closer = None, None
            self._connected = False
            self._schedule_retry(f"no frame for {self.read_timeout:g} s (stalled)")
            return Read(Status.TIMEOUT, index=self._index, reason="source stalled; reconnecting")
        except Exception as exc:
            image, pts = None, None
            self.log(f"{self.info.uri}: read failed ({exc})")
        if image is None:
            self._grabber.close()
            self._closer()
            self._connected = False
            self._schedule_retry("lost")
            return Read(Status.TIMEOUT, index=self._index, reason="source lost; reconnecting")
        index = self._index
        self._index += 1
        now = time.monotonic()
        clock = pts if pts is not None else now
        if self._run_start is None:
            self._run_start = now
        if self._offset is None:  # first frame of this connection: its clock may start anywhere
            self._offset = (now - self._run_start) - clock
        try:
            return Read(Status.OK, to_nir(image), max(0.0, clock + self._offset), index)
        except FrameError as exc:
            return Read(Status.SKIP, index=index, reason=str(exc))

    def _schedule_retry(self, why: str) -> None:
        self.log(f"{self.info.uri}: {why}; retrying in {self._backoff:.1f} s")
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self.backoff_max, self._backoff * 2)

    def close(self) -> None:
        if self._connected:
            if self._grabber is not None:
                self._grabber.close()
            self._closer()
            self._connected = False


class CameraSource(_Reconnecting):
    """A V4L2/USB/CSI camera through OpenCV."""

    def __init__(self, device: str | int, width: int | None = None, height: int | None = None, fps: float | None = None,
                 fourcc: str | None = None, read_timeout: float = 2.0, log=print):
        super().__init__(str(device), read_timeout, log)
        self.device, self.width, self.height, self.fps, self.fourcc = device, width, height, fps, fourcc

    def _connect(self) -> None:
        cap = cv2.VideoCapture(self.device, cv2.CAP_ANY)
        if not cap.isOpened():
            raise SourceError(f"camera {self.device} cannot be opened; check that it is plugged in and that this user may read it")
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height), (cv2.CAP_PROP_FPS, self.fps)):
            if value:
                cap.set(prop, value)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # live: the newest frame, not a backlog
        self.cap = cap
        self.info.width, self.info.height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.info.fps = Fraction(fps).limit_denominator(1001) if fps > 0 else None
        return cap.release

    def _grab(self):
        ok, image = self.cap.read()
        return (image if ok else None), None


class StreamSource(_Reconnecting):
    """A network stream through PyAV with connect and read timeouts."""

    def __init__(self, url: str, open_timeout: float = 5.0, read_timeout: float = 5.0, log=print):
        super().__init__(url, read_timeout, log)
        self.url, self.open_timeout = url, open_timeout

    def _connect(self) -> None:
        options = {"rw_timeout": str(int(self.read_timeout * 1e6))}
        if self.url.startswith("rtsp"):
            options["rtsp_transport"] = "tcp"
        self.container, stream = _open_video(
            self.url, f"cannot open stream {self.url}; check the address and that the sender is running",
            options=options, timeout=(self.open_timeout, self.read_timeout),
        )
        self.info.width, self.info.height = stream.codec_context.width, stream.codec_context.height
        self.info.fps = stream.average_rate or stream.guessed_rate
        self._frames = self.container.decode(stream)
        container = self.container

        def close() -> None:
            try:
                container.close()
            except Exception:  # closing a dead connection may itself fail; it is gone either way
                pass

        return close

    def _grab(self):
        frame = next(self._frames, None)
        if frame is None:
            return None, None
        pts = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
        return frame.to_ndarray(format="gray"), pts


def open_source(uri: str, **options) -> Source:
    """Make a source from a string (see URI_HELP); it still has to be opened."""
    text = str(uri)
    if text.startswith(STREAM_SCHEMES):
        return StreamSource(text, **options)
    local = Path(text[len("file://"):] if text.startswith("file://") else text)
    if local.is_file():  # a path that exists is a file first: 'drive[1].mp4', 'what?.mp4', a file named 20240101
        return ImageSource(str(local), **options) if local.suffix.lower() in IMAGE_SUFFIXES else VideoFileSource(str(local))
    if text.startswith(CAMERA_SCHEMES):
        return CameraSource(text.split("://", 1)[1], **options)
    if text.isdigit():
        return CameraSource(int(text), **options)
    if text.startswith("/dev/video"):
        return CameraSource(text, **options)
    if text.startswith("file://"):
        text = text[len("file://"):]
    if any(ch in text for ch in "*?[") or Path(text).is_dir():
        return ImageSource(text, **options)
    return VideoFileSource(text)
