"""Frame sinks made from one string.

    out.mp4, out.mkv, out.mov    video files through PyAV: H.264 (libx264) or HEVC (libx265),
                                 the source's frame rate and timestamps kept, its audio copied
    frames/                      a folder of numbered PNGs (a path ending in /)
    display://                   an OpenCV window; display://fullscreen for the whole screen
    null://                      discards frames (benchmarks)
    udp://HOST:PORT, rtp://HOST:PORT   a live H.264 stream on the network (stream_sinks.py)
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from nircolor import files

from .frames import even_size, pad_to_even
from .sources import SourceInfo

URI_HELP = """outputs: VIDEO.mp4/.mkv/.mov (H.264; --codec hevc for HEVC), a folder ending in '/'
for PNG frames, display:// (display://fullscreen) for a window, udp://HOST:PORT (MPEG-TS over UDP)
or rtp://HOST:PORT (MPEG-TS over RTP) for a low-latency H.264 stream that ffplay/VLC open with
the same address, rtsp://@:PORT/NAME (rtsp://HOST:PORT/NAME to bind one address) for an RTSP
server that ffplay and VLC open (GStreamer's RTSP server from Debian's packages), webrtc://@:PORT/NAME to serve a page (http://HOST:PORT/NAME) where browsers
watch the live stream over WebRTC (webrtc://127.0.0.1:PORT/NAME: this machine only), null:// to
discard"""


class SinkError(OSError):
    pass


class Sink:
    shows_overlay = False  # only sinks a person watches get the fps/latency text
    path: Path | None = None  # the file or folder written, for the checks made before anything runs

    def check(self, source_path: str | None) -> None:
        """Refuse, before the model loads or anything is written, a destination that cannot be
        written or would destroy something: the input itself, or an existing output."""

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "Sink":
        """`size` is (width, height) of the frames this sink will get."""
        return self

    def write(self, rgb: np.ndarray, pts: float | None, overlay: str = "") -> bool:
        """Write one HxWx3 RGB frame; False asks the pipeline to stop (a window closed)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def keep_partial(self) -> None:
        """The run did not finish (an error, or a transcode stopped early): a file sink leaves what
        it wrote under its partial name instead of the name the user asked for."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_destination(path: Path, source_path: str | None, overwrite: bool, what: str) -> None:
    """The checks every file-writing sink makes before the run starts."""
    if source_path and (_same_file(path, Path(source_path)) or path.resolve() == Path(source_path).resolve()):
        raise SinkError(f"output {path} is the input {source_path}; writing it would destroy the input while it is read: "
                        "choose another output name")
    if path.exists() and not overwrite:
        raise SinkError(f"output {path} already exists; choose another name, or pass --overwrite to replace it")
    parent = path.parent if path.parent != Path("") else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SinkError(f"cannot write {what} {path}: {existing} is not a writable folder; check the path and its permissions")


def encoder_frame(rgb: np.ndarray, seconds: float, time_base: Fraction, last_ticks: int | None):
    """An HxWx3 RGB frame as a PyAV video frame for a 4:2:0 encoder: odd sizes padded by repeating
    the last column/row, the timestamp in `time_base` ticks, kept strictly increasing (encoders
    refuse anything else). Returns (frame, ticks)."""
    import av

    frame = av.VideoFrame.from_ndarray(pad_to_even(rgb), format="rgb24")
    ticks = round(seconds / float(time_base))
    if last_ticks is not None and ticks <= last_ticks:
        ticks = last_ticks + 1
    frame.pts, frame.time_base = ticks, time_base
    return frame, ticks


class NullSink(Sink):
    def __init__(self):
        self.frames = 0

    def write(self, rgb, pts, overlay=""):
        self.frames += 1
        return True


class ImageFolderSink(Sink):
    """Numbered PNGs; each is written under a temporary name and renamed, so a kill never
    leaves a half-written image."""

    def __init__(self, folder: str, overwrite: bool = False):
        self.path = Path(folder)
        self.overwrite = overwrite
        self.index = 0

    def check(self, source_path):
        if self.path.is_dir() and not self.overwrite and any(self.path.glob("[0-9]" * 6 + ".png")):
            raise SinkError(f"output folder {self.path} already holds numbered frames; choose an empty folder, "
                            "or pass --overwrite to replace them")
        check_destination(self.path / "000000.png", source_path, True, "frames into")

    def open(self, info, size):
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, rgb, pts, overlay=""):
        path = self.path / f"{self.index:06d}.png"
        # Whole or not at all; not synced frame by frame, which would cost more than the encode.
        with files.atomic_path(path, durable=False) as temporary:
            if not cv2.imwrite(str(temporary), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                raise SinkError(f"could not write {path}; check the folder is writable and the disk has space")
        self.index += 1
        return True


class VideoFileSink(Sink):
    """Encodes RGB frames; timestamps are the source's, in the source's time base, so frame rate
    and duration survive. Audio of `audio_from` (a file) is copied packet by packet, untouched,
    interleaved with the video and only for the span of video written.

    Written so that a kill or power cut loses at most about a second: MP4 and MOV are fragmented
    (an empty index up front, then a self-describing fragment every half second), Matroska is
    written in clusters of at most half a second, and every packet goes to the OS as it is muxed. Fragmented MP4 rather than forcing Matroska: the user keeps the container
    they named, and it still plays in browsers, VLC and FFmpeg. A write error (a full disk) stops
    the run at the frame it happened on, with what was written still playable."""

    CODECS = {"h264": "libx264", "hevc": "libx265"}
    # Fragments and clusters of half a second (they need not start on a keyframe); negative CTS
    # offsets keep B-frame timestamps exact without the edit list a fragmented file cannot carry.
    _FRAGMENTED = {"movflags": "empty_moov+default_base_moof+negative_cts_offsets", "frag_duration": "500000", "flush_packets": "1"}
    KILL_SAFE = {
        ".mp4": _FRAGMENTED,
        ".mov": _FRAGMENTED,
        ".mkv": {"cluster_time_limit": "500", "flush_packets": "1"},
        ".avi": {"flush_packets": "1"},  # AVI's index is optional: FFmpeg reads a cut file without it
    }
    KEYFRAME_SECONDS = 1.0  # where a player can start or seek
    _NO_EDIT_LIST = (".mp4", ".mov")

    def __init__(self, path: str, codec: str = "h264", crf: int = 18, audio_from: str | None = None, overwrite: bool = False,
                 log=print):
        if codec not in self.CODECS:
            raise SinkError(f"unknown codec {codec!r}; choose one of {', '.join(self.CODECS)}")
        self.path = Path(path)
        self.codec, self.crf, self.audio_from, self.overwrite, self.log = codec, crf, audio_from, overwrite, log
        self.partial = files.recording_partial(self.path)
        self.frames = 0
        self.container = None
        self._last_pts = None
        self._end_seconds: float | None = None
        self._told_scaled = False
        self._finish = True

    def check(self, source_path):
        check_destination(self.path, source_path, self.overwrite, "video")
        if source_path and (_same_file(self.partial, Path(source_path)) or self.partial.resolve() == Path(source_path).resolve()):
            raise SinkError(f"{self.path} is recorded as {self.partial} until it is finished, and that is the input: "
                            "choose another output name")

    def _failed(self, exc: BaseException) -> SinkError:
        return SinkError(f"writing {self.path} failed after {self.frames} frames: {getattr(exc, 'strerror', None) or exc}; "
                         f"check free space and permissions (what was written plays up to there, in {self.partial})")

    def keep_partial(self) -> None:
        self._finish = False

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "VideoFileSink":
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            self.log(f"note: replacing {self.partial}, left by an earlier run that did not finish")
        try:
            # Recorded under the partial name; the requested name appears only when finished.
            self.container = av.open(str(self.partial), mode="w", container_options=self.KILL_SAFE.get(self.path.suffix.lower(), {}))
        except (av.error.FFmpegError, OSError) as exc:
            raise SinkError(f"cannot create {self.path}: {getattr(exc, 'strerror', None) or exc}; check the path and permissions") from None
        fps = info.fps or Fraction(25)
        self.time_base = info.time_base or Fraction(1, 1000)
        stream = self.container.add_stream(self.CODECS[self.codec], rate=fps)
        w, h = size
        stream.width, stream.height = even_size(w, h)
        if (w, h) != (stream.width, stream.height):
            self.log(f"note: {self.path} is {stream.width}x{stream.height}: 4:2:0 video needs even sizes, so the {w}x{h} frames "
                     "get their last column/row repeated; write PNG frames (an output folder ending in /) for the exact size")
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.codec_context.gop_size = max(1, round(float(fps) * self.KEYFRAME_SECONDS))
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        if self.path.suffix.lower() in self._NO_EDIT_LIST:
            # B-frames make the first decode time negative; a fragmented MP4 cannot say so (no
            # edit list), so the muxer would shift every video timestamp by a frame and the
            # picture would lag the sound. Without B-frames timestamps stay the source's.
            stream.options["bf"] = "0"
        self.stream, self.fps = stream, fps
        self._audio_in = self._next_audio = None
        if self.audio_from and info.audio:
            self._audio_in = av.open(self.audio_from)
            self._audio_src = self._audio_in.streams.audio[0]
            self._audio_out = self.container.add_stream_from_template(self._audio_src)
            self._audio_packets = self._audio_in.demux(self._audio_src)
        return self

    def _mux(self, packets) -> None:
        import av

        try:
            for packet in packets:
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._failed(exc) from None

    def _copy_audio_until(self, seconds: float) -> None:
        """Audio packets that start before `seconds`, so both streams advance together."""
        if self._audio_in is None:
            return
        while True:
            if self._next_audio is None:
                packet = next(self._audio_packets, None)
                if packet is None:
                    self._audio_in.close()
                    self._audio_in = None
                    return
                if packet.dts is None or packet.pts is None:
                    continue
                self._next_audio = packet
            packet = self._next_audio
            if float(packet.pts * packet.time_base) >= seconds:
                return
            packet.stream = self._audio_out
            self._next_audio = None
            self._mux([packet])

    def write(self, rgb, pts, overlay=""):
        import av

        h, w = rgb.shape[:2]
        if even_size(w, h) != (self.stream.width, self.stream.height) and not self._told_scaled:
            self._told_scaled = True  # once: a folder of mixed sizes would repeat it for every frame
            self.log(f"note: frame {self.frames} is {w}x{h} but {self.path} is {self.stream.width}x{self.stream.height}: frames of "
                     "another size are scaled to it; write PNG frames (an output folder ending in /) to keep each size")
        seconds = pts if pts is not None else self.frames / float(self.fps)
        frame, ticks = encoder_frame(rgb, seconds, self.time_base, self._last_pts)
        self._last_pts = ticks
        self._end_seconds = float(ticks * self.time_base) + 1 / float(self.fps)
        self._copy_audio_until(float(ticks * self.time_base))
        try:
            packets = self.stream.encode(frame)
        except av.error.FFmpegError as exc:
            raise self._failed(exc) from None
        self._mux(packets)
        self.frames += 1
        return True

    def close(self) -> None:
        """Flush the encoder, copy the audio up to the end of the video written, finish the file.
        A write error here is raised after the file is closed."""
        if self.container is None:
            return
        error = None
        try:
            self._mux(self.stream.encode(None))
            if self._end_seconds is not None:
                self._copy_audio_until(self._end_seconds)
        except SinkError as exc:
            error = exc
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
            try:
                self.container.close()
            except Exception as exc:  # the trailer could not be written (full disk): the fragments already are
                error = error or self._failed(exc)
            self.container = None
        if not self.partial.exists():
            pass  # no frame reached the muxer: there is nothing to name
        elif error is None and self._finish:
            os.replace(self.partial, self.path)  # finished: only now under the name asked for
        else:
            self.log(f"note: {self.path} was not finished; what was written plays, in {self.partial}")
        if error is not None:
            raise error


class DisplaySink(Sink):
    """An OpenCV window with an fps/latency overlay; q or Esc closes it."""

    shows_overlay = True

    def __init__(self, fullscreen: bool = False, title: str = "nircolor"):
        self.fullscreen, self.title = fullscreen, title

    def open(self, info, size):
        try:
            # No toolbar: the window is the car's display, not an image viewer.
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            raise SinkError(f"cannot open a window ({exc.msg.strip() if hasattr(exc, 'msg') else exc}); "
                            "this OpenCV has no GUI or there is no display: replace opencv-contrib-python-headless with "
                            "opencv-contrib-python (pip uninstall, then pip install) and set DISPLAY") from None
        if self.fullscreen:
            cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        else:
            cv2.resizeWindow(self.title, *size)  # one frame pixel per screen pixel to start with
        return self

    def write(self, rgb, pts, overlay=""):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if overlay:
            cv2.putText(bgr, overlay, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(bgr, overlay, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(self.title, bgr)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


def open_sink(uri: str, codec: str = "h264", audio_from: str | None = None, overwrite: bool = False, auth: bool = True) -> Sink:
    """The output a string names. `auth`: served live outputs (webrtc://, rtsp://@:PORT/NAME) ask
    viewers for an access token (runtime/stream_auth.py); False serves them to anyone."""
    text = str(uri)
    if text.startswith("null://"):
        return NullSink()
    if text.startswith("display://"):
        return DisplaySink(fullscreen="fullscreen" in text)
    from .stream_sinks import NetworkStreamSink, RtspServerSink, is_rtsp_output, is_stream_uri
    from .webrtc_sink import WebRTCSink, is_webrtc_uri

    if is_webrtc_uri(text):
        return WebRTCSink(text, auth=auth)
    if is_rtsp_output(text):
        return RtspServerSink(text, auth=auth)
    if is_stream_uri(text):
        return NetworkStreamSink(text)
    if text.endswith("/") or Path(text).is_dir():
        return ImageFolderSink(text, overwrite=overwrite)
    if Path(text).suffix.lower() in VideoFileSink.KILL_SAFE:
        return VideoFileSink(text, codec=codec, audio_from=audio_from, overwrite=overwrite)
    raise SinkError(f"cannot tell what output {text!r} is; {URI_HELP}")
