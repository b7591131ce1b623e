"""`webrtc://@:PORT/NAME`: nircolor serves a page at http://HOST:PORT/NAME where a browser watches
the live colour stream over WebRTC (aiortc); `--layout side-by-side` shows the NIR beside it.

The server runs in its own thread with its own asyncio loop: `write` only swaps the newest
frame in, so a viewer who connects, stalls or leaves never holds back the pipeline or the other
outputs. Each viewer gets its own track, which sends the newest frame at the stream's rate
(VP8 or H.264, as the browser prefers); a viewer's connection is closed when it fails or the
page goes away. No STUN server is used: viewers on the same network (or loopback) connect by
host candidates, as a car's display or a laptop on its Wi-Fi would.

    webrtc://@:8080/live            every interface, page at http://<this machine>:8080/live?token=...
    webrtc://127.0.0.1:8080/live    this machine only
    webrtc://@:8080/live?token=SECRET&viewers=8

The page and its offer endpoint need the run's access token (runtime/stream_auth.py: printed in
the URL to open; 401 without it). At most `viewers` (default 4) watch at once (503 beyond); a
viewer whose connection is not up within CONNECT_TIMEOUT_S, fails or closes is released, and an
offer that is not a valid SDP gets 400.

aiortc and aiohttp are imported only when such an output opens (the `webrtc` extra); whether
they are installed is checked when the output is made, before any model loads.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from fractions import Fraction
from urllib.parse import urlsplit

import numpy as np

from .frames import even_size, pad_to_even
from .sinks import Sink, SinkError
from .sources import SourceInfo
from .stream_auth import TokenError, no_auth_warning, query_value, stream_token, token_matches

SCHEME = "webrtc"
START_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0  # an offer whose connection is not up by then was abandoned
DEFAULT_MAX_VIEWERS = 4

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>nircolor: {name}</title>
<style>html,body{{margin:0;height:100%;overflow:hidden;background:#000}}video{{width:100%;height:100%;object-fit:contain}}
#state{{position:fixed;top:4px;left:6px;color:#8a8;font:12px sans-serif}}</style></head>
<body><video id="video" autoplay muted playsinline></video><div id="state">connecting</div>
<script>
const state = document.getElementById("state"), video = document.getElementById("video");
async function start() {{
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {{direction: "recvonly"}});
  pc.ontrack = (event) => {{ video.srcObject = event.streams[0] || new MediaStream([event.track]); }};
  pc.onconnectionstatechange = () => {{
    state.textContent = pc.connectionState;
    if (pc.connectionState === "failed" || pc.connectionState === "disconnected") setTimeout(() => location.reload(), 2000);
  }};
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {{
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
  }});
  const answer = await fetch("/{name}/offer{query}", {{method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{sdp: pc.localDescription.sdp, type: pc.localDescription.type}})}});
  if (!answer.ok) {{ state.textContent = "refused: " + await answer.text(); return; }}
  await pc.setRemoteDescription(await answer.json());
  window.addEventListener("pagehide", () => pc.close());
}}
video.onplaying = () => {{ state.textContent = "live"; }};
start().catch((error) => {{ state.textContent = String(error); }});
</script></body></html>
"""


def is_webrtc_uri(text: str) -> bool:
    return urlsplit(str(text)).scheme == SCHEME


