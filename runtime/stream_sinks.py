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

import os
from fractions import Fraction
from urllib.parse import urlsplit

import numpy as np

from .frames import even_size, pad_to_even
from .sinks import Sink, SinkError, encoder_frame
from .sources import SourceInfo
from .stream_auth import TokenError, no_auth_warning, stream_token

RTSP_USER = "nircolor"
RTSP_PASSWORD_ENV = "NIRCOLOR_RTSP_PASSWORD"  # how the helper gets the token

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
        stream.width, stream.height = even_size(w, h)
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


GST_PYTHON_CANDIDATES = ("/usr/bin/python3",)
GST_HELP = ("rtsp:// outputs serve through GStreamer's RTSP server: apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
            "gstreamer1.0-plugins-ugly gstreamer1.0-plugins-good (or set NIRCOLOR_GST_PYTHON to a Python that imports gi)")


def is_rtsp_output(text: str) -> bool:
    return urlsplit(str(text)).scheme == "rtsp"


def gst_python() -> str | None:
    """A Python interpreter with GStreamer's RTSP server bindings (Debian's python3-gi)."""
    import os
    import subprocess
    import sys

    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    for python in (os.environ.get("NIRCOLOR_GST_PYTHON"), sys.executable, *GST_PYTHON_CANDIDATES):
        if python and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
            return python
    return None


class RtspServerSink(Sink):
    """`rtsp://@:PORT/NAME`: an RTSP server that ffplay, VLC and GStreamer open
    (runtime/rtsp_server.py in a helper process; frames go to it on a pipe). The newest frame
    waits in a one-frame slot for the pipe, so a slow encoder drops frames here instead of
    holding back the pipeline."""

    shows_overlay = True

    def __init__(self, uri: str, auth: bool = True):
        parts = urlsplit(uri)
        name = parts.path.strip("/")
        if not parts.port or not name or "/" in name:
            raise SinkError(f"{uri!r} is not an RTSP output; use rtsp://@:PORT/NAME (every interface) or rtsp://HOST:PORT/NAME")
        self.uri, self.name, self.port = uri, name, parts.port
        try:
            # RTSP basic authentication: user RTSP_USER, the run's token as the password.
            self.token = stream_token(uri, auth)
        except TokenError as exc:
            raise SinkError(f"{uri}: {exc}") from None
        host = parts.netloc.rpartition(":")[0]
        self.host = "0.0.0.0" if host in ("", "@") else host
        self.process = None
        self.frames = 0
        self.sent = 0
        self._slot: np.ndarray | None = None
        self._ready = None
        self._closing = False

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "RtspServerSink":
        import subprocess
        import threading
        from pathlib import Path

        python = gst_python()
        if python is None:
            raise SinkError(GST_HELP)
        w, h = size
        self.size = even_size(w, h)
        fps = max(1, round(float(info.fps or 30)))
        env = {k: v for k, v in os.environ.items() if k != RTSP_PASSWORD_ENV}
        if self.token:
            env[RTSP_PASSWORD_ENV] = self.token  # not on the command line, which every local user can read
        self.process = subprocess.Popen(
            [python, str(Path(__file__).with_name("rtsp_server.py")), "--host", self.host, "--port", str(self.port), "--name", self.name,
             "--width", str(self.size[0]), "--height", str(self.size[1]), "--fps", str(fps), "--user", RTSP_USER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = self.process.stdout.readline().decode(errors="replace").strip()
        if first != "ready":
            self.process.kill()
            err = self.process.stderr.read().decode(errors="replace").strip().splitlines()
            raise SinkError(f"cannot serve {self.uri}: {first or (err[-1] if err else 'the RTSP server exited')}; "
                            "choose another port or address")
        self._ready = threading.Condition()
        self._writer = threading.Thread(target=self._send, name=f"rtsp:{self.port}", daemon=True)
        self._writer.start()
        if self.token is None:
            print(no_auth_warning(self.uri))
        print(f"RTSP: open {self.url}")
        return self

    @property
    def url(self) -> str:
        """What a client opens: the credentials in the URL when a token is needed."""
        credentials = f"{RTSP_USER}:{self.token}@" if self.token else ""
        return f"rtsp://{credentials}{'localhost' if self.host == '0.0.0.0' else self.host}:{self.port}/{self.name}"

    def write(self, rgb: np.ndarray, pts: float | None, overlay: str = "") -> bool:
        with self._ready:
            self._slot = pad_to_even(rgb)
            self._ready.notify()
        self.frames += 1
        return True

    def _send(self) -> None:
        while True:
            with self._ready:
                while self._slot is None and not self._closing:
                    self._ready.wait()
                frame, self._slot = self._slot, None
            if frame is None:
                return
            try:
                self.process.stdin.write(np.ascontiguousarray(frame).tobytes())
                self.process.stdin.flush()
                self.sent += 1
            except (BrokenPipeError, OSError):
                return

    def close(self) -> None:
        if self.process is None:
            return
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._writer.join(timeout=5)
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except Exception:
            self.process.kill()
        self.process = None
