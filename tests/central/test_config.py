"""The central configuration: the example loads as is, and mistakes are reported with their exact place."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.cli import main
from central.config import load_config, with_overrides
from contract.event import EventType
from contract.validation import ConfigError
from tests.central.conftest import EXAMPLE


def test_the_example_loads_and_routes_every_type_in_two_districts() -> None:
    config = load_config(EXAMPLE)
    assert {d.id for d in config.departments} >= {
        "cg-chongchuan",
        "cg-gangzha",
        "env-chongchuan",
        "env-gangzha",
    }
    routes = {(r.type, r.district): r.department for r in config.routes}
    for district in ("chongchuan", "gangzha"):
        assert routes[(EventType.illegal_parking, district)].startswith("cg-")
        assert routes[(EventType.illegal_building, district)].startswith("cg-")
        assert routes[(EventType.dust, district)].startswith("env-")
    assert config.data_dir == EXAMPLE.parent / "var/central", (
        "relative paths are taken from the file's folder"
    )


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "ok (6 departments, 9 routes)" in capsys.readouterr().out


ROUTE = "{type: dust, district: gangzha, department: env, sign_hours: 2, resolve_hours: 24}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            f"departments: [{{id: env, name: E}}]\nroutes: [{ROUTE}, {ROUTE.replace('env', 'nobody')}]",
            "routes[1].department: unknown department 'nobody' (known: env)",
        ),
        (
            f"departments: [{{id: env, name: E}}]\nroutes: [{ROUTE}, {ROUTE}]",
            "routes[1]: a second route for dust in district 'gangzha' (first at routes[0])",
        ),
        (
            "departments: [{id: a, name: A}, {id: a, name: B}]",
            "departments[1].id: duplicate id 'a' (first at departments[0])",
        ),
        (
            "departments: [{id: a, name: A}]\nroutes: [{type: dust, department: a, sign_hours: 5, resolve_hours: 1}]",
            "routes[0]: resolve_hours (1.0) must not be less than sign_hours (5.0)",
        ),
        (
            "routes: [{type: graffiti, department: a, sign_hours: 1, resolve_hours: 1}]",
            "routes[0].type: Input should be",
        ),
        ("tickets: {merge_window: 10}", "tickets.merge_window: unknown key"),
        ("mqtt: {url: 'http://broker'}", "mqtt.url: String should match pattern"),
        ("http: {port: 0}", "http.port: Input should be greater than or equal to 1"),
        ("departments: [{name: A}]", "departments[0].id: required key is missing"),
        ("mqtt: [unclosed", "line 1, column 16: expected ',' or ']'"),
    ],
)
def test_check_config_names_the_place_of_each_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    path = tmp_path / "central.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}: {problem}" in capsys.readouterr().err


def test_flags_override_the_file_and_are_validated_too() -> None:
    config = with_overrides(
        load_config(EXAMPLE), {"http.port": 9000, "database.url": "sqlite:///x.db", "mqtt.url": None}
    )
    assert (config.http.port, config.database_url, config.mqtt.url) == (
        9000,
        "sqlite:///x.db",
        "mqtt://127.0.0.1:1883",
    )
    with pytest.raises(
        ConfigError, match=r"command line: http.port: Input should be less than or equal to 65535"
    ):
        with_overrides(config, {"http.port": 70000})


def test_no_file_means_defaults_that_need_no_set_up() -> None:
    config = load_config(None)
    assert config.database_url == "sqlite:///var/central/central.db"
    assert (config.mqtt.url, config.http.port, config.media_dir) == (
        "mqtt://127.0.0.1:1883",
        8080,
        Path("var/central/media"),
    )
