"""The console names event types from the service's catalogue (``GET /api/v1/event-types``), in
the queue's type filter and its rows, in either language; it keeps no list of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect

from contract.event_types import CATALOGUE, EventType
from contract.topics import Topics
from tests.browser.console_support import log_in_with_token
from tests.central.factories import event
from tests.support.stack import CentralProcess

pytestmark = pytest.mark.slow


def publish_dust(central: CentralProcess) -> None:
    message = event(type_="dust", camera="site-cam", at=datetime.now(UTC) - timedelta(minutes=1))
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    try:
        topic = Topics(central.prefix).events(message.device_id)
        publisher.publish(topic, message.to_json(), qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def type_options(page: Page) -> list[tuple[str, str]]:
    options = page.locator("#filters select[name=type] option")
    return [(o.get_attribute("value") or "", o.inner_text()) for o in options.all()][1:]  # after "any"


def test_the_queue_names_types_from_the_catalogue_in_both_languages(
    new_page: Any, central: CentralProcess
) -> None:
    publish_dust(central)
    page: Page = new_page()
    log_in_with_token(page, central.base_url, central.tokens["admin"])
    page.select_option("#language", "en")
    page.wait_for_selector("#filters select[name=type]")
    assert type_options(page) == [(t.key.value, t.names.en) for t in CATALOGUE.values()]
    expect(page.locator("#queue .cell.type").first).to_have_text(CATALOGUE[EventType.dust].names.en)
    page.select_option("#language", "zh")
    expect(page.locator("#queue .cell.type").first).to_have_text(CATALOGUE[EventType.dust].names.zh)
    assert type_options(page) == [(t.key.value, t.names.zh) for t in CATALOGUE.values()]
