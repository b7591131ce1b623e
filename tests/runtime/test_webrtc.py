"""webrtc:// output: `nircolor run` serves a page; headless Chromium (started by the test, driven
over the DevTools protocol) watches the live stream, and its screenshot shows the coloured frame
beside the NIR. A recording written at the same time keeps every frame while a viewer connects,
leaves and another connects."""

import asyncio
import base64
import importlib.util
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from nircolor.runtime.sinks import SinkError, open_sink
from nircolor.runtime.sources import SAMPLE_CLIP
from nircolor.runtime.webrtc_sink import WebRTCSink, parse

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
HAS_WEBRTC = all(importlib.util.find_spec(m) is not None for m in ("aiortc", "aiohttp"))
TOKEN = "test-token-1234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not HAS_WEBRTC, reason="aiortc/aiohttp not installed (pip install 'nircolor[webrtc]')")
def test_uri_forms_and_errors():
    assert parse("webrtc://@:8080/live") == ("0.0.0.0", 8080, "live")
    assert parse("webrtc://127.0.0.1:9000/cam0") == ("127.0.0.1", 9000, "cam0")
    assert parse("webrtc://@:8080/live?token=abcdefgh12") == ("0.0.0.0", 8080, "live")
    assert isinstance(open_sink("webrtc://@:8080/live"), WebRTCSink)
    sink = open_sink("webrtc://127.0.0.1:8080/live?token=abcdefgh12&viewers=2")
    assert sink.url == "http://127.0.0.1:8080/live?token=abcdefgh12" and sink.max_viewers == 2
    assert open_sink("webrtc://@:8080/live", auth=False).token is None
    for bad_token in ("short", "has spaces in it", "quote\"quote\""):
        with pytest.raises(SinkError, match="8 to 128 letters"):
            open_sink(f"webrtc://@:8080/live?token={bad_token}")
    for bad in ("webrtc://@/live", "webrtc://@:8080", "webrtc://@:8080/a/b"):
        with pytest.raises(SinkError, match="webrtc://@:PORT/NAME"):
            parse(bad)


@pytest.mark.skipif(not HAS_WEBRTC, reason="aiortc/aiohttp not installed (pip install 'nircolor[webrtc]')")
def test_a_taken_port_is_a_clear_error():
    from nircolor.runtime.sources import SourceInfo

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sink = WebRTCSink(f"webrtc://127.0.0.1:{taken.getsockname()[1]}/live")
        with pytest.raises(SinkError, match="choose another port"):
            sink.open(SourceInfo("test", True, 64, 48), (64, 48))


class Browser:
    """Headless Chromium with a DevTools endpoint; one page, driven over its websocket."""

    def __init__(self, profile: Path):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
             "--autoplay-policy=no-user-gesture-required", f"--remote-debugging-port={self.port}",
             f"--user-data-dir={profile}", "--window-size=960,400", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def __aenter__(self):
        import aiohttp

        self.http = aiohttp.ClientSession()
        deadline = time.monotonic() + 30
        while True:
            try:
                async with self.http.get(f"http://127.0.0.1:{self.port}/json/list") as r:
                    pages = [t for t in await r.json() if t["type"] == "page"]
                if pages:
                    break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium's DevTools endpoint did not come up")
            await asyncio.sleep(0.2)
        self.ws = await self.http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        self.next_id = 0
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

    async def watch(self, url: str, timeout: float = 40) -> np.ndarray:
        """Open the page, wait until its video plays, return a screenshot (BGR)."""
        await self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        playing = "(() => { const v = document.querySelector('video'); return !!v && v.readyState >= 2 && v.currentTime > 0.5; })()"
        while not await self.evaluate(playing):
            if time.monotonic() > deadline:
                state = await self.evaluate("document.getElementById('state')?.textContent")
                raise TimeoutError(f"the video did not play; the page says {state!r}")
            await asyncio.sleep(0.25)
        shot = await self.call("Page.captureScreenshot", format="png")
        return cv2.imdecode(np.frombuffer(base64.b64decode(shot["data"]), np.uint8), cv2.IMREAD_COLOR)


def _long_clip(path: Path, loops: int = 3) -> int:
    """The sample clip played `loops` times (long enough for a browser to connect twice)."""
    with av.open(str(SAMPLE_CLIP)) as source:
        frames = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for i in range(loops * len(frames)):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return loops * len(frames)


def _chroma(bgr: np.ndarray) -> float:
    """Mean distance from grey: 0 for a grey picture."""
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(float)
    return float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean())


