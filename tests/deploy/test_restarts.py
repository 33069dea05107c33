"""A process that exits is started again: by Compose in both stacks (their host-network
overrides included), by bin/respawn under `make run` (tests/resilience/test_postgres.py runs
it)."""

import pytest
import yaml

from tests.deploy.conftest import REPO, compose_file
from tests.deploy.test_compose import FILES

HOST_OVERRIDES = {name: name.replace(".yml", ".host.yml") for name in FILES}


class ComposeLoader(yaml.SafeLoader):
    """Reads Compose's merge tags (`!reset`, `!override`) as the plain values they carry."""


for tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(
        tag,
        lambda loader, node: (
            loader.construct_sequence(node)
            if isinstance(node, yaml.SequenceNode)
            else loader.construct_mapping(node)
            if isinstance(node, yaml.MappingNode)
            else loader.construct_scalar(node)
        ),
    )


def services_of(name: str) -> dict:
    return yaml.load((REPO / name).read_text(), Loader=ComposeLoader)["services"]  # noqa: S506


def restart_policies(files: list[str]) -> dict[str, str]:
    """Each service's `restart` as Compose merges the files: a later file's wins, none is "no"."""
    policies: dict[str, str] = {}
    for name in files:
        for service, spec in services_of(name).items():
            policies[service] = spec.get("restart", policies.get(service, "no"))
    return policies


def one_shots(services: dict) -> set[str]:
    """Services meant to finish: others wait for them to complete, or they run on demand."""
    awaited = {
        dependency
        for spec in services.values()
        for dependency, rule in spec.get("depends_on", {}).items()
        if rule["condition"] == "service_completed_successfully"
    }
    on_demand = {service for service, spec in services.items() if spec.get("profiles")}
    return awaited | on_demand


@pytest.mark.parametrize("name", FILES)
def test_long_running_services_restart_and_one_shots_do_not(name):
    services = compose_file(name)["services"]
    finishing = one_shots(services)
    assert "migrate" in finishing
    expected = {service: "no" if service in finishing else "unless-stopped" for service in services}

    assert restart_policies([name]) == expected
    # The host-network override changes services, adds none, and keeps their policies.
    assert set(services_of(HOST_OVERRIDES[name])) <= set(services)
    assert restart_policies([name, HOST_OVERRIDES[name]]) == expected


def test_every_procfile_process_runs_under_respawn():
    lines = [
        line
        for line in (REPO / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {line.split(":", 1)[0] for line in lines} >= {"web", "worker", "beat", "publisher"}
    for line in lines:
        name, command = line.split(":", 1)
        assert command.split()[0] == "bin/respawn", name
