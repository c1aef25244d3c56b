"""The dev stack in the lab, as a person uses it: deploy, then talk to the cloud.

`python3 -m lab deploy` runs this inside the project's venv (see setup_machine.py): the
lab comes up (engine, images, hosts, registry), the unchanged program is deployed by the
offline executor, and the client configuration for the stock `openstack` CLI is written.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from lab import topology as t
from lab.hosts import incarnation
from lab.lab import Lab

STACK = "dev"
CLOUD = f"kolla-ha-{STACK}"
USER_CLOUDS = Path.home() / ".config" / "openstack" / "clouds.yaml"
CLOUDS_FILE = t.STATE_DIR / "clouds.yaml"
OPENRC_FILE = t.STATE_DIR / "openrc"


def state_file(stack: str = STACK) -> Path:
    """Where the offline executor keeps the stack's state (with its generated secrets)."""
    return t.STATE_DIR / f"engine-{stack}.json"


def secrets_file(stack: str = STACK) -> Path:
    return t.STATE_DIR / f"{stack}-secrets.json"


def _write_private(path: Path, text: str) -> None:
    """Create or replace `path` readable by its owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def cloud_entry(auth_url: str, password: str, region: str) -> dict[str, Any]:
    return {
        "auth": {
            "auth_url": auth_url,
            "username": "admin",
            "password": password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": region,
        "identity_api_version": 3,
    }


def openrc(auth_url: str, password: str, region: str) -> str:
    def quoted(value: str) -> str:
        return "'" + value.replace("'", "'\"'\"'") + "'"

    return "\n".join([
        f"# The admin of the kolla-ha {STACK} stack: `. {OPENRC_FILE}` then `openstack token issue`.",
        f"export OS_AUTH_URL={quoted(auth_url)}",
        "export OS_USERNAME=admin",
        f"export OS_PASSWORD={quoted(password)}",
        "export OS_PROJECT_NAME=admin",
        "export OS_USER_DOMAIN_NAME=Default",
        "export OS_PROJECT_DOMAIN_NAME=Default",
        f"export OS_REGION_NAME={quoted(region)}",
        "export OS_IDENTITY_API_VERSION=3",
        "",
    ])


def write_client_config(auth_url: str, password: str, region: str, user_clouds: Path = USER_CLOUDS) -> None:
    """clouds.yaml and openrc in the lab's state folder, and the cloud merged into the
    user's ~/.config/openstack/clouds.yaml (other clouds kept) so that
    `openstack --os-cloud kolla-ha-dev ...` works from any directory."""
    entry = cloud_entry(auth_url, password, region)
    _write_private(CLOUDS_FILE, yaml.safe_dump({"clouds": {CLOUD: entry}}, sort_keys=False))
    _write_private(OPENRC_FILE, openrc(auth_url, password, region))
    current = yaml.safe_load(user_clouds.read_text()) if user_clouds.exists() else None
    merged = current if isinstance(current, dict) else {}
    clouds = merged.setdefault("clouds", {})
    if clouds.get(CLOUD) != entry:
        clouds[CLOUD] = entry
        user_clouds.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(user_clouds, yaml.safe_dump(merged, sort_keys=False))


def remove_client_config(user_clouds: Path = USER_CLOUDS) -> None:
    for path in (CLOUDS_FILE, OPENRC_FILE):
        path.unlink(missing_ok=True)
    if not user_clouds.exists():
        return
    current = yaml.safe_load(user_clouds.read_text())
    if isinstance(current, dict) and CLOUD in (current.get("clouds") or {}):
        del current["clouds"][CLOUD]
        _write_private(user_clouds, yaml.safe_dump(current, sort_keys=False))


def summary(exports: Mapping[str, Any], resolve: Callable[[Any], Any]) -> list[str]:
    """What a person needs next, without a single secret in it."""
    lines = [f"internal VIP: {resolve(exports['internal_vip'])}"]
    for service, urls in sorted(resolve(exports["endpoints"]).items()):
        lines.append(f"  {service:20s} {urls['public']}")
    lines += [
        f"admin password: key keystone_admin_password in {secrets_file()} (mode 0600)",
        f"clouds.yaml: {CLOUDS_FILE} (cloud {CLOUD}, also merged into {USER_CLOUDS})",
        f"openrc: {OPENRC_FILE}",
        f"try: openstack --os-cloud {CLOUD} token issue",
        f"     openstack --os-cloud {CLOUD} catalog list",
    ]
    return lines


def admin_password(stack: str = STACK) -> str:
    return str(json.loads(secrets_file(stack).read_text())["keystone_admin_password"])


def lab_for_deploy() -> Lab:
    return Lab(hosts=max(3, len(Lab.existing_hosts())))


def _incarnations_file(stack: str = STACK) -> Path:
    return t.STATE_DIR / f"hosts-{stack}.json"


def record_incarnations(lab: Lab, stack: str = STACK) -> None:
    """Which container was each host when the stack was last deployed to it."""
    found = {h.name: incarnation(h) for h in lab.existing_hosts()}
    _incarnations_file(stack).write_text(json.dumps(found, sort_keys=True))


def forget_recreated_hosts(lab: Lab, log: Callable[[str], None], stack: str = STACK) -> list[str]:
    """Drop from the state every resource of a host re-created since the last deploy
    (`lab up` re-provisions a host whose image or key changed): they are gone with it,
    and a state that still listed them would plan them as unchanged. The stack's
    generated secrets stay. Returns the host names forgotten."""
    from lab.executor.state_delete import StateDeleteRefused, forget_host

    if not state_file(stack).exists() or not _incarnations_file(stack).exists():
        return []
    recorded = json.loads(_incarnations_file(stack).read_text())
    forgotten = []
    for host in lab.existing_hosts():
        if host.name in recorded and recorded[host.name] != incarnation(host):
            try:
                forget_host(state_file(stack), host.address)
            except StateDeleteRefused:
                continue  # nothing of the stack lived there
            log(f"{host.name} was re-created since the last deploy: its resources are forgotten and made anew")
            forgotten.append(host.name)
    return forgotten


def generated_secret(name: str, stack: str = STACK, state: Path | None = None) -> str:
    """A secret pulumi-random generated, read from the executor's state (the lab's
    equivalent of `pulumi stack export --show-secrets`)."""
    from lab.executor.state import Snapshot
    from lab.executor.values import plain

    path = state or state_file(stack)
    for resource in Snapshot.load(path).resources():
        if resource.name == name and resource.type.startswith("random:") and not resource.delete:
            outputs = plain(resource.outputs)
            return str(outputs.get("result") or outputs["base64"])
    raise KeyError(f"no generated secret {name!r} in {path}")


WORKLOAD_FILE = t.STATE_DIR / f"workload-{STACK}.json"


def write_workload_target(vip: str, admin: str, messaging: list[str], state: Path | None = None,
                          path: Path = WORKLOAD_FILE) -> Path:
    """The endpoints and credentials `ops.ha_scenarios --target` reads (mode 0600): the
    database as root through the VIP, RabbitMQ as its admin over every node."""
    target = {
        "auth_url": f"http://{vip}:5000/v3",
        "admin_password": admin,
        "region": "RegionOne",
        "db_host": vip,
        "db_port": 3306,
        "db_user": "root",
        "db_password": generated_secret("database_password", state=state),
        "amqp_hosts": messaging,
        "amqp_user": "admin",
        "amqp_password": generated_secret("rabbitmq_admin_password", state=state),
    }
    _write_private(path, json.dumps(target))
    return path
