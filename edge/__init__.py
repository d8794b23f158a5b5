"""The gridwatch edge agent: RTSP cameras in, events with evidence out over MQTT.

Reading order: ``cli`` (entry point) -> ``agent`` (one process, many cameras) ->
``pipeline`` (one camera: reader -> analysis -> rules -> evidence -> outbox) -> the parts.
"""

__version__ = "0.1.0"
