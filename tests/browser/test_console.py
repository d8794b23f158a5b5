"""The web console in headless Chromium, against a real central service, the real edge's
``analyze --publish`` on parking_row.mp4, a real ``gridwatch-edge run`` on the RTSP camera, and
Mosquitto. Screenshots go to ``test-artifacts/test_console/<test>/``.

The console's Content-Security-Policy forbids evaluating strings as code, so the tests wait with
locators and ``page.evaluate`` (which the policy does not cover), never ``wait_for_function``.

The tests share one central and one edge recording (module fixtures); each test that needs the
recording's ticket starts the recording if no test has yet, so any one of them runs alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, Page, expect

from contract.topics import Topics
from tests.browser.conftest import StartEdge
from tests.browser.console_support import (
    EdgeRecording,
    create_user,
    log_in,
    log_in_with_token,
    no_horizontal_scroll,
    video_state,
)
from tests.central.factories import event
from tests.support.rtsp import RtspServer
from tests.support.stack import CentralProcess, camera, wait_until

pytestmark = pytest.mark.slow

PASSWORDS = {"ops": "ops-password-1", "chongchuan-desk": "chongchuan-pass", "gangzha-desk": "gangzha-pass-1"}


@pytest.fixture(scope="module")
def accounts(central: CentralProcess) -> dict[str, str]:
    create_user(central, "ops", PASSWORDS["ops"], "operator")
    create_user(central, "chongchuan-desk", PASSWORDS["chongchuan-desk"], "department", "cg-chongchuan")
    create_user(central, "gangzha-desk", PASSWORDS["gangzha-desk"], "department", "cg-gangzha")
    return PASSWORDS


@pytest.fixture(scope="module")
def recording(
    central: CentralProcess, tmp_path_factory: pytest.TempPathFactory, model_path: Path, shared_media: Path
) -> Iterator[EdgeRecording]:
    run = EdgeRecording(central, tmp_path_factory.mktemp("recording"), model_path)
    yield run
    run.stop()


def edge_ticket(central: CentralProcess, recording: EdgeRecording) -> dict[str, Any]:
    """The ticket the recording opened (it opens one: its parked cars share one zone)."""
    recording.wait()

    def ticket() -> dict[str, Any] | None:
        items = central.get("/api/v1/tickets?camera=parking-row").json()["items"]
        return items[-1] if items else None

    found: dict[str, Any] = wait_until(ticket, 30, "the recording's ticket")
    return found


def publish_event(central: CentralProcess, camera_id: str, district: str) -> int:
    """A start event over MQTT, as an edge sends it; returns the ticket it opened."""
    message = event(camera=camera_id, district=district, at=datetime.now(UTC) - timedelta(minutes=6))
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    try:
        topic = Topics(central.prefix).events(message.device_id)
        publisher.publish(topic, message.to_json(), qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    def opened() -> int | None:
        items = central.get(f"/api/v1/tickets?camera={camera_id}").json()["items"]
        return int(items[0]["id"]) if items else None

    ticket_id: int = wait_until(opened, 20, f"a ticket for {camera_id}")
    return ticket_id


def log_in_as(page: Page, central: CentralProcess, username: str) -> Page:
    log_in(page, central.base_url, username, PASSWORDS[username])
    return page


def act(page: Page, action: str, comment: str | None = None, **selects: str) -> None:
    """Take an action through the ticket page's buttons and form, and wait for the page to show it."""
    page.click(f"#actions button[data-action={action}]")
    form = page.locator(f"#action-form[data-action={action}]")
    for name, value in selects.items():
        form.locator(f"select[name={name}]").select_option(value)
    if comment is not None:
        form.locator("textarea[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#history li[data-action={action}]")


def test_login_refuses_a_wrong_password_and_accepts_the_right_one(
    new_page: Any, central: CentralProcess, accounts: dict[str, str]
) -> None:
    page: Page = new_page()
    page.goto(f"{central.base_url}/")
    page.fill("#login-form input[name=username]", "ops")
    page.fill("#login-form input[name=password]", "not-the-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not(:empty)")
    assert page.locator("#logout").count() == 0
    log_in_as(page, central, "ops")
    assert "ops" in page.inner_text("#top")
    page.select_option("#language", "zh")
    expect(page.locator("#top")).to_contain_text("工单")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.select_option("#language", "en")
    expect(page.locator("#top")).to_contain_text("Tickets")
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.request.get(f"{central.base_url}/api/v1/auth/me").status == 401


