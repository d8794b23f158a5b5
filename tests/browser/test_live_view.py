"""Live view in headless Chromium: central and edges as real processes, a real RTSP camera, Mosquitto.

Two edges: ``live-box`` watches the RTSP server's highway (H.264 Main without B-frames: passed
through) and parking (with B-frames: re-encoded) streams; ``spare-box`` has one camera whose
RTSP server does not exist, and is frozen and then stopped by one test. Another test starts
``dying-box`` on an RTSP server of its own, which it stops and restarts while a page watches.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.browser.conftest import StartEdge
from tests.support.net import free_port
from tests.support.paths import HIGHWAY
from tests.support.rtsp import RtspServer
from tests.support.stack import CentralProcess, EdgeProcess, camera, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MAX_VIEWERS = 3
PEER_TIMEOUT_S = 4

STATS_JS = """async () => {
  const live = window.gridwatchLive, video = document.getElementById('video');
  const result = {width: video.videoWidth, height: video.videoHeight, decoded: 0, mode: live.mode,
                  firstFrameMs: live.firstFrameMs, error: live.error, stalled: live.stalled,
                  sessionId: live.sessionId};
  if (live.pc) (await live.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') result.decoded = s.framesDecoded;
  });
  return result;
}"""


@pytest.fixture(scope="module")
def edges(central: CentralProcess, rtsp_camera: RtspServer, start_edge: StartEdge) -> dict[str, EdgeProcess]:
    live = start_edge(
        "live-box",
        [camera("highway", rtsp_camera.url("highway")), camera("parking", rtsp_camera.url("parking"))],
        streaming=["highway", "parking"],
        live={"max_viewers": MAX_VIEWERS, "peer_timeout_s": PEER_TIMEOUT_S},
    )
    dead_source = f"rtsp://127.0.0.1:{free_port()}/nothing-listens-here"
    spare = start_edge("spare-box", [camera("gate", dead_source)])
    return {"live": live, "spare": spare}


def open_live(page: Page, central: CentralProcess, camera_id: str, token: str = "operator") -> Page:
    query = urlencode({"token": central.tokens[token], "camera": camera_id})
    page.goto(f"{central.base_url}/live?{query}")
    return page


def stats(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(STATS_JS)
    return result


def wait_playing(page: Page, timeout: float = 15.0) -> dict[str, Any]:
    """Until the video has a size and decoded frames; fails at once with the page's error if it shows one."""

    def playing() -> dict[str, Any] | None:
        now = stats(page)
        assert not now["error"], f"the page shows an error: {now['error']}"
        return now if now["width"] > 0 and now["decoded"] > 0 and now["firstFrameMs"] is not None else None

    return wait_until(playing, timeout, "the live video to play", interval=0.1)  # type: ignore[no-any-return]  # the page answers JSON


def assert_advancing(page: Page, frames: int = 15) -> None:
    """The video plays on: ``frames`` more frames decoded. A deadline, not a rate: how fast the browser
    decodes on a loaded 2-core machine is the benchmark's business (benchmarks/live_view.py), not a test's."""
    before = stats(page)["decoded"]
    wait_until(lambda: stats(page)["decoded"] >= before + frames, 20, f"{frames} more frames decoded")


def shown_error(page: Page, timeout: float = 15.0) -> str:
    wait_until(lambda: page.locator("#error").inner_text().strip(), timeout, "an error message in the page")
    return page.locator("#error").inner_text().strip()


def crash(page: Page) -> None:
    """Kill the tab's renderer: no pagehide, no DTLS alert, its packets just stop."""
    with contextlib.suppress(PlaywrightError):  # the navigation dies with the renderer
        page.goto("chrome://crash", timeout=5000)


def closed(edge: EdgeProcess, session_id: str) -> dict[str, Any] | None:
    return next((r for r in edge.events("live viewer closed") if r.get("session") == session_id), None)


def record(artifacts: Path, name: str, data: dict[str, Any]) -> None:
    (artifacts / f"{name}.json").write_text(json.dumps(data, indent=2))


