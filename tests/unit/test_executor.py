"""The offline executor's engine logic, with the daemons replaced by a recorder.

What is checked here is the part that makes the end-to-end proof meaningful: unchanged
resources are not touched, changed ones are replaced in the program's rolling order,
undeclared ones are deleted newest-first, and anything the executor does not implement
is refused by name.
"""
from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from lab.executor.actions import Actions, UnsupportedByExecutor, _upload_archive, check_supported
from lab.executor.run import run_stack
from tests.unit.inventory_fixtures import make_config

CONTAINER = "docker:index/container:Container"


class FakeClient:
    def __init__(self, url: str) -> None:
        self.url = url


class RecordingActions(Actions):
    """Every daemon call becomes a line in `calls`; outputs look like the real ones."""

    def __init__(self) -> None:
        super().__init__(pool=None)  # type: ignore[arg-type]
        self.calls: list[tuple[str, str, str]] = []

    def create_provider(self, provider_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        self.providers[provider_id] = FakeClient(inputs["host"])  # type: ignore[assignment]
        return dict(inputs)

    def create_image(self, client: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("pull", client.url, inputs["name"]))
        return {**inputs, "imageId": f"sha256:{inputs['name']}", "repoDigest": ""}

    def create_volume(self, client: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("volume", client.url, inputs["name"]))
        return dict(inputs)

    def delete_volume(self, client: Any, state: dict[str, Any]) -> None:
        self.calls.append(("rm-volume", client.url, state["name"]))

    def create_container(self, client: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("run", client.url, inputs["name"]))
        RecordingActions.events.append(("run", client.url, inputs["name"]))
        # Like Docker: every container gets a new id, also one that replaces another.
        return {**inputs, "containerId": f"{client.url}/{inputs['name']}/{uuid.uuid4().hex[:8]}", "exitCode": 0}

    def delete_container(self, client: Any, state: dict[str, Any]) -> None:
        self.calls.append(("rm", client.url, state["name"]))
        RecordingActions.events.append(("rm", client.url, state["name"]))

    @staticmethod
    def run_remote(connection: dict[str, Any], script: str, environment: dict[str, str] | None = None,
                   stdin: str | None = None) -> dict[str, str]:
        RecordingActions.remote.append((connection["host"], script.splitlines()[0]))
        action = next((line for line in script.splitlines() if line.startswith("act ")), "")
        RecordingActions.events.append(("remote", connection["host"], action))
        return {"stdout": "", "stderr": ""}

    remote: list[tuple[str, str]] = []
    # Containers and commands in the order they were performed, across instances.
    events: list[tuple[str, str, str]] = []


def deploy(tmp_path: Path, actions: RecordingActions, n_hosts: int = 3, **overrides: Any):
    raw, secret_keys = make_config(n_hosts, **overrides)
    secrets = {k: raw.pop(k) for k in list(raw) if k in secret_keys}
    executor, exports = run_stack("test", values=raw, state_path=tmp_path / "state.json", log=lambda *_: None,
                                  actions=actions, secrets_given=secrets)
    return executor, exports


def ops(executor) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in executor.plan:
        counts[step.op] = counts.get(step.op, 0) + 1
    return counts


def test_first_run_creates_everything_and_redeploy_touches_nothing(tmp_path: Path) -> None:
    first = RecordingActions()
    executor, exports = deploy(tmp_path, first)
    assert set(ops(executor)) == {"create"}
    assert sum(1 for c in first.calls if c[0] == "run") == len([s for s in executor.plan if s.type == CONTAINER])
    assert exports["internal_vip"] == "10.0.0.250"

    again = RecordingActions()
    executor, _ = deploy(tmp_path, again)
    assert set(ops(executor)) == {"same"}
    assert again.calls == []


def test_changed_tier_is_replaced_alone_and_in_host_order(tmp_path: Path) -> None:
    deploy(tmp_path, RecordingActions())
    actions = RecordingActions()
    executor, _ = deploy(tmp_path, actions, memcached={"memory_mb": 256})
    replaced = [s.name for s in executor.plan if s.op == "replace"]
    assert replaced == ["ctl1-memcached", "ctl2-memcached", "ctl3-memcached"]
    # delete before create, one host after the other
    assert [c for c in actions.calls if c[2] == "memcached"] == [
        ("rm", "ssh://root@10.0.0.11:22", "memcached"), ("run", "ssh://root@10.0.0.11:22", "memcached"),
        ("rm", "ssh://root@10.0.0.12:22", "memcached"), ("run", "ssh://root@10.0.0.12:22", "memcached"),
        ("rm", "ssh://root@10.0.0.13:22", "memcached"), ("run", "ssh://root@10.0.0.13:22", "memcached"),
    ]


def test_a_replica_is_drained_before_its_container_is_replaced_and_readied_after(tmp_path: Path) -> None:
    deploy(tmp_path, RecordingActions(), enabled_services=["keystone"])
    RecordingActions.events.clear()
    # More workers change keystone's uwsgi.ini, so every replica is replaced.
    executor, _ = deploy(tmp_path, RecordingActions(), api={"workers": 3}, enabled_services=["keystone"])
    replaced = [s.name for s in executor.plan if s.op == "replace"]
    assert [n for n in replaced if n.endswith("keystone-lb-member")] == [
        "ctl1-keystone-lb-member", "ctl2-keystone-lb-member", "ctl3-keystone-lb-member"]
    keystone = [e for e in RecordingActions.events
                if e[2] == "keystone" or (e[0] == "remote" and e[2] in ("act drain", "act ready"))]
    expected = []
    for n in (11, 12, 13):
        url, host = f"ssh://root@10.0.0.{n}:22", f"10.0.0.{n}"
        expected += [("remote", host, "act drain"), ("rm", url, "keystone"), ("run", url, "keystone"),
                     ("remote", host, "act ready")]
    assert keystone == expected


def test_resources_no_longer_declared_are_deleted_newest_first(tmp_path: Path) -> None:
    deploy(tmp_path, RecordingActions(), enabled_services=["keystone", "glance-api"])
    actions = RecordingActions()
    executor, _ = deploy(tmp_path, actions, enabled_services=["keystone"])
    deleted = [s.name for s in executor.plan if s.op == "delete"]
    assert "ctl3-glance_api" in deleted and "ctl1-glance_bootstrap" in deleted
    removals = [(c[1], c[2]) for c in actions.calls if c[0] == "rm"]
    # replicas were created after the one-shots, so they go first; the last replica first of all
    assert removals.index(("ssh://root@10.0.0.13:22", "glance_api")) < removals.index(
        ("ssh://root@10.0.0.11:22", "glance_api"))
    assert removals.index(("ssh://root@10.0.0.11:22", "glance_api")) < removals.index(
        ("ssh://root@10.0.0.11:22", "glance_bootstrap"))
    assert not any(c[2].startswith("keystone") for c in actions.calls)


def test_preview_plans_without_touching_anything(tmp_path: Path) -> None:
    deploy(tmp_path, RecordingActions())
    raw, secret_keys = make_config(3, galera={"gcache_size": "2G"})
    secrets = {k: raw.pop(k) for k in list(raw) if k in secret_keys}
    actions = RecordingActions()
    executor, _ = run_stack("test", preview=True, values=raw, state_path=tmp_path / "state.json",
                            log=lambda *_: None, actions=actions, secrets_given=secrets)
    replaced = {s.name for s in executor.plan if s.op == "replace"}
    assert {"ctl1-mariadb", "ctl2-mariadb", "ctl3-mariadb", "ctl1-mariadb_bootstrap"} <= replaced
    assert not any(name.endswith("memcached") for name in replaced)
    assert actions.calls == []


def test_unknown_types_and_arguments_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedByExecutor, match="resource type docker:index/network:Network"):
        check_supported("docker:index/network:Network", {})
    with pytest.raises(UnsupportedByExecutor, match="argument\\(s\\) devices, privileged"):
        check_supported(CONTAINER, {"name": "x", "image": "y", "privileged": True, "devices": [{}]})
    check_supported(CONTAINER, {"name": "x", "image": "y", "privileged": None})


def test_uploads_keep_their_mode() -> None:
    archive = _upload_archive([
        {"file": "/var/lib/kolla/config_files/config.json", "content": "{}", "permissions": "0600"},
        {"file": "/usr/local/bin/x", "content": "#!/bin/sh\n", "executable": True},
    ])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert oct(members["var/lib/kolla/config_files/config.json"].mode) == "0o600"
    assert oct(members["usr/local/bin/x"].mode) == "0o755"
