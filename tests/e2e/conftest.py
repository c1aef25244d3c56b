"""The dev stack deployed into the lab once per session by the offline executor, and
destroyed at the end (with a check that nothing it made is left)."""
from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.figures import FIGURES
from tests.e2e.lab_access import Deployment
from lab.executor.run import read_stack_file, run_stack

def dev_values(**changes: Any) -> dict[str, Any]:
    values = read_stack_file("dev")
    values.update(changes)
    return values


@pytest.fixture(scope="session")
def admin_password() -> str:
    return "e2e-" + secrets.token_urlsafe(12)


# Package scope: one stack for every module here (faults first, then the checks and the
# day-2 changes), gone before later test directories use the lab hosts.
@pytest.fixture(scope="package")
def deployment(lab, tmp_path_factory, admin_password: str) -> Iterator[Deployment]:
    state = tmp_path_factory.mktemp("engine") / "state.json"
    given = {"keystone_admin_password": admin_password}
    yield from _deployment(state, given)


def _deployment(state: Path, given: dict[str, str]) -> Iterator[Deployment]:
    start = time.monotonic()
    try:
        executor, exports = run_stack("dev", values=dev_values(), state_path=state, secrets_given=given)
    except BaseException:
        # A failed deploy must not leave half a cloud in the lab for the next run.
        run_stack("dev", destroy=True, state_path=state, secrets_given=given)
        raise
    FIGURES["deploy of the dev stack (s)"] = round(time.monotonic() - start, 1)
    FIGURES["resources deployed"] = len([s for s in executor.plan if s.op == "create"])
    deployed = Deployment(state, exports, ["ctl1", "ctl2", "ctl3"], FIGURES, values=dev_values())
    yield deployed
    hosts = list(deployed.hosts)
    start = time.monotonic()
    run_stack("dev", destroy=True, state_path=state, secrets_given=given)
    FIGURES["destroy (s)"] = round(time.monotonic() - start, 1)
    leftovers = []
    for host in hosts:
        client = deployed.docker(host)
        leftovers += [f"{host}:{c.name}" for c in client.containers.list(all=True, filters={"label": "kolla-ha.service"})]
        leftovers += [f"{host}:volume {v.name}" for v in client.volumes.list()
                      if v.name in {"mariadb", "rabbitmq", "haproxy_socket", "keystone_logs", "glance",
                                    "ceph_mon", "ceph_osd", "swift_recon_cache"}]
        # Files the program writes on the host itself (not in a container or volume);
        # Swift's device folders stay by design (data, or a disk's mount point).
        for path in ("/etc/kolla-ha/haproxy", "/etc/kolla-ha/swift"):
            on_host = subprocess.run(["docker", "exec", f"kolla-ha-lab-{host}", "test", "-e", path], check=False)
            if on_host.returncode == 0:
                leftovers.append(f"{host}:{path}")
    FIGURES["left behind after destroy"] = len(leftovers)
    assert not leftovers, f"destroy left {leftovers}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("kolla-ha end-to-end figures")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")


# The modules share one stack and build on each other: faults first on the fresh stack,
# then the checks and the changes that grow it (scale-out, queue type), then the day-2
# changes that start from there.
MODULE_ORDER = ("test_faults", "test_ha_stack", "test_day2", "test_storage")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Reorder this folder's tests among the slots they already have; the session's other
    tests keep their places."""
    def module(item: Any) -> str:
        return item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""

    slots = [i for i, item in enumerate(items) if module(item) in MODULE_ORDER]
    ordered = sorted((items[i] for i in slots), key=lambda item: MODULE_ORDER.index(module(item)))
    for slot, item in zip(slots, ordered):
        items[slot] = item
