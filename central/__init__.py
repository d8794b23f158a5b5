"""The central service: MQTT events from edge agents become tickets that departments close.

Read top-down: ``cli`` (the ``gridwatch-central`` command) builds the parts and hands them
to ``app`` (the FastAPI factory); ``ingest`` turns MQTT messages into rows, ``tickets`` turns
events into work orders, and the ``api`` routers and ``open311`` expose them.
"""
