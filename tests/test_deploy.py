"""The container image and compose file, checked statically (tests/test_containers.py builds
and runs them on a real engine)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.conftest import ROOT

SCHEMA = ROOT / ".cache" / "compose-spec.json"  # fetched by `make test` from npm


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_compose_file_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    from jsonschema import Draft201909Validator

    assert SCHEMA.is_file(), "run `make test`: it fetches the Compose Specification schema"
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(Draft201909Validator(schema).iter_errors(compose), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    broken = {**compose, "services": {"dockfaq": {**compose["services"]["dockfaq"], "ports": 8000}}}
    assert list(Draft201909Validator(schema).iter_errors(broken))  # the check can fail


def test_compose_references_are_consistent(compose: dict[str, Any], dockerfile: str) -> None:
    services = compose["services"]
    declared_volumes = set(compose["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name}: volume {source} is not declared"
            else:
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    assert set(services) - {"dockfaq"} == {
        s for s in services if "scale" in services[s].get("profiles", [])
    }
    assert "profiles" not in services["dockfaq"]  # the default: `docker compose up`

    known = {f"DOCKFAQ_{name.upper()}" for name in Settings.model_fields}
    for name in ("dockfaq", "replica"):
        service = services[name]
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert services["replica"]["environment"]["DOCKFAQ_REDIS_URL"].startswith("redis://redis:")
    assert services["dockfaq"]["ports"] == ["${DOCKFAQ_PUBLISH:-8000}:8000"]
    assert "EXPOSE 8000" in dockerfile
    # The index is not a volume: an upgraded image must not serve the old image's index.
    mounts = {m.split(":")[1] for m in services["dockfaq"]["volumes"]}
    assert mounts == {"/app/data"}
    assert (
        "DOCKFAQ_INDEX_DIR=/app/index" in dockerfile and "DOCKFAQ_DATA_DIR=/app/data" in dockerfile
    )


def test_nginx_fronts_the_replicas(compose: dict[str, Any]) -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstreams = re.findall(r"server\s+([\w.-]+):(\d+)", conf)
    assert upstreams and all(host in compose["services"] for host, _ in upstreams)
    assert all(port == "8000" for _, port in upstreams)
    nginx = compose["services"]["nginx"]
    assert nginx["ports"] == ["${DOCKFAQ_PUBLISH_SCALE:-8080}:80"]
    assert re.search(r"listen\s+80;", conf)
    assert "proxy_next_upstream" in conf


def test_dockerfile_runs_as_non_root_with_a_healthcheck(dockerfile: str) -> None:
    assert (
        "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in dockerfile
    )
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", dockerfile, re.MULTILINE)
    assert "dockfaq build" in dockerfile  # the index is baked in
    lines = dockerfile.splitlines()
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert any(line.startswith("USER ") for line in lines[last_from:])  # in the final stage


def test_slack_manifest_points_at_the_slack_routes() -> None:
    from service.web import create_app

    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())
    settings = manifest["settings"]
    urls = [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        *(command["url"] for command in manifest["features"]["slash_commands"]),
    ]
    paths = set(create_app(Settings()).openapi()["paths"])
    for url in urls:
        assert url.startswith("https://")
        assert re.sub(r"^https://[^/]+", "", url) in paths, url
    # What the routes handle, and the scopes those events and replies need.
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert {"app_mentions:read", "chat:write", "commands", "im:history"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
