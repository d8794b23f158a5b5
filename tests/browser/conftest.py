"""Browser fixtures: a real central service, real edges, a real RTSP camera and headless Chromium.

The pieces, for any browser test (the console's as well as live view's):

- ``rtsp_camera``: the GStreamer RTSP server looping highway.mp4 (H.264 Main, no B-frames) at
  ``/highway`` and parking_row.mp4 (H.264 Main with B-frames) at ``/parking``.
- ``central``: ``gridwatch-central serve`` with SQLite in a temporary folder, its own MQTT topic
  prefix, and ``central.tokens`` for admin, operator, device and the department cg-chongchuan.
- ``start_edge``: starts ``gridwatch-edge run`` processes for that central (stopped at the end).
- ``browser``: headless Debian Chromium through Playwright; ``new_page`` opens pages that are closed
  at the end of the test; ``artifacts`` is this test's folder under ``test-artifacts/``.

The services live for a whole test module (starting them takes seconds); pages live for one test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.paths import HIGHWAY, PARKING_ROW, ROOT
from tests.support.rtsp import RtspServer
from tests.support.stack import CentralProcess, EdgeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"

StartEdge = Callable[..., EdgeProcess]


@pytest.fixture(scope="module")
def rtsp_camera(shared_media: Path) -> Iterator[RtspServer]:
    with RtspServer({"highway": HIGHWAY, "parking": PARKING_ROW}) as server:
        yield server


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralProcess]:
    process = CentralProcess(tmp_path_factory.mktemp("central")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def start_edge(
    central: CentralProcess, tmp_path_factory: pytest.TempPathFactory, model_path: Path
) -> Iterator[StartEdge]:
    """``start_edge(device_id, cameras, streaming=[...], **config_sections)`` -> a running edge."""
    started: list[EdgeProcess] = []

    def start(
        device_id: str, cameras: list[dict[str, Any]], *, streaming: list[str] | None = None, **sections: Any
    ) -> EdgeProcess:
        edge = EdgeProcess(tmp_path_factory.mktemp(device_id), central, device_id, cameras, **sections)
        started.append(edge)
        return edge.start(streaming=streaming)

    yield start
    exits = {edge.name: edge.stop() for edge in started}
    failed = {
        name: code for name, code in exits.items() if code not in (0, None)
    }  # None: stopped by its test
    assert not failed, f"edges did not stop cleanly on SIGTERM: {failed}"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/<module>/<test>/``: screenshots and the like, kept after the run."""
    module = Path(request.node.fspath).stem
    folder = ARTIFACTS / module / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Each call opens a page in a fresh browser context (its own storage, as a separate tab user)."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
