"""A real RTSP server for tests: GStreamer's gst-rtsp-server serving MP4 files' H.264 video.

Run with the system interpreter, which has the ``gi`` bindings (the project's venv does not):

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --mount /highway=highway.mp4 --loop

The video is served as it is stored (demuxed and packetised, never re-encoded), in real time,
through a shared media factory so that several clients watch one stream, as with a real camera.
``--loop`` first writes a copy that repeats the file ``--loop-count`` times (``ffmpeg -stream_loop
-c copy``, video only) into a temporary folder: a plain file keeps the pipeline simple, and a
stream that outlives a test is all a test needs. Prints ``READY port=P`` once listening.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402  # only after require_version picks the API

# Only the first video track is linked; config-interval=-1 repeats SPS/PPS before every IDR frame,
# so a client that joins mid-stream can start decoding at the next keyframe.
PIPELINE = (
    '( filesrc location="{path}" ! qtdemux name=demux demux.video_0 ! queue '
    "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def parse_mount(value: str) -> tuple[str, Path]:
    mount, sep, path = value.partition("=")
    if not sep or not mount.startswith("/") or not path:
        raise argparse.ArgumentTypeError(f"--mount '{value}': expected /name=FILE")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"--mount '{value}': no such file '{path}'")
    return mount, Path(path).resolve()


def looped_copy(source: Path, count: int, folder: Path) -> Path:
    """A video-only copy of ``source`` repeated ``count`` times, without re-encoding."""
    target = folder / f"{source.stem}.looped.mp4"
    command = [
        "ffmpeg",
        "-loglevel",
        "error",
        "-y",
        "-stream_loop",
        str(count - 1),
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        str(target),
    ]
    subprocess.run(command, check=True)
    return target


def build_server(port: int, mounts: dict[str, Path]) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    points = server.get_mount_points()
    for mount, path in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(PIPELINE.format(path=path))
        factory.set_shared(True)
        points.add_factory(mount, factory)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--mount", type=parse_mount, action="append", required=True, help="/name=FILE; repeatable"
    )
    parser.add_argument("--loop", action="store_true", help="repeat each file (see --loop-count)")
    parser.add_argument("--loop-count", type=int, default=20, help="times each file is repeated with --loop")
    args = parser.parse_args(argv)

    Gst.init(None)
    workdir = Path(tempfile.mkdtemp(prefix="gridwatch-rtsp-"))
    try:
        mounts = dict(args.mount)
        if args.loop:
            mounts = {mount: looped_copy(path, args.loop_count, workdir) for mount, path in mounts.items()}
        server = build_server(args.port, mounts)
        if server.attach(None) == 0:
            print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
            return 1
        loop = GLib.MainLoop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
        print(f"READY port={args.port}", flush=True)
        loop.run()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
