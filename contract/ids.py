"""The one shape of a device, camera, zone or department id, which both sides validate against.

Ids appear in MQTT topics, file names and URLs, so they carry no slash, space, NUL or wildcard.
"""

from __future__ import annotations

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
