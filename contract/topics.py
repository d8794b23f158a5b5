"""MQTT topic names of the gridwatch wire contract (``gridwatch/v1`` by default)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "gridwatch/v1"


@dataclass(frozen=True)
class Topics:
    """Builds and parses topic names under one configurable prefix."""

    prefix: str = DEFAULT_PREFIX

    def events(self, device_id: str) -> str:
        return f"{self.prefix}/devices/{device_id}/events"

    def status(self, device_id: str) -> str:
        return f"{self.prefix}/devices/{device_id}/status"

    def rpc(self, device_id: str, method: str) -> str:
        return f"{self.prefix}/devices/{device_id}/rpc/{method}"

    def replies(self, device_id: str, token: str) -> str:
        """Where ``device_id`` answers the requests of the central process that listens under ``token``
        (a random word per process): inside the device's own tree, so the broker's ACL can let each
        device answer there and nowhere else."""
        return f"{self.prefix}/devices/{device_id}/replies/{token}"

    def all_replies(self, token: str) -> str:
        """What one central process subscribes to: every device's answers to it, and nobody else's."""
        return f"{self.prefix}/devices/+/replies/{token}"

    def is_reply_of(self, topic: str, device_id: str) -> bool:
        """True if ``topic`` is one of ``device_id``'s own reply topics: an edge answers nowhere else."""
        head = self.replies(device_id, "")
        token = topic.removeprefix(head)
        return topic.startswith(head) and bool(token) and not any(c in token for c in "/+#")

    def all_events(self) -> str:
        return f"{self.prefix}/devices/+/events"

    def all_status(self) -> str:
        return f"{self.prefix}/devices/+/status"

    def shared_events(self, group: str) -> str:
        """A shared subscription, so that central replicas split the event load."""
        return f"$share/{group}/{self.all_events()}"

    def device_of(self, topic: str) -> str | None:
        """The device id in a ``.../devices/{id}/...`` topic, or None if it is not one of ours."""
        head = f"{self.prefix}/devices/"
        if not topic.startswith(head):
            return None
        device, _, rest = topic[len(head) :].partition("/")
        return device if device and rest else None