@pytest.mark.skipif(not HAS_WEBRTC, reason="aiortc/aiohttp not installed (pip install 'nircolor[webrtc]')")
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to watch with (apt-get install chromium)")
def test_browser_watches_the_colour_stream_while_a_recording_keeps_every_frame(tmp_path):
    from nircolor.runtime.app import ModelOptions, PipelineOptions, run

    clip = tmp_path / "drive.mp4"
    _long_clip(clip, loops=5)  # 25 s: room for two browser visits on a slow machine
    port = _free_port()
    recording = tmp_path / "rec.mp4"
    outcome = {}

    def pipeline():
        try:
            outcome["result"] = run(str(clip), [f"webrtc://127.0.0.1:{port}/live?token={TOKEN}", str(recording)],
                                    ModelOptions(backend="onnxruntime", device="cpu"), PipelineOptions("live", "side-by-side"),
                                    progress=False)
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=pipeline)
    thread.start()

    async def viewers():
        shots = []
        for visit in range(2):  # a viewer connects, leaves (the page is replaced), another connects
            async with Browser(tmp_path / f"profile{visit}") as browser:
                shots.append(await browser.watch(f"http://127.0.0.1:{port}/live?token={TOKEN}"))
                await browser.call("Page.navigate", url="about:blank")
        return shots

    try:
        shots = asyncio.run(viewers())
    finally:
        thread.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    for i, shot in enumerate(shots):
        cv2.imwrite(str(tmp_path / f"viewer{i}.png"), shot)  # kept for a look when it fails
        # The page shows NIR | colour: the right half is coloured, the left half grey.
        h, w = shot.shape[:2]
        video = shot[h // 8: -h // 8]  # inside the letterbox
        left, right = video[:, w // 8: w // 2 - w // 16], video[:, w // 2 + w // 16: -w // 8]
        assert right.mean() > 20, "the page shows no picture"
        # (grey NIR: chroma 0; the default model's colour of this indoor night clip is muted, about 2.5)
        assert _chroma(left) < 1.0 and _chroma(right) > 1.5, (_chroma(left), _chroma(right))
    with av.open(str(recording)) as c:
        recorded = sum(1 for _ in c.decode(video=0))
    assert recorded == result.frames_written > 0 and result.frames_written + result.dropped >= result.frames_read


@pytest.mark.skipif(not HAS_WEBRTC, reason="aiortc/aiohttp not installed (pip install 'nircolor[webrtc]')")
def test_strangers_are_refused_and_failed_or_abandoned_viewers_are_released(monkeypatch, capsys):
    """No page and no stream without the run's token (401); a bad offer gets 400 and holds
    nothing; offers from clients that leave at once are released within seconds; beyond the
    viewer limit 503."""
    import aiohttp
    from aiortc import RTCPeerConnection

    from nircolor.runtime import webrtc_sink
    from nircolor.runtime.sources import SourceInfo

    monkeypatch.setattr(webrtc_sink, "CONNECT_TIMEOUT_S", 1.0)
    port = _free_port()
    sink = open_sink(f"webrtc://127.0.0.1:{port}/live?token={TOKEN}&viewers=2")
    sink.open(SourceInfo("test", True, 64, 48), (64, 48))
    assert f"http://127.0.0.1:{port}/live?token={TOKEN}" in capsys.readouterr().out
    base = f"http://127.0.0.1:{port}/live"

    async def offer_sdp() -> tuple[RTCPeerConnection, dict]:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc, {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def visit():
        async with aiohttp.ClientSession() as http:
            for url in (base, f"{base}?token=wrong-token-123"):
                async with http.get(url) as r:
                    assert r.status == 401 and "access token" in await r.text()
            async with http.get(f"{base}?token={TOKEN}") as r:
                assert r.status == 200 and f"/live/offer?token={TOKEN}" in await r.text()
            pc, offer = await offer_sdp()
            async with http.post(f"{base}/offer", json=offer) as r:
                assert r.status == 401
            async with http.post(f"{base}/offer?token={TOKEN}", data=b"not json") as r:
                assert r.status == 400
            async with http.post(f"{base}/offer?token={TOKEN}", json={"sdp": "v=0 garbage", "type": "offer"}) as r:
                assert r.status == 400
            assert sink.viewers == 0
            # Clients that send an offer and leave at once; the third is over the limit.
            statuses = []
            for _ in range(3):
                async with http.post(f"{base}/offer?token={TOKEN}", json=offer) as r:
                    statuses.append(r.status)
            assert statuses == [200, 200, 503] and sink.viewers == 2
            await pc.close()
            for _ in range(50):
                if sink.viewers == 0:
                    break
                await asyncio.sleep(0.1)
            assert sink.viewers == 0
            async with http.post(f"{base}/offer?token={TOKEN}", json=offer) as r:
                assert r.status == 200  # room again

    try:
        asyncio.run(visit())
    finally:
        sink.close()


def test_webrtc_without_aiortc_is_refused_before_any_work(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aiortc" else real(name, *a))
    with pytest.raises(SinkError, match="pip install 'nircolor\\[webrtc\\]'"):
        open_sink("webrtc://@:8080/live")