def test_a_ticket_from_the_edge_appears_without_reload_and_its_evidence_shows_and_plays(
    new_page: Any,
    central: CentralProcess,
    accounts: dict[str, str],
    recording: EdgeRecording,
    artifacts: Path,
) -> None:
    page: Page = log_in_as(new_page(), central, "ops")
    page.wait_for_selector("#queue .empty")
    page.evaluate("window.__sameDocument = true")
    recording.start()
    page.wait_for_selector("#queue a[data-ticket-id]", timeout=180_000)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert page.evaluate("window.gridwatchConsole.changes.received") >= 1, "no change was pushed"
    ticket = edge_ticket(central, recording)
    row = page.locator(f"#queue a[data-ticket-id='{ticket['id']}']")
    row.wait_for()
    page.screenshot(path=artifacts / "queue.png")

    row.click()
    page.wait_for_selector("#evidence img")
    wait_until(
        lambda: page.evaluate("""() => [...document.querySelectorAll('#evidence img')]
        .every((img) => img.complete && img.naturalWidth > 0)"""),
        15,
        "the snapshots to load",
    )
    sources = page.eval_on_selector_all("#evidence img", "(images) => images.map((img) => img.src)")
    assert sources, "the ticket shows snapshots"
    assert httpx.get(sources[0], timeout=10).status_code == 401, "evidence without a login must be refused"

    wait_until(lambda: video_state(page)["readyState"] >= 1, 15, "the clip's metadata")
    page.eval_on_selector("video.clip", "(v) => v.play()")
    wait_until(
        lambda: video_state(page)["currentTime"] > 1.0, 15, f"the clip to play past 1 s: {video_state(page)}"
    )
    page.eval_on_selector("video.clip", "(v) => { v.pause(); v.currentTime = 0.4; }")
    wait_until(
        lambda: abs(video_state(page)["currentTime"] - 0.4) < 0.05 and video_state(page)["readyState"] >= 2,
        10,
        f"the clip to seek to 0.4 s: {video_state(page)}",
    )
    assert video_state(page)["error"] is None
    assert video_state(page)["width"] > 0
    page.wait_for_timeout(300)
    page.screenshot(path=artifacts / "ticket.png", full_page=True)


def test_a_dispatched_ticket_is_resolved_by_its_department_and_the_audit_shows_it(
    new_page: Any,
    central: CentralProcess,
    accounts: dict[str, str],
    recording: EdgeRecording,
    artifacts: Path,
) -> None:
    ticket = edge_ticket(central, recording)
    operator: Page = log_in_as(new_page(), central, "ops")
    operator.goto(f"{central.base_url}/console/#/tickets/{ticket['id']}")
    operator.wait_for_selector("#actions")
    act(operator, "dispatch", department="cg-chongchuan")
    assert central.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "dispatched"
    assert operator.locator("#actions button[data-action=resolve]").count() == 0, "operators cannot resolve"

    desk: Page = log_in_as(new_page(), central, "chongchuan-desk")
    desk.click(f"#queue a[data-ticket-id='{ticket['id']}']")
    desk.wait_for_selector("#actions button[data-action=accept]")
    act(desk, "accept")
    act(desk, "start")
    act(desk, "resolve", comment="Owner reached; the car was moved at 09:40.")
    entry = desk.locator("#history li[data-action=resolve]")
    assert "Owner reached; the car was moved at 09:40." in entry.inner_text()
    assert "chongchuan-desk" in entry.inner_text()
    assert "Confirmed" in desk.inner_text("#review")
    desk.screenshot(path=artifacts / "resolved.png", full_page=True)

    # the operator's open page follows without a reload
    operator.wait_for_selector("#history li[data-action=resolve]", timeout=10_000)
    assert central.get(f"/api/v1/tickets/{ticket['id']}/reviews").json()[-1]["verdict"] == "confirmed"