def test_live_view_shows_the_camera_within_seconds(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    page = open_live(new_page(), central, "highway")
    played = wait_playing(page)
    assert (played["width"], played["height"], played["mode"]) == (640, 360, "passthrough")
    assert played["firstFrameMs"] < 3000, f"first frame after {played['firstFrameMs']} ms (goal: under 1 s)"
    assert_advancing(page)
    assert "live (passthrough)" in page.locator("#status").inner_text()
    page.screenshot(path=artifacts / "live-view.png")
    record(artifacts, "first-frame", {"camera": "highway", **played})


def test_two_viewers_play_and_closing_one_leaves_the_other(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    edge = edges["live"]
    sources_before = len([r for r in edge.events("live source started") if r["camera"] == "highway"])
    first, second = open_live(new_page(), central, "highway"), open_live(new_page(), central, "highway")
    ids = [wait_playing(first)["sessionId"], wait_playing(second)["sessionId"]]
    assert_advancing(first)
    assert_advancing(second)
    sources = [r for r in edge.events("live source started") if r["camera"] == "highway"]
    assert len(sources) - sources_before <= 1, "two viewers of one camera must share one source"
    first.screenshot(path=artifacts / "viewer-1.png")
    second.screenshot(path=artifacts / "viewer-2.png")

    started = time.monotonic()
    first.close()  # a closed tab: the page says goodbye (DELETE) as it goes
    record_first = wait_until(lambda: closed(edge, ids[0]), 10, "the edge to drop the closed viewer")
    first_closed_s = time.monotonic() - started
    assert_advancing(second)
    second.screenshot(path=artifacts / "viewer-2-after-viewer-1-closed.png")

    started = time.monotonic()
    crash(second)  # a tab that vanishes without a word
    record_second = wait_until(
        lambda: closed(edge, ids[1]), PEER_TIMEOUT_S + 6, "the edge to drop the crashed viewer"
    )
    second_closed_s = time.monotonic() - started
    assert "no report from the browser" in record_second["reason"] or "connection" in record_second["reason"]
    record(
        artifacts,
        "teardown",
        {
            "closed_tab": {"after_s": round(first_closed_s, 2), **record_first},
            "crashed_tab": {"after_s": round(second_closed_s, 2), **record_second},
        },
    )


def test_the_stop_button_ends_the_session_on_the_edge(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page]
) -> None:
    page = open_live(new_page(), central, "highway")
    session = wait_playing(page)["sessionId"]
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.click("#stop")
    assert deleted.value.status == 204
    record = wait_until(lambda: closed(edges["live"], session), 5, "the edge to end the stopped session")
    assert record["reason"] == "closed by request"
    assert page.locator("#status").inner_text() == "stopped"


def test_a_stream_with_b_frames_is_re_encoded(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    page = open_live(new_page(), central, "parking")
    played = wait_playing(page)
    assert (played["width"], played["height"], played["mode"]) == (576, 320, "reencode")
    assert_advancing(page)
    page.screenshot(path=artifacts / "live-view-reencoded.png")
    record(artifacts, "first-frame", {"camera": "parking", **played})


def test_viewer_limit_gives_a_clear_message(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    edge = edges["live"]
    wait_until(lambda: _open_viewers(edge) == 0, PEER_TIMEOUT_S + 6, "earlier viewers to be gone")
    pages = [open_live(new_page(), central, "highway") for _ in range(MAX_VIEWERS)]
    for page in pages:
        wait_playing(page)
    extra = open_live(new_page(), central, "highway")
    message = shown_error(extra)
    assert message == (
        f"highway: this box already serves {MAX_VIEWERS} live viewer(s), its limit "
        f"(live.max_viewers = {MAX_VIEWERS}); try again later"
    )
    extra.screenshot(path=artifacts / "viewer-limit.png")
    assert_advancing(pages[0])


def test_a_dead_camera_shows_its_message(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    page = open_live(new_page(), central, "gate")
    message = shown_error(page)
    assert message.startswith("gate: camera 'gate' is not streaming (state: "), message
    page.screenshot(path=artifacts / "dead-camera.png")


def test_an_unknown_camera_shows_its_message(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page]
) -> None:
    message = shown_error(open_live(new_page(), central, "no-such-camera"))
    assert message == "no-such-camera: no camera 'no-such-camera' has been reported by a device"


def test_snapshot_of_a_streaming_camera_and_of_a_dead_one(
    central: CentralProcess, edges: dict[str, EdgeProcess], artifacts: Path
) -> None:
    response = central.get("/api/v1/cameras/highway/snapshot", token="operator")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (360, 640, 3)
    (artifacts / "snapshot.jpg").write_bytes(response.content)
    dead = central.get("/api/v1/cameras/gate/snapshot", token="operator")
    assert dead.status_code == 503
    assert dead.json()["detail"].startswith("camera 'gate' is not streaming (state: ")
    assert central.get("/api/v1/cameras/highway/snapshot", token="cg-chongchuan").status_code == 403


def test_an_offline_device_shows_its_message_without_hanging(
    central: CentralProcess, edges: dict[str, EdgeProcess], new_page: Callable[[], Page], artifacts: Path
) -> None:
    spare = edges["spare"]
    spare.signal(signal.SIGSTOP)  # hung: the broker and the registry still think it is online
    try:
        started = time.monotonic()
        message = shown_error(open_live(new_page(), central, "gate"))
        waited = time.monotonic() - started
    finally:
        spare.signal(signal.SIGCONT)
    assert message == (
        "gate: device 'spare-box' did not answer 'webrtc_offer' within 3 s; it is offline or unreachable"
    ), message
    assert waited < 10
    assert spare.stop() == 0, spare.log_tail()  # a clean stop publishes the offline status
    wait_until(
        lambda: central.device_state("spare-box") == "offline", 15, "the registry to mark spare-box offline"
    )
    page = open_live(new_page(), central, "gate")
    message = shown_error(page, timeout=5)
    assert message == "gate: device 'spare-box' is offline, so camera 'gate' cannot be shown live"
    page.screenshot(path=artifacts / "offline-device.png")


def test_the_page_says_when_the_camera_dies_mid_view_and_plays_again_when_it_returns(
    central: CentralProcess, start_edge: StartEdge, new_page: Callable[[], Page], artifacts: Path
) -> None:
    """The edge keeps the session while it reconnects to the camera; only the frames stop."""
    with RtspServer({"dying": HIGHWAY}) as server:
        start_edge("dying-box", [camera("dying", server.url("dying"))], streaming=["dying"])
        page = open_live(new_page(), central, "dying")
        wait_playing(page)
        server.stop()
        message = shown_error(page)
        assert message.startswith("the camera stopped sending video"), message
        assert stats(page)["stalled"]
        assert not stats(page)["error"]
        page.screenshot(path=artifacts / "camera-died.png")
        server.start()
        back = wait_until(lambda: not stats(page)["stalled"] and stats(page), 45, "the video to come back")
        assert page.locator("#error").inner_text().strip() == ""
        wait_until(lambda: stats(page)["decoded"] >= back["decoded"] + 30, 15, "the video to play on")


def _open_viewers(edge: EdgeProcess) -> int:
    added = {r["session"] for r in edge.events("live viewer added")}
    gone = {r["session"] for r in edge.events("live viewer closed")}
    return len(added - gone)
