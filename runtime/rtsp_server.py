"""The RTSP server behind `rtsp://@:PORT/NAME` outputs: GStreamer's RTSP server (gst-rtsp-server,
as jetson-utils uses), run as a helper process by runtime/stream_sinks.py.

Why a helper process: GStreamer's Python bindings (PyGObject, `gi`) come from Debian's packages
(python3-gi, gir1.2-gst-rtsp-server-1.0), built for the system's Python, not for whatever
Python nircolor runs in; the helper runs under that interpreter and nircolor needs no `gi`.

With NIRCOLOR_RTSP_PASSWORD set (the run's access token, runtime/stream_auth.py), clients must
give --user and that password (RTSP basic authentication); without it anyone may connect.

It reads raw RGB frames (WIDTH x HEIGHT x 3 bytes each) on stdin and serves them at
rtsp://HOST:PORT/NAME: one shared pipeline for every client (appsrc -> x264enc zerolatency ->
rtph264pay), a keyframe every second with its parameter sets, so a client that joins late has
a picture within a second. It prints "ready" once listening, and exits when stdin closes.

    python3 rtsp_server.py --port 8554 --name live --width 640 --height 480 --fps 30
"""

import argparse
import os
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate-kbps", type=int, default=4000)
    parser.add_argument("--user", default="nircolor", help="the user name clients give with the password")
    args = parser.parse_args()

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    caps = f"video/x-raw,format=RGB,width={args.width},height={args.height},framerate={args.fps}/1"
    launch = (f"( appsrc name=src is-live=true do-timestamp=true format=time caps={caps} "
              f"! queue leaky=downstream max-size-buffers=2 ! videoconvert ! video/x-raw,format=I420 "
              f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={args.bitrate_kbps} key-int-max={args.fps} "
              f"! rtph264pay name=pay0 pt=96 config-interval=1 )")
    sources = []  # the appsrc of the shared media, once a client made it
    lock = threading.Lock()

    def configured(factory, media):
        src = media.get_element().get_child_by_name("src")
        with lock:
            sources.append(src)

        def gone(_media):  # the last client left: this pipeline is torn down, a new one comes with the next
            with lock:
                if src in sources:
                    sources.remove(src)

        media.connect("unprepared", gone)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.connect("media-configure", configured)
    server = GstRtspServer.RTSPServer()
    password = os.environ.get("NIRCOLOR_RTSP_PASSWORD")
    if password:
        # Only a client with the run's credentials may see or make the media.
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    server.set_address(args.host)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(f"/{args.name}", factory)
    if server.attach(None) == 0:
        print(f"error: cannot listen on {args.host}:{args.port}", flush=True)
        return 1
    loop = GLib.MainLoop()
    frame_bytes = args.width * args.height * 3

    def feed():
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            with lock:
                live = list(sources)
            for src in live:  # no client yet: the frame is simply not sent
                src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        GLib.idle_add(loop.quit)

    threading.Thread(target=feed, daemon=True).start()
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