def test_a_department_account_cannot_see_another_departments_tickets(
    new_page: Any,
    central: CentralProcess,
    accounts: dict[str, str],
    recording: EdgeRecording,
    artifacts: Path,
) -> None:
    ticket = edge_ticket(central, recording)
    assert ticket["department"] == "cg-chongchuan"
    page: Page = log_in_as(new_page(), central, "gangzha-desk")
    page.wait_for_selector("#queue-summary:not(:empty)")
    assert page.locator(f"#queue a[data-ticket-id='{ticket['id']}']").count() == 0
    visible = page.eval_on_selector_all("#queue a[data-ticket-id]", "(rows) => rows.map((r) => r.innerText)")
    assert all("Gangzha" in text for text in visible), visible
    assert page.locator("#filters select[name=department]").count() == 0
    page.goto(f"{central.base_url}/console/#/tickets/{ticket['id']}")
    page.wait_for_selector("#ticket-error")
    assert "another department" in page.inner_text("#ticket-error")
    page.screenshot(path=artifacts / "forbidden.png")
    detail = central.get(f"/api/v1/tickets/{ticket['id']}").json()
    snapshot = next(m["url"] for e in detail["events"] for m in e["media"] if m["kind"] == "snapshot")
    assert page.request.get(f"{central.base_url}/api/v1/tickets/{ticket['id']}").status == 403
    assert page.request.get(central.base_url + snapshot).status == 403

    own: Page = new_page()  # while the ticket's own department, logged in with its API token, sees it
    log_in_with_token(own, central.base_url, central.tokens["cg-chongchuan"])
    own.wait_for_selector(f"#queue a[data-ticket-id='{ticket['id']}']")


def test_overdue_tickets_are_marked_and_can_be_filtered(
    new_page: Any, central: CentralProcess, accounts: dict[str, str], artifacts: Path
) -> None:
    """A dispatched ticket past its sign-for deadline (moved into the past in the database: the
    served process runs on the real clock) is marked in the queue and found by the overdue filter."""
    late = publish_event(central, camera_id="gate-cam", district="gangzha")
    page: Page = log_in_as(new_page(), central, "ops")
    row = page.locator(f"#queue a[data-ticket-id='{late}']")
    row.wait_for(timeout=20_000)
    assert (
        httpx.post(
            f"{central.base_url}/api/v1/tickets/{late}/actions",
            json={"action": "dispatch"},
            headers={"Authorization": f"Bearer {central.tokens['admin']}"},
        ).status_code
        == 200
    )
    engine = sa.create_engine(f"sqlite:///{central.folder / 'central-data' / 'central.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE tickets SET sign_by = :past WHERE id = :id"),
                {"past": (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None), "id": late},
            )
    finally:
        engine.dispose()
    page.reload()
    row.wait_for()
    assert "is-overdue" in (row.get_attribute("class") or "")
    assert "Overdue" in row.inner_text()
    page.check("#filters input[name=overdue]")
    page.wait_for_url("**overdue=true**")
    page.wait_for_selector(f"#queue a[data-ticket-id='{late}']")
    assert page.locator("#queue a[data-ticket-id]").count() == 1
    page.screenshot(path=artifacts / "overdue.png")


def test_rejecting_a_false_alarm_keeps_the_reason_and_cause_as_its_review_label(
    new_page: Any, central: CentralProcess, accounts: dict[str, str], artifacts: Path
) -> None:
    ticket_id = publish_event(central, camera_id="shadow-cam", district="chongchuan")
    page: Page = log_in_as(new_page(), central, "ops")
    page.goto(f"{central.base_url}/console/#/tickets/{ticket_id}")
    page.wait_for_selector("#actions button[data-action=reject]")
    assert page.locator("#actions button[data-action=resolve]").count() == 0
    act(page, "reject", comment="A shadow on the kerb, no vehicle.", cause="wrong_object")
    expect(page.locator("#review")).to_contain_text("Nothing of that kind")
    assert "False alarm" in page.inner_text("#review")
    assert "A shadow on the kerb, no vehicle." in page.inner_text("#history li[data-action=reject]")
    assert page.locator("#actions button[data-action=reopen]").count() == 1
    page.screenshot(path=artifacts / "rejected.png", full_page=True)
    label = central.get(f"/api/v1/tickets/{ticket_id}/reviews").json()[-1]
    assert (label["verdict"], label["cause"], label["comment"]) == (
        "false_alarm",
        "wrong_object",
        "A shadow on the kerb, no vehicle.",
    )


