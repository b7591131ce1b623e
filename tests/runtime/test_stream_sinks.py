"""Network outputs: a real receiver on loopback (PyAV, as ffplay would) decodes the coloured
frames of udp:// and rtp:// outputs, also when it joins late or is not there at all."""

import socket
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from nircolor.runtime.sinks import SinkError, open_sink
from nircolor.runtime.sources import SourceInfo
from nircolor.runtime.stream_sinks import NetworkStreamSink, RtspServerSink, gst_python

INFO = SourceInfo("test", True, 160, 120, Fraction(30))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_colours() -> np.ndarray:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:, :80] = (200, 30, 30)
    img[:, 80:] = (30, 200, 30)
    return img


class Receiver(threading.Thread):
    def __init__(self, uri: str, frames: int):
        super().__init__(daemon=True)
        self.uri, self.wanted, self.frames, self.error = uri, frames, [], None

    def run(self):
        try:
            with av.open(self.uri + "?timeout=8000000", timeout=8) as c:
                for f in c.decode(video=0):
                    self.frames.append(f.to_ndarray(format="rgb24"))
                    if len(self.frames) >= self.wanted:
                        return
        except Exception as exc:  # reported by the test
            self.error = exc


def send(sink, frames: int, start: int = 0):
    img = two_colours()
    for i in range(start, start + frames):
        sink.write(img, i / 30)
        time.sleep(1 / 30)


@pytest.mark.parametrize("scheme", ["udp", "rtp"])
def test_a_receiver_decodes_the_coloured_frames(scheme):
    port = free_port()
    receiver = Receiver(f"{scheme}://127.0.0.1:{port}", 15)
    receiver.start()
    time.sleep(0.5)
    sink = open_sink(f"{scheme}://127.0.0.1:{port}")
    assert isinstance(sink, NetworkStreamSink)
    sink.open(INFO, (160, 120))
    send(sink, 75)  # RTP needs about a second of probing before it decodes
    sink.close()
    receiver.join(10)
    assert receiver.error is None and len(receiver.frames) >= 15
    last = receiver.frames[-1]
    assert np.abs(last[60, 40].astype(int) - (200, 30, 30)).max() < 12
    assert np.abs(last[60, 120].astype(int) - (30, 200, 30)).max() < 12


def test_a_viewer_who_joins_late_gets_the_picture_within_about_a_second():
    port = free_port()
    sink = open_sink(f"udp://127.0.0.1:{port}").open(INFO, (160, 120))
    send(sink, 30)  # a second of stream that nobody receives: no error
    receiver = Receiver(f"udp://127.0.0.1:{port}", 5)
    receiver.start()
    time.sleep(0.3)
    started = time.perf_counter()
    while receiver.is_alive() and time.perf_counter() - started < 4:
        send(sink, 3, start=30 + int((time.perf_counter() - started) * 30))
    sink.close()
    receiver.join(5)
    assert receiver.error is None and len(receiver.frames) >= 5
    assert time.perf_counter() - started < 3.5


@pytest.mark.parametrize("uri, message", [("udp://127.0.0.1", "needs a host and a port"), ("udp://:5004", "needs a host and a port")])
def test_bad_network_outputs_say_what_to_write(uri, message):
    with pytest.raises(SinkError, match=message):
        open_sink(uri)


def test_run_help_lists_the_network_outputs(capsys):
    from nircolor.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert all(form in out for form in ("udp://HOST:PORT", "rtp://HOST:PORT", "rtsp://@:PORT/NAME", "webrtc://@:PORT/NAME"))


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Feeder(threading.Thread):
    """Writes the two-colour frame at 30 fps until stopped, as the pipeline would."""

    def __init__(self, sink):
        super().__init__(daemon=True)
        self.sink, self.stop, self.slowest = sink, threading.Event(), 0.0

    def run(self):
        img = two_colours()
        while not self.stop.is_set():
            start = time.perf_counter()
            self.sink.write(img, None)
            self.slowest = max(self.slowest, time.perf_counter() - start)
            time.sleep(1 / 30)


@pytest.mark.skipif(gst_python() is None, reason="no GStreamer RTSP server bindings (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0)")
def test_rtsp_server_serves_clients_that_come_and_go():
    """FFmpeg (what ffplay uses) opens the RTSP output twice, one client after the other, and
    decodes the coloured frame; writing never waits for the clients."""
    port = _free_tcp_port()
    sink = open_sink(f"rtsp://127.0.0.1:{port}/live")
    assert isinstance(sink, RtspServerSink)
    sink.open(INFO, (160, 120))
    assert sink.url == f"rtsp://nircolor:{sink.token}@127.0.0.1:{port}/live" and len(sink.token) >= 16
    feeder = Feeder(sink)
    feeder.start()
    try:
        # Without the run's credentials, or with wrong ones, the server refuses (401).
        for url in (f"rtsp://127.0.0.1:{port}/live", f"rtsp://nircolor:wrong-token@127.0.0.1:{port}/live"):
            with pytest.raises(av.error.HTTPUnauthorizedError):
                av.open(url, options={"rtsp_transport": "tcp"}, timeout=10)
        for _ in range(2):
            with av.open(sink.url, options={"rtsp_transport": "tcp"}, timeout=10) as c:
                frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(10), c.decode(video=0))]
            assert len(frames) == 10
            assert np.abs(frames[-1][60, 40].astype(int) - (200, 30, 30)).max() < 12
            assert np.abs(frames[-1][60, 120].astype(int) - (30, 200, 30)).max() < 12
    finally:
        feeder.stop.set()
        feeder.join()
        sink.close()
    assert feeder.slowest < 0.05 and sink.process is None


@pytest.mark.skipif(gst_python() is None, reason="no GStreamer RTSP server bindings")
def test_rtsp_port_taken_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SinkError, match="choose another port"):
            open_sink(f"rtsp://127.0.0.1:{taken.getsockname()[1]}/live").open(INFO, (160, 120))


def test_rtsp_output_needs_a_port_and_a_name():
    for bad in ("rtsp://@/live", "rtsp://@:8554", "rtsp://@:8554/a/b"):
        with pytest.raises(SinkError, match="rtsp://@:PORT/NAME"):
            open_sink(bad)


@pytest.mark.skipif(gst_python() is None, reason="no GStreamer RTSP server bindings")
def test_rtsp_without_auth_is_said_and_open(capsys):
    port = _free_tcp_port()
    sink = open_sink(f"rtsp://127.0.0.1:{port}/live", auth=False)
    sink.open(INFO, (160, 120))
    feeder = Feeder(sink)
    feeder.start()
    try:
        assert "without an access token (--no-auth)" in capsys.readouterr().out and sink.url == f"rtsp://127.0.0.1:{port}/live"
        with av.open(sink.url, options={"rtsp_transport": "tcp"}, timeout=10) as c:
            assert next(c.decode(video=0)).width == 160
    finally:
        feeder.stop.set()
        feeder.join()
        sink.close()
