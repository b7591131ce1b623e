"""Network video outputs made from one string, beside the file and window sinks of sinks.py.

    udp://HOST:PORT    MPEG-TS over UDP (unicast or multicast), H.264
    rtp://HOST:PORT    MPEG-TS over RTP (static payload type 33), H.264

Both are what `ffplay udp://@:PORT`, `ffplay rtp://@:PORT`, VLC and GStreamer open with no SDP
file. The encoder is tuned for latency, not size: no B-frames and no look-ahead (x264's
zerolatency), a keyframe every second with its parameter sets repeated, so a viewer who joins
late sees a picture within a second; the MPEG-TS tables are repeated by the muxer. Frames go out
as they are encoded; a viewer that is not there costs nothing (UDP is fire and forget).
"""

from __future__ import annotations

from fractions import Fraction
from urllib.parse import urlsplit

import numpy as np

from .sinks import Sink, SinkError, encoder_frame
from .sources import SourceInfo

FORMATS = {"udp": "mpegts", "rtp": "rtp_mpegts"}
TIME_BASE = Fraction(1, 90000)  # MPEG-TS's clock
PACKET_BYTES = 1316  # 7 TS packets: one UDP datagram below any Ethernet MTU


def is_stream_uri(text: str) -> bool:
    return urlsplit(str(text)).scheme in FORMATS


class NetworkStreamSink(Sink):
    shows_overlay = True  # a person watches it

    def __init__(self, uri: str, bitrate_kbps: int = 4000, keyframe_seconds: float = 1.0):
        parts = urlsplit(uri)
        if parts.scheme not in FORMATS:
            raise SinkError(f"{uri!r} is not a network output; use udp://HOST:PORT or rtp://HOST:PORT")
        if not parts.hostname or not parts.port:
            raise SinkError(f"{uri!r} needs a host and a port, e.g. {parts.scheme}://127.0.0.1:5004 or {parts.scheme}://239.0.0.1:5004")
        self.uri, self.scheme = uri, parts.scheme
        self.bitrate_kbps, self.keyframe_seconds = bitrate_kbps, keyframe_seconds
        self.container = None
        self.frames = 0
        self._last_pts: int | None = None

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "NetworkStreamSink":
        import av

        separator = "&" if "?" in self.uri else "?"
        target = self.uri if "pkt_size" in self.uri else f"{self.uri}{separator}pkt_size={PACKET_BYTES}"
        try:
            self.container = av.open(target, mode="w", format=FORMATS[self.scheme])
        except (av.error.FFmpegError, OSError) as exc:
            raise SinkError(f"cannot open the network output {self.uri}: {exc}; check the address and port") from None
        self.fps = info.fps or Fraction(30)
        stream = self.container.add_stream("libx264", rate=self.fps)
        w, h = size
        stream.width, stream.height = w + (w % 2), h + (h % 2)
        stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.codec_context.gop_size = max(1, round(float(self.fps) * self.keyframe_seconds))
        stream.codec_context.bit_rate = self.bitrate_kbps * 1000
        stream.options = {"preset": "veryfast", "tune": "zerolatency", "x264-params": "repeat-headers=1"}
        self.stream = stream
        return self

    def write(self, rgb: np.ndarray, pts: float | None, overlay: str = "") -> bool:
        import av

        seconds = pts if pts is not None else self.frames / float(self.fps)
        frame, self._last_pts = encoder_frame(np.ascontiguousarray(rgb), seconds, TIME_BASE, self._last_pts)
        try:
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise SinkError(f"sending to {self.uri} failed after {self.frames} frames: {exc}; check the network") from None
        self.frames += 1
        return True

    def close(self) -> None:
        if self.container is None:
            return
        import av

        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError):
            pass  # the stream is ending; a lost last packet is not worth failing the run for
        finally:
            self.container.close()
            self.container = None