def test_phone_width_layout_has_no_horizontal_scroll(
    browser: Browser,
    central: CentralProcess,
    accounts: dict[str, str],
    recording: EdgeRecording,
    artifacts: Path,
) -> None:
    ticket = edge_ticket(central, recording)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    try:
        page = log_in_as(context.new_page(), central, "ops")
        assert page.inner_text("#top").count("工单") >= 1, "a zh-CN browser gets Chinese labels"
        views = {
            "queue": ("#/tickets", "#queue a[data-ticket-id]"),
            "ticket": (f"#/tickets/{ticket['id']}", "#evidence img"),
            "cameras": ("#/cameras", "#cameras"),
            "devices": ("#/devices", "#devices"),
        }
        for name, (hash_, ready) in views.items():
            page.goto(f"{central.base_url}/console/{hash_}")
            page.wait_for_selector(ready)
            page.wait_for_timeout(400)
            widths = no_horizontal_scroll(page)
            page.screenshot(path=artifacts / f"phone-{name}.png", full_page=True)
            assert widths["scrollWidth"] <= widths["clientWidth"], f"{name} scrolls sideways: {widths}"
    finally:
        context.close()


def test_cameras_and_devices_show_edge_health_and_open_live_view(
    new_page: Any,
    central: CentralProcess,
    accounts: dict[str, str],
    rtsp_camera: RtspServer,
    start_edge: StartEdge,
    artifacts: Path,
) -> None:
    start_edge(
        "console-box",
        [camera("parking-cam", rtsp_camera.url("parking"), name="Parking row (RTSP)")],
        streaming=["parking-cam"],
    )
    page: Page = log_in_as(new_page(), central, "ops")
    page.goto(f"{central.base_url}/console/#/cameras")
    card = page.locator("article.camera[data-camera-id=parking-cam]")
    card.wait_for()
    wait_until(lambda: "Online" in card.inner_text(), 40, "the camera card to show it streaming")
    assert "console-box" in page.inner_text("#cameras")
    assert "Chongchuan" in page.inner_text("#cameras")
    page.screenshot(path=artifacts / "cameras.png", full_page=True)

    page.goto(f"{central.base_url}/console/#/devices")
    row = page.locator("#devices [data-device-id=console-box]")
    row.wait_for()
    assert "Online" in row.inner_text()
    assert "1 of 1 cameras streaming" in row.inner_text()
    page.screenshot(path=artifacts / "devices.png")

    page.goto(f"{central.base_url}/console/#/cameras")
    page.click("article.camera[data-camera-id=parking-cam] button.live-button")
    # Playwright's sync API updates page.frames and frame.url only while a call waits on the browser,
    # so polling them between sleeps never sees the navigation: wait on the iframe's own frame instead.
    frame = page.locator("#live-dialog iframe[src*='/live']").element_handle().content_frame()
    assert frame is not None
    frame.wait_for_url(lambda url: "/live?" in url, timeout=30_000)

    def playing() -> dict[str, Any] | None:
        state: dict[str, Any] = frame.evaluate("""() => ({width: document.getElementById('video').videoWidth,
            error: window.gridwatchLive && window.gridwatchLive.error})""")
        assert not state["error"], f"the live page shows an error: {state['error']}"
        return state if state["width"] > 0 else None

    wait_until(playing, 45, "live video in the console's dialog", interval=0.2)
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts / "live.png")
    page.click("#live-close")
    page.locator("#live-dialog").wait_for(
        state="detached", timeout=10_000
    )  # removed on its "close" event, a task later
    assert page.locator("#live-dialog").count() == 0
