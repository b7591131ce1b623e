"""A live network stream on loopback: FFmpeg serves the bundled clip over tcp://; the source
reads it live, survives the server being killed and restarted, and never hangs."""

import shutil
import socket
import subprocess
import time

import pytest

from nircolor.runtime.sources import SAMPLE_CLIP, SourceError, Status, open_source

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="FFmpeg's command-line tool is not installed (apt-get install ffmpeg)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int) -> subprocess.Popen:
    """FFmpeg as a one-client tcp server, looping the clip in real time as MPEG-TS."""
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(SAMPLE_CLIP),
         "-c", "copy", "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"],
        stdin=subprocess.DEVNULL,
    )


def connect(url: str, deadline: float = 10.0):
    end = time.monotonic() + deadline
    while True:
        source = open_source(url, open_timeout=3.0, read_timeout=2.0, log=lambda msg: None)
        try:
            return source.open()
        except SourceError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def read_ok(source, count: int, deadline: float) -> int:
    got, end = 0, time.monotonic() + deadline
    while got < count and time.monotonic() < end:
        r = source.read()
        got += r.status is Status.OK
        if r.status is Status.OK:
            assert r.frame.shape == (320, 480)
    return got


def test_live_stream_survives_server_restart():
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    server = serve(port)
    try:
        source = connect(url)
        assert source.info.live and source.info.width == 480
        assert read_ok(source, 10, deadline=15) == 10

        server.kill()
        server.wait()
        start = time.monotonic()
        statuses = set()
        while time.monotonic() - start < 6:  # every read returns within its timeout
            t = time.monotonic()
            statuses.add(source.read().status)
            assert time.monotonic() - t < 5
            if Status.TIMEOUT in statuses:
                break
        assert Status.TIMEOUT in statuses

        server = serve(port)
        assert read_ok(source, 10, deadline=30) == 10
        assert source.reconnects >= 1
        source.close()
    finally:
        server.kill()
        server.wait()


def test_nothing_listening_is_a_clear_error():
    source = open_source(f"tcp://127.0.0.1:{free_port()}", open_timeout=2.0, read_timeout=2.0)
    with pytest.raises(SourceError, match="cannot open stream tcp://127.0.0.1:.*check the address"):
        source.open()
