"""Frame sinks made from one string.

    out.mp4, out.mkv, out.mov    video files through PyAV: H.264 (libx264) or HEVC (libx265),
                                 the source's frame rate and timestamps kept, its audio copied
    frames/                      a folder of numbered PNGs (a path ending in /)
    display://                   an OpenCV window; display://fullscreen for the whole screen
    null://                      discards frames (benchmarks)
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .sources import SourceInfo

URI_HELP = """outputs: VIDEO.mp4/.mkv/.mov (H.264; --codec hevc for HEVC), a folder ending in '/'
for PNG frames, display:// (display://fullscreen) for a window, null:// to discard"""


class SinkError(OSError):
    pass


class Sink:
    def open(self, info: SourceInfo, size: tuple[int, int]) -> "Sink":
        """`size` is (width, height) of the frames this sink will get."""
        return self

    def write(self, rgb: np.ndarray, pts: float | None, overlay: str = "") -> bool:
        """Write one HxWx3 RGB frame; False asks the pipeline to stop (a window closed)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class NullSink(Sink):
    def __init__(self):
        self.frames = 0

    def write(self, rgb, pts, overlay=""):
        self.frames += 1
        return True


class ImageFolderSink(Sink):
    def __init__(self, folder: str):
        self.folder = Path(folder)
        self.index = 0

    def open(self, info, size):
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, rgb, pts, overlay=""):
        path = self.folder / f"{self.index:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise SinkError(f"could not write {path}; check the folder is writable and the disk has space")
        self.index += 1
        return True


class VideoFileSink(Sink):
    """Encodes RGB frames; timestamps are the source's, in the source's time base, so frame rate
    and duration survive. Audio of `audio_from` (a file) is copied packet by packet, untouched."""

    CODECS = {"h264": "libx264", "hevc": "libx265"}

    def __init__(self, path: str, codec: str = "h264", crf: int = 18, audio_from: str | None = None):
        if codec not in self.CODECS:
            raise SinkError(f"unknown codec {codec!r}; choose one of {', '.join(self.CODECS)}")
        self.path, self.codec, self.crf, self.audio_from = path, codec, crf, audio_from
        self.frames = 0
        self._last_pts = None

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "VideoFileSink":
        import av

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(self.path, mode="w")
        fps = info.fps or Fraction(25)
        self.time_base = info.time_base or Fraction(1, 1000)
        stream = self.container.add_stream(self.CODECS[self.codec], rate=fps)
        w, h = size
        stream.width, stream.height = w + (w % 2), h + (h % 2)  # 4:2:0 needs even sizes
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self.stream, self.fps = stream, fps
        self._audio_in = None
        if self.audio_from and info.audio:
            self._audio_in = av.open(self.audio_from)
            self._audio_src = self._audio_in.streams.audio[0]
            self._audio_out = self.container.add_stream_from_template(self._audio_src)
        return self

    def write(self, rgb, pts, overlay=""):
        import av

        if rgb.shape[0] % 2 or rgb.shape[1] % 2:
            rgb = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is None:
            ticks = round(self.frames / float(self.fps) / float(self.time_base))
        else:
            ticks = round(pts / float(self.time_base))
        if self._last_pts is not None and ticks <= self._last_pts:
            ticks = self._last_pts + 1  # encoders need strictly increasing timestamps
        frame.pts, frame.time_base = ticks, self.time_base
        self._last_pts = ticks
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1
        return True

    def close(self) -> None:
        if getattr(self, "container", None) is None:
            return
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        if self._audio_in is not None:
            for packet in self._audio_in.demux(self._audio_src):
                if packet.dts is None:
                    continue
                packet.stream = self._audio_out
                self.container.mux(packet)
            self._audio_in.close()
        self.container.close()
        self.container = None


class DisplaySink(Sink):
    """An OpenCV window with an fps/latency overlay; q or Esc closes it."""

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


def open_sink(uri: str, codec: str = "h264", audio_from: str | None = None) -> Sink:
    text = str(uri)
    if text.startswith("null://"):
        return NullSink()
    if text.startswith("display://"):
        return DisplaySink(fullscreen="fullscreen" in text)
    if text.endswith("/") or Path(text).is_dir():
        return ImageFolderSink(text)
    if Path(text).suffix.lower() in (".mp4", ".mkv", ".mov", ".avi"):
        return VideoFileSink(text, codec=codec, audio_from=audio_from)
    raise SinkError(f"cannot tell what output {text!r} is; {URI_HELP}")
