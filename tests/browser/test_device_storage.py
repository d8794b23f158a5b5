"""The console's devices view shows each edge's evidence disk, from status messages sent over
Mosquitto to a real central service (and from a real ``gridwatch-edge run``), in headless Chromium
under the console's CSP.

Screenshots go to ``test-artifacts/test_device_storage/<test>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, ConsoleMessage, Page

from contract.status import DeviceState, DeviceStatus, StorageHealth, StorageState
from contract.topics import Topics
from tests.browser.conftest import StartEdge
from tests.browser.console_support import log_in_with_token, no_horizontal_scroll
from tests.support.stack import CentralProcess, camera, wait_until

pytestmark = pytest.mark.timeout(120)

DISKS = {
    "full-box": StorageHealth(state=StorageState.full, free_bytes=12_345_678, evidence_bytes=41_000_000_000),
    "roomy-box": StorageHealth(state=StorageState.ok, free_bytes=3_300_000_000_000, evidence_bytes=0),
    "older-box": None,
}
"""``older-box`` stands for an edge from before storage was reported: its status has no ``storage``."""


@pytest.fixture(scope="module")
def reported(central: CentralProcess) -> CentralProcess:
    """The three devices' statuses, published as edges publish them; ``older-box`` then goes offline."""
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    topics = Topics(central.prefix)
    try:
        for device_id, storage in DISKS.items():
            status = DeviceStatus(
                state=DeviceState.online,
                device_id=device_id,
                version="0.1.0",
                sent_at=datetime.now(UTC),
                storage=storage,
            )
            payload = (
                status.to_json() if storage else status.model_dump_json(by_alias=True, exclude={"storage"})
            )
            publisher.publish(topics.status(device_id), payload, qos=1).wait_for_publish(10)
        publisher.publish(topics.status("older-box"), '{"state":"offline"}', qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    def recorded() -> bool:
        devices = {d["device_id"]: d for d in central.get("/api/v1/devices").json()}
        return set(DISKS) <= set(devices) and devices["older-box"]["state"] == "offline"

    wait_until(recorded, 20, "the central to record the three statuses")
    return central


def open_devices(page: Page, central: CentralProcess) -> list[str]:
    """Log in as the operator and open the devices view; returns the CSP violations the page reported."""
    errors: list[str] = []

    def collect(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", collect)
    log_in_with_token(page, central.base_url, central.tokens["operator"])
    page.goto(f"{central.base_url}/console/#/devices")
    page.locator("#devices [data-device-id=older-box]").wait_for()
    return errors


def test_devices_view_shows_the_disk_state_and_free_space(
    new_page: Callable[[], Page], reported: CentralProcess, artifacts: Path
) -> None:
    page = new_page()
    errors = open_devices(page, reported)
    full = page.locator("#devices [data-device-id=full-box] .storage-full")
    assert full.inner_text() == "Full"
    assert "12 MB free" in page.inner_text("#devices [data-device-id=full-box]")
    assert full.get_attribute("title") == "41 GB of evidence kept on the device"
    assert page.inner_text("#devices [data-device-id=roomy-box] .storage-ok") == "OK"
    assert "3.3 TB free" in page.inner_text("#devices [data-device-id=roomy-box]")
    older = page.locator("#devices [data-device-id=older-box] .cell").last
    assert older.inner_text() == "—", "an edge that does not report its disk shows no reading"

    def look(selector: str) -> tuple[str, str]:
        colours: tuple[str, str] = page.eval_on_selector(
            selector, "(e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        return colours

    assert look(".storage-full") == look("[data-device-id=older-box] .device-offline"), (
        "a full disk is highlighted as an offline device is"
    )
    assert look(".storage-ok") == look("[data-device-id=roomy-box] .device-online")
    page.screenshot(path=artifacts / "devices.png")
    assert errors == []


def test_devices_view_with_disks_fits_a_phone_in_chinese(
    browser: Browser, reported: CentralProcess, artifacts: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    try:
        page = context.new_page()
        errors = open_devices(page, reported)
        disk = page.locator("#devices [data-device-id=full-box] .cell").last
        assert disk.get_attribute("data-label") == "磁盘"
        assert "已满" in disk.inner_text()
        assert "剩余 12 MB" in disk.inner_text()
        widths = no_horizontal_scroll(page)
        page.screenshot(path=artifacts / "phone-devices.png", full_page=True)
        assert widths["scrollWidth"] <= widths["clientWidth"], f"the devices view scrolls sideways: {widths}"
        assert errors == []
    finally:
        context.close()


def test_a_real_edge_that_cannot_keep_its_floor_free_shows_full(
    new_page: Callable[[], Page],
    reported: CentralProcess,
    start_edge: StartEdge,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    """A floor above the disk's size: no evidence fits, so the edge reports its disk full (its camera
    need not stream for that)."""
    start_edge(
        "cramped-box",
        [camera("cramped-cam", "rtsp://127.0.0.1:9/nothing")],
        storage={"dir": str(tmp_path / "state"), "min_free_mb": 10**12},
    )

    def disk() -> dict[str, int | str] | None:
        devices = {d["device_id"]: d for d in reported.get("/api/v1/devices").json()}
        storage: dict[str, int | str] | None = devices["cramped-box"]["storage"]
        return storage

    storage = wait_until(disk, 20, "the edge's status to carry its disk")
    assert storage["state"] == "full", storage
    assert int(storage["free_bytes"]) > 0, storage
    page = new_page()
    open_devices(page, reported)
    badge = page.locator("#devices [data-device-id=cramped-box] .storage-full")
    badge.wait_for()
    assert badge.inner_text() == "Full"
    page.screenshot(path=artifacts / "devices.png")
