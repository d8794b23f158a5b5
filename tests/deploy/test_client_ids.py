"""The central service's MQTT identities: nothing a device sees or can guess names them.

The broker's binding of client ids to users (``deploy/mosquitto``, tested in
``test_broker_acl.py``) is what stops a takeover; these ids keep a broker without it from being
an open door, and keep the ingest session stable so a restarted replica gets its queued events.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from central import config
from central.config import MqttConfig
from central.rpc import RpcClient


def test_the_default_client_id_is_stable_and_not_the_host_name_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {}
    for machine in ("3d1219c7c4c5404aaa1f6d2a48adfda4", "9f0e6a1b2c3d4e5f60718293a4b5c6d7"):
        (tmp_path / machine).write_text(machine + "\n", encoding="ascii")
        monkeypatch.setattr(config, "MACHINE_ID", tmp_path / machine)
        ids[machine] = MqttConfig().client_id
        assert MqttConfig().client_id == ids[machine], "a restarted replica must find its session again"
    host = f"gridwatch-central-{socket.gethostname()}"
    assert all(client_id.startswith(f"{host}-") for client_id in ids.values())
    assert len(set(ids.values())) == 2, "two machines with one host name still get two ids"
    assert not any(machine in client_id for machine, client_id in ids.items()), "the machine id stays hidden"


def test_without_a_machine_id_the_host_name_names_the_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").write_text("", encoding="ascii")
    for missing in (tmp_path / "empty", tmp_path / "absent"):
        monkeypatch.setattr(config, "MACHINE_ID", missing)
        assert MqttConfig().client_id == f"gridwatch-central-{socket.gethostname()}"


def test_each_rpc_client_listens_under_its_own_random_reply_token() -> None:
    settings = MqttConfig(client_id="gridwatch-central-known")
    first, second = RpcClient(settings, 1.0), RpcClient(settings, 1.0)
    assert first.replies != second.replies
    assert first.replies.startswith(f"{settings.topic_prefix}/devices/+/replies/")
    assert "gridwatch-central-known" not in first.replies, "requests must not name the central's client id"
