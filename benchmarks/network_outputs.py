"""What each network output adds to a frame's latency: from handing an RGB frame to the sink to
a receiver on loopback having it decoded (PyAV, as ffplay does), at 640x480 and 30 fps.

    python benchmarks/network_outputs.py     # udp://, rtp://, rtsp:// and webrtc://; writes benchmarks/results/network-outputs.{json,md}

Each frame carries its number in black and white blocks, so the receiver knows which frame it decoded. The
receiver opens the stream with FFmpeg's low-delay flags (no buffering, no reordering delay), as
a viewer would with `ffplay -fflags nobuffer -flags low_delay`.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from fractions import Fraction

import av
import numpy as np

from nircolor.runtime.sinks import open_sink
from nircolor.runtime.sources import SourceInfo

from harness import RESULTS, write_markdown, write_report

W, H, FPS, FRAMES = 640, 480, 30, 240


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def numbered(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, W, dtype=np.uint8)[None]  # some colour for the encoder to work on
    img[:, :, 1] = np.linspace(255, 0, H, dtype=np.uint8)[:, None]
    for bit in range(8):  # the frame's number in black and white blocks: survives lossy coding
        img[:32, 32 * bit: 32 * bit + 32] = 255 if (i >> bit) & 1 else 0
    return img


def frame_number(rgb: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if rgb[8:24, 32 * bit + 8: 32 * bit + 24].mean() > 128)


def send_numbered(sink, sent: dict[int, float]) -> list[float]:
    """FRAMES numbered frames at FPS into the sink, each one's send time in `sent`; the write times."""
    write_ms = []
    start = time.perf_counter()
    for i in range(FRAMES):
        img = numbered(i)
        sent[i] = time.perf_counter()
        sink.write(img, i / FPS)
        write_ms.append(1000 * (time.perf_counter() - sent[i]))
        time.sleep(max(0.0, start + (i + 1) / FPS - time.perf_counter()))
    return write_ms


def row(output: str, latencies: list, first_decoded: list, write_ms: list[float]) -> dict:
    # Frames sent once the receiver decodes: the ones before queued up while it probed the stream.
    steady = [ms for sent_at, ms in latencies if first_decoded and sent_at > first_decoded[0]]
    return {"output": output, "frames_sent": FRAMES, "frames_decoded": len(latencies),
            "write_ms_median": statistics.median(write_ms), "latency_ms_median": statistics.median(steady) if steady else None,
            "latency_ms_p95": float(np.percentile(steady, 95)) if steady else None}


def measure(scheme: str) -> dict:
    port = free_port()
    uri = f"rtsp://127.0.0.1:{port}/live" if scheme == "rtsp" else f"{scheme}://127.0.0.1:{port}"
    sent: dict[int, float] = {}
    latencies, first_decoded = [], []

    def receive():
        options = {"fflags": "nobuffer", "flags": "low_delay", "timeout": "8000000"}
        if scheme == "rtsp":
            options = {"fflags": "nobuffer", "flags": "low_delay", "rtsp_transport": "tcp"}
        with av.open(sink.url if scheme == "rtsp" else uri, options=options, timeout=8) as c:  # the server's URL holds its credentials
            for frame in c.decode(video=0):
                arrived = time.perf_counter()
                index = frame_number(frame.to_ndarray(format="rgb24"))
                if index in sent:
                    latencies.append((sent[index], 1000 * (arrived - sent[index])))
                    first_decoded.append(arrived)

    receiver = threading.Thread(target=receive, daemon=True)
    if scheme == "rtsp":  # a server: it listens first, the client connects to it
        sink = open_sink(uri).open(SourceInfo("bench", True, W, H, Fraction(FPS)), (W, H))
        receiver.start()
    else:  # a stream sent to the receiver's address: it listens first
        receiver.start()
        time.sleep(0.5)
        sink = open_sink(uri).open(SourceInfo("bench", True, W, H, Fraction(FPS)), (W, H))
    write_ms = send_numbered(sink, sent)
    sink.close()
    receiver.join(5)
    return row(uri.split(":")[0] + "://", latencies, first_decoded, write_ms)


def _webrtc_viewer(url: str, sent: dict, latencies: list, first_decoded: list, stop: threading.Event) -> None:
    """A WebRTC viewer in Python (aiortc), doing what the served page does: offer, answer, decode."""
    import asyncio

    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription

    async def view():
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        tracks = []
        pc.on("track", tracks.append)
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            page, _, query = url.partition("?")  # the page's address and its ?token=...
            async with http.post(f"{page}/offer?{query}", json={"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}) as r:
                answer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        while not tracks:
            await asyncio.sleep(0.01)
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(tracks[0].recv(), 2)
            except Exception:  # a timeout or the connection closing: the viewer is done
                break
            arrived = time.perf_counter()
            index = frame_number(frame.to_ndarray(format="rgb24"))
            if index in sent and index not in seen:  # the track repeats the newest frame until a new one comes
                seen.add(index)
                latencies.append((sent[index], 1000 * (arrived - sent[index])))
                first_decoded.append(arrived)
        await pc.close()

    seen: set[int] = set()
    asyncio.run(view())


def measure_webrtc() -> dict:
    """The same for webrtc://: the newest frame goes to each viewer at the stream's rate, so a frame
    may wait up to one frame interval for its turn, on top of VP8 coding and the transport."""
    port = free_port()
    uri = f"webrtc://127.0.0.1:{port}/live"
    sent: dict[int, float] = {}
    latencies, first_decoded = [], []
    stop = threading.Event()
    sink = open_sink(uri).open(SourceInfo("bench", True, W, H, Fraction(FPS)), (W, H))
    viewer = threading.Thread(target=_webrtc_viewer, args=(sink.url, sent, latencies, first_decoded, stop),
                              daemon=True)
    viewer.start()
    write_ms = send_numbered(sink, sent)
    stop.set()
    viewer.join(5)
    sink.close()
    return row("webrtc://", latencies, first_decoded, write_ms)


def main() -> None:
    rows = [measure(scheme) for scheme in ("udp", "rtp", "rtsp")] + [measure_webrtc()]
    write_report(RESULTS / "network-outputs.json", {"size": [W, H], "fps": FPS, "rows": rows})
    md = ["# Network outputs: added latency", "", f"`python benchmarks/network_outputs.py`: {W}x{H} at {FPS} fps, sender and "
          "receiver (PyAV, low-delay flags; for webrtc:// an aiortc viewer doing what the served page does) on loopback on this 2-core CPU; latency from handing the frame to the sink to the "
          "receiver having decoded it, median and 95th percentile of the frames sent after the receiver decoded its first one.", "",
          "| output | frames sent / decoded | sink write ms (median) | added latency ms (median) | p95 ms |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        md.append(f"| {r['output']} | {r['frames_sent']} / {r['frames_decoded']} | {r['write_ms_median']:.1f} | "
                  f"{r['latency_ms_median']:.1f} | {r['latency_ms_p95']:.1f} |")
    write_markdown(RESULTS / "network-outputs.md", md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