def parse(uri: str) -> tuple[str, int, str]:
    """webrtc://[@|HOST]:PORT/NAME -> (host to bind, port, name)."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    host, _, port_text = netloc.rpartition(":")
    name = parts.path.strip("/")
    if not port_text.isdigit() or not name or "/" in name:
        raise SinkError(f"{uri!r} is not a WebRTC output; use webrtc://@:PORT/NAME (every interface) or webrtc://HOST:PORT/NAME")
    return ("0.0.0.0" if host in ("", "@") else host), int(port_text), name


class WebRTCSink(Sink):
    shows_overlay = True  # a person watches it

    def __init__(self, uri: str, auth: bool = True):
        missing = [m for m in ("aiortc", "aiohttp") if importlib.util.find_spec(m) is None]
        if missing:
            raise SinkError(f"webrtc:// outputs need {' and '.join(missing)}: pip install 'nircolor[webrtc]'")
        self.uri = uri
        self.host, self.port, self.name = parse(uri)
        try:
            self.token = stream_token(uri, auth)
            self.max_viewers = int(query_value(uri, "viewers") or DEFAULT_MAX_VIEWERS)
        except (TokenError, ValueError) as exc:
            raise SinkError(f"{uri}: {exc}") from None
        if self.max_viewers < 1:
            raise SinkError(f"{uri}: viewers must be at least 1")
        self.fps = Fraction(30)
        self._latest: np.ndarray | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None
        self._peers: set = set()
        self.viewers_total = 0
        self.frames = 0

    # The pipeline's side -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The address to open: the page, with the token when one is needed."""
        host = "localhost" if self.host == "0.0.0.0" else self.host
        return f"http://{host}:{self.port}/{self.name}" + (f"?token={self.token}" if self.token else "")

    def open(self, info: SourceInfo, size: tuple[int, int]) -> "WebRTCSink":
        self.fps = info.fps or Fraction(30)
        w, h = size
        even_w, even_h = even_size(w, h)
        self._latest = np.zeros((even_h, even_w, 3), np.uint8)  # what a viewer sees before the first frame
        started, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._serve, args=(started, failure), name=f"webrtc:{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S) or failure:
            reason = failure[0] if failure else "it did not start in time"
            raise SinkError(f"cannot serve {self.uri}: {reason}; choose another port or address")
        if self.token is None:
            print(no_auth_warning(self.uri))
        print(f"WebRTC: watch at {self.url}" + (" (from another machine: this machine's address instead of localhost)" if self.host == "0.0.0.0" else ""))
        return self

    def write(self, rgb: np.ndarray, pts: float | None, overlay: str = "") -> bool:
        frame = pad_to_even(rgb)
        with self._lock:
            self._latest = frame  # the pipeline's frame is not written to again: no copy
        self.frames += 1
        return True

    def latest(self) -> np.ndarray:
        with self._lock:
            return self._latest

    @property
    def viewers(self) -> int:
        return len(self._peers)

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout=10)
        except Exception:  # closing must not fail the run; the thread is a daemon
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = None

    # The server's side (its own thread and loop) ------------------------------------------

    def _serve(self, started: threading.Event, failure: list) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except Exception as exc:  # the port is taken, the address is not this machine's
            failure.append(f"{type(exc).__name__}: {exc}")
            started.set()
            loop.close()
            return
        started.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get(f"/{self.name}", self._page)
        app.router.add_get("/", self._home)
        app.router.add_post(f"/{self.name}/offer", self._offer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def _home(self, request):
        from aiohttp import web

        raise web.HTTPFound(f"/{self.name}")

    def _refused(self, request):
        """A 401 response when the request does not carry the run's token, else None."""
        from aiohttp import web

        if token_matches(self.token, request.query.get("token")):
            return None
        return web.Response(status=401, text="this stream needs its access token: open the URL that nircolor printed (...?token=...)")

    async def _page(self, request):
        from aiohttp import web

        refused = self._refused(request)
        if refused is not None:
            return refused
        query = f"?token={self.token}" if self.token else ""
        return web.Response(text=PAGE.format(name=self.name, query=query), content_type="text/html")

    async def _offer(self, request):
        from aiohttp import web
        from aiortc import RTCPeerConnection, RTCSessionDescription

        refused = self._refused(request)
        if refused is not None:
            return refused
        if len(self._peers) >= self.max_viewers:
            return web.Response(status=503, text=f"{self.max_viewers} viewers are watching already; try again later")
        try:
            params = await request.json()
            offer = RTCSessionDescription(sdp=params["sdp"], type=params["type"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="expected JSON {sdp, type} from the page's RTCPeerConnection")
        pc = RTCPeerConnection()
        self._peers.add(pc)
        self.viewers_total += 1

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._drop(pc)

        try:
            pc.addTrack(_newest_frame_track(self))
            await pc.setRemoteDescription(offer)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises several types for an SDP it cannot use
            await self._drop(pc)
            return web.Response(status=400, text=f"cannot use this offer ({type(exc).__name__}); expected the SDP offer of a browser")
        asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_S, lambda: asyncio.ensure_future(self._drop_if_not_connected(pc)))
        return web.Response(content_type="application/json",
                            text=json.dumps({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}))

    async def _drop_if_not_connected(self, pc) -> None:
        if pc.connectionState != "connected":
            await self._drop(pc)

    async def _drop(self, pc) -> None:
        if pc in self._peers:
            self._peers.discard(pc)
            await pc.close()

    async def _shutdown(self) -> None:
        await asyncio.gather(*(self._drop(pc) for pc in list(self._peers)), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()


def _newest_frame_track(sink: WebRTCSink):
    """A video track (aiortc's MediaStreamTrack) that sends the sink's newest frame at its rate."""
    import av
    from aiortc import VideoStreamTrack

    class NewestFrameTrack(VideoStreamTrack):
        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(sink.latest(), format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return NewestFrameTrack()
