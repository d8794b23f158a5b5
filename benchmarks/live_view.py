"""Live view: time from the click to the first decoded frame, and the edge's CPU per viewer,
pass-through against re-encode, side by side in one run.

    .venv/bin/python -m benchmarks.live_view [--seconds 10] [--cold-opens 5] [--scale 1280x720]
                                             [--out FILE.json]

Everything is real and on this machine (loopback): the GStreamer RTSP server loops highway.mp4
(H.264 Main, 640x360, 30 fps, no B-frames; ``--scale`` makes an upscaled copy first, without
B-frames), ``gridwatch-central serve``, Mosquitto, and two ``gridwatch-edge run`` processes on
that one stream, ``pt-box`` with ``live.mode: passthrough`` and ``re-box`` with ``reencode``.
The viewers are pages of the central's ``/live`` page in headless Chromium.

- first frame: ``firstFrameMs`` as the page measures it, from ``start()`` (the click) to the
  first frame the video element presents: settings fetch, offer, ICE gathering, HTTP, MQTT RPC,
  the edge's answer, ICE and DTLS, and decoding. ``cold``: the camera's first viewer (the feed
  starts); ``warm``: a viewer joining a running feed.
- CPU: the edge process's user+system time over ``--seconds`` with 0, 1 and 3 viewers of one
  camera; the camera's analysis runs at 0.2 frames/s, so the baseline is mostly the reader.

Prints a table and writes JSON (default bench-results/live_view.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.paths import HIGHWAY, ROOT
from tests.support.rtsp import RtspServer
from tests.support.stack import CentralProcess, EdgeProcess, camera, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MODES = {"passthrough": "pt-box", "reencode": "re-box"}
SETTLE_S = 2.0

STATS_JS = """async () => {
  const live = window.gridwatchLive;
  let decoded = 0;
  if (live.pc) (await live.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') decoded = s.framesDecoded;
  });
  return {firstFrameMs: live.firstFrameMs, error: live.error, mode: live.mode, decoded};
}"""


def scaled_copy(size: str, folder: Path) -> Path:
    """highway.mp4 at ``size`` (WxH), H.264 Main without B-frames, like a camera's main stream."""
    target = folder / f"highway-{size}.mp4"
    width, height = size.split("x")
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(HIGHWAY),
            "-an",
            "-vf",
            f"scale={width}:{height}",
            "-c:v",
            "libx264",
            "-profile:v",
            "main",
            "-bf",
            "0",
            "-g",
            "60",
            "-b:v",
            "2500k",
            str(target),
        ],
        check=True,
    )
    return target


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def core_share(pid: int, seconds: float) -> float:
    """The process's CPU over ``seconds`` of wall time, as a fraction of one core."""
    process = psutil.Process(pid)
    start_cpu, start = cpu_seconds(process), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(process) - start_cpu) / (time.monotonic() - start)


def open_viewer(browser: Browser, central: CentralProcess, camera_id: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(
        f"{central.base_url}/live?{urlencode({'token': central.tokens['operator'], 'camera': camera_id})}"
    )
    return page


def first_frame_ms(page: Page) -> float:
    def shown() -> dict[str, Any] | None:
        state: dict[str, Any] = page.evaluate(STATS_JS)
        if state["error"]:
            raise RuntimeError(f"the page shows an error: {state['error']}")
        return state if state["firstFrameMs"] is not None else None

    return float(wait_until(shown, 20, "the first frame", interval=0.05)["firstFrameMs"])


def decoded(page: Page) -> int:
    return int(page.evaluate(STATS_JS)["decoded"])


def close_all(pages: list[Page], edge: EdgeProcess) -> None:
    for page in pages:
        page.context.close()
    pages.clear()
    wait_until(lambda: _viewers(edge) == 0, 15, f"{edge.name}'s viewers to be closed")


def _viewers(edge: EdgeProcess) -> int:
    added = {r["session"] for r in edge.events("live viewer added")}
    return len(added - {r["session"] for r in edge.events("live viewer closed")})


def measure_mode(
    browser: Browser,
    central: CentralProcess,
    edge: EdgeProcess,
    camera_id: str,
    seconds: float,
    cold_opens: int,
) -> dict[str, Any]:
    pages: list[Page] = []
    cold: list[float] = []
    for _ in range(cold_opens):  # each the camera's only viewer: the feed starts every time
        pages.append(open_viewer(browser, central, camera_id))
        cold.append(first_frame_ms(pages[0]))
        close_all(pages, edge)
    idle = core_share(edge.pid, seconds)
    pages.append(open_viewer(browser, central, camera_id))
    cold.append(first_frame_ms(pages[0]))
    time.sleep(SETTLE_S)
    frames = decoded(pages[0])
    one = core_share(edge.pid, seconds)
    fps_one = (decoded(pages[0]) - frames) / seconds
    warm = []
    for _ in range(2):
        pages.append(open_viewer(browser, central, camera_id))
        warm.append(first_frame_ms(pages[-1]))
    time.sleep(SETTLE_S)
    before = [decoded(p) for p in pages]
    three = core_share(edge.pid, seconds)
    fps_three = [round((decoded(p) - b) / seconds, 1) for p, b in zip(pages, before, strict=True)]
    close_all(pages, edge)
    return {
        "first_frame_ms": {"cold": cold, "cold_median": statistics.median(cold), "warm": warm},
        "edge_core_share": {"0": round(idle, 4), "1": round(one, 4), "3": round(three, 4)},
        "first_viewer_cores": round(one - idle, 4),
        "extra_viewer_cores": round((three - one) / 2, 4),
        "viewer_fps": {"1": round(fps_one, 1), "3": fps_three},
    }


@contextmanager
def stack(folder: Path, source: Path) -> Iterator[tuple[CentralProcess, dict[str, EdgeProcess]]]:
    with ExitStack() as cleanup:
        rtsp = cleanup.enter_context(RtspServer({"cam": source}))
        central = CentralProcess(folder).start()
        cleanup.callback(central.stop)
        edges = {}
        for mode, device in MODES.items():
            cam = camera(f"highway-{mode}", rtsp.url("cam"), analysis_fps=0.2)
            edge = EdgeProcess(folder, central, device, [cam], live={"mode": mode, "max_viewers": 8})
            cleanup.callback(edge.stop)
            edges[mode] = edge.start(streaming=[cam["id"]])
        yield central, edges


def table(results: dict[str, Any]) -> str:
    rows = [("", *results["modes"])]
    modes = [results["modes"][m] for m in results["modes"]]
    rows.append(
        ("first frame, cold (median ms)", *(f"{m['first_frame_ms']['cold_median']:.0f}" for m in modes))
    )
    rows.append(
        (
            "first frame, warm (ms)",
            *(" / ".join(f"{v:.0f}" for v in m["first_frame_ms"]["warm"]) for m in modes),
        )
    )
    for n in ("0", "1", "3"):
        rows.append(
            (
                f"edge CPU, {n} viewer(s) (% of a core)",
                *(f"{100 * m['edge_core_share'][n]:.1f}" for m in modes),
            )
        )
    rows.append(("first viewer (% of a core)", *(f"{100 * m['first_viewer_cores']:.1f}" for m in modes)))
    rows.append(("each extra viewer (% of a core)", *(f"{100 * m['extra_viewer_cores']:.1f}" for m in modes)))
    rows.append(
        ("viewer fps, 1 / 3 viewers", *(f"{m['viewer_fps']['1']} / {m['viewer_fps']['3']}" for m in modes))
    )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU measuring window per case")
    parser.add_argument(
        "--cold-opens", type=int, default=4, help="extra first-viewer opens per mode, for the median"
    )
    parser.add_argument("--scale", metavar="WxH", help="serve an upscaled copy of highway.mp4 instead")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "live_view.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridwatch-live-bench-") as scratch:
        folder = Path(scratch)
        source = scaled_copy(args.scale, folder) if args.scale else HIGHWAY
        load_before = os.getloadavg()
        with stack(folder, source) as (central, edges), sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                modes = {
                    mode: measure_mode(
                        browser, central, edges[mode], f"highway-{mode}", args.seconds, args.cold_opens
                    )
                    for mode in MODES
                }
            finally:
                browser.close()
    results = {
        "source": {"file": source.name, "size": args.scale or "640x360", "fps": 30},
        "seconds_per_case": args.seconds,
        "cpus": psutil.cpu_count(),
        "load_before": load_before,
        "machine": platform.processor() or platform.machine(),
        "modes": modes,
    }
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
