"""State handling: refresh, state surgery, the state file, progress output, and the
real program's runs end to end against in-memory daemons."""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from lab.executor.__main__ import main as executor_main
from lab.executor.refresh import refresh
from lab.executor.state import Snapshot, StateFormatError
from lab.executor.state_delete import StateDeleteRefused, forget_host, state_delete
from tests.unit.executor_fakes import FakeWorld, deploy

SERVICES = ["keystone"]
URL1 = "ssh://root@10.0.0.11:22"


def resources(tmp_path: Path) -> dict[str, dict]:
    doc = json.loads((tmp_path / "state.json").read_text())
    return {r["urn"]: r for r in doc["resources"]}


def named(tmp_path: Path, name: str) -> dict:
    matches = [r for urn, r in resources(tmp_path).items() if urn.endswith(f"::{name}")]
    assert len(matches) == 1, name
    return matches[0]


def test_redeploy_of_the_real_program_touches_nothing(tmp_path: Path) -> None:
    """§3d: an unchanged program is all same steps."""
    world = FakeWorld()
    first, exports = deploy(tmp_path, world, enabled_services=SERVICES)
    assert {s.op for s in first.plan} == {"create"}
    assert exports["internal_vip"] == "10.0.0.250"
    world.events.clear()
    again, _ = deploy(tmp_path, world, enabled_services=SERVICES)
    assert {s.op for s in again.plan} == {"same"}
    assert world.events == []


def test_state_lists_dependencies_and_property_dependencies_in_topological_order(tmp_path: Path) -> None:
    """§3b needs the old snapshot's dependency graph: every resource after what it depends on."""
    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES)
    doc = json.loads((tmp_path / "state.json").read_text())
    seen: set[str] = set()
    for res in doc["resources"]:
        refs = set(res.get("dependencies", [])) | {u for v in res.get("propertyDependencies", {}).values() for u in v}
        if res.get("provider"):
            refs.add(res["provider"].rsplit("::", 1)[0])
        if res.get("parent"):
            refs.add(res["parent"])
        assert refs <= seen, (res["urn"], refs - seen)
        seen.add(res["urn"])
    # The one property dependency on a delete-before-replace resource the program has on
    # purpose: the lb-member's triggers hold its container's id (drain before stop).
    member = named(tmp_path, "ctl2-keystone-lb-member")
    assert any(u.endswith("::ctl2-keystone") for u in member["propertyDependencies"]["triggers"])
    # Replicas wait for their one-shot steps by depends_on only (the first of the chain;
    # the others wait for the one before them).
    replica = named(tmp_path, "ctl1-keystone")
    assert any(u.endswith("::ctl1-keystone_bootstrap") for u in replica["dependencies"])
    assert not any(u.endswith("::ctl1-keystone_bootstrap") for deps in replica["propertyDependencies"].values()
                   for u in deps)


def test_refresh_after_the_hosts_were_recreated_drops_what_is_gone(tmp_path: Path) -> None:
    """Issue 7 / `pulumi refresh`: containers, images and volumes read back from empty daemons are
    gone and leave the state with the references to them; commands and passwords cannot be read
    (go-provider's default Read) and stay; the next up creates the containers again."""
    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES)
    fresh = FakeWorld()  # `python3 -m lab down` + `up`: hosts with empty daemons
    lines: list[str] = []
    report = refresh(tmp_path / "state.json", actions=fresh, log=lines.append)
    left = resources(tmp_path)
    assert not any(r["type"] == "docker:index/container:Container" for r in left.values())
    assert any(urn.endswith("::ctl1-keystone-lb-member") for urn in report.deleted) is False
    assert any(r["type"] == "command:remote:Command" for r in left.values())
    member = named(tmp_path, "ctl1-keystone-lb-member")
    assert not any("Container" in u for u in member.get("dependencies", []))
    assert any("gone" in line for line in lines) and re.search(r"\d+ gone", lines[-1])
    engine, _ = deploy(tmp_path, fresh, enabled_services=SERVICES)
    created = {s.name for s in engine.plan if s.op == "create"}
    assert {"ctl1-keystone", "ctl2-mariadb", "ctl3-memcached"} <= created
    assert sorted(c.name for c in fresh.daemons[URL1].containers.values() if c.running) == [
        "haproxy", "keepalived", "keystone", "mariadb", "mariadb_clustercheck", "memcached", "rabbitmq"]


def test_refresh_writes_must_run_false_for_a_stopped_container(tmp_path: Path) -> None:
    """§1 Read: a stopped container gets its exit code and must_run=false; the next up starts it."""
    world = FakeWorld()
    deploy(tmp_path, world, enabled_services=SERVICES)
    daemon = world.daemons[URL1]
    memcached = next(c for c in daemon.containers.values() if c.name == "memcached")
    memcached.running, memcached.exit_code = False, 137
    report = refresh(tmp_path / "state.json", actions=world, log=lambda _: None)
    assert report.updated == [(named(tmp_path, "ctl1-memcached")["urn"], ["exitCode", "mustRun"])]
    assert named(tmp_path, "ctl1-memcached")["outputs"]["mustRun"] is False
    world.events.clear()
    engine, _ = deploy(tmp_path, world, enabled_services=SERVICES)
    assert [s.op for s in engine.plan if s.name == "ctl1-memcached"] == ["update"]
    assert world.events == [("start", URL1, "memcached")]


def test_state_delete_refuses_a_resource_others_depend_on_unless_told(tmp_path: Path) -> None:
    """`pulumi state delete`: dependents block the delete; --target-dependents takes them too."""
    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES)
    replica = named(tmp_path, "ctl3-keystone")["urn"]
    with pytest.raises(StateDeleteRefused, match="ctl3-keystone-lb-member"):
        state_delete(tmp_path / "state.json", [replica])
    gone = state_delete(tmp_path / "state.json", [replica], target_dependents=True)
    assert any(u.endswith("::ctl3-keystone-lb-member") for u in gone)
    assert not any(u.endswith("::ctl3-keystone") for u in resources(tmp_path))
    member = named(tmp_path, "ctl2-keystone-lb-member")["urn"]
    assert state_delete(tmp_path / "state.json", [member]) == [member]


def test_forget_host_removes_everything_living_on_a_dead_host(tmp_path: Path) -> None:
    """The dead-host runbook: its provider, what that provider manages, commands reaching it over
    SSH and its own component leave the state; the other hosts' resources stay, their
    references to the dead ones dropped."""
    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES)
    before = resources(tmp_path)
    gone = forget_host(tmp_path / "state.json", "10.0.0.12")
    left = resources(tmp_path)
    assert all(u not in left for u in gone)
    assert {u.rsplit("::", 1)[-1] for u in gone} >= {"ctl2", "ctl2-docker", "ctl2-keystone", "ctl2-prepare",
                                                      "ctl2-keystone-lb-member", "ctl2-haproxy-config"}
    assert not any(u.rsplit("::", 1)[-1].startswith(("ctl1", "ctl3")) for u in gone)
    assert len(left) == len(before) - len(gone)
    for res in left.values():
        refs = set(res.get("dependencies", [])) | {u for v in res.get("propertyDependencies", {}).values() for u in v}
        assert not refs & set(gone), res["urn"]
    with pytest.raises(StateDeleteRefused):
        forget_host(tmp_path / "state.json", "10.0.0.99")


def test_state_delete_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES)
    member = named(tmp_path, "ctl3-keystone-lb-member")["urn"]
    state = str(tmp_path / "state.json")
    # The steps after the roll depend on the last replica's membership: refused alone...
    assert executor_main(["state", "delete", "--stack", "test", "--state", state, member]) == 1
    assert "--target-dependents" in capsys.readouterr().err
    # ...and forgotten with its dependents when asked.
    assert executor_main(["state", "delete", "--stack", "test", "--state", state, "--target-dependents", member]) == 0
    assert f"forgotten: {member}" in capsys.readouterr().out
    assert member not in resources(tmp_path)
    assert executor_main(["state", "delete", "--stack", "test", "--state", str(tmp_path / "state.json"),
                          "--host", "10.0.0.12"]) == 0
    assert not any(u.rsplit("::", 1)[-1].startswith("ctl2") for u in resources(tmp_path))


def test_a_state_file_of_the_earlier_executor_is_refused_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"urn:pulumi:dev::kolla-ha::x::y": {"type": "x", "name": "y"}}))
    with pytest.raises(StateFormatError, match="earlier offline executor"):
        Snapshot.load(path)


def test_progress_lines_are_whole_stamped_and_one_per_event(tmp_path: Path) -> None:
    """Issue 7: a line per step with elapsed seconds; concurrent steps never share a line."""
    lines: list[str] = []
    lock = threading.Lock()

    def sink(line: str) -> None:
        with lock:
            lines.append(line)

    deploy(tmp_path, FakeWorld(), enabled_services=SERVICES, log=sink)
    stamped = re.compile(r"^\[\s*\d+\.\ds\] (create|same|update|replace|delete)\S* +\S+ +\S+( \.\.\.| done in "
                         r"\d+\.\ds)$")
    assert lines and all(stamped.match(line) for line in lines), [l for l in lines if not stamped.match(l)][:3]
    containers = [line for line in lines if " Container " in line]
    assert sum(line.endswith("...") for line in containers) == sum("done in" in line for line in containers) > 0


def test_removed_service_is_deleted_after_the_program_dependents_first(tmp_path: Path) -> None:
    """§3a: resources no longer declared are deleted in reverse-dependency antichains."""
    world = FakeWorld()
    deploy(tmp_path, world, enabled_services=["keystone", "glance-api"])
    world.events.clear()
    engine, _ = deploy(tmp_path, world, enabled_services=["keystone"])
    deleted = [s.name for s in engine.plan if s.op == "delete"]
    assert {"ctl1-glance_api", "ctl3-glance_api", "ctl1-glance_bootstrap", "ctl1-glance_api-lb-member"} <= set(deleted)
    assert engine.plan[-1].op == "delete"
    assert deleted.index("ctl1-glance_api-lb-member") < deleted.index("ctl1-glance_api")
    assert deleted.index("ctl1-glance_api") < deleted.index("ctl1-glance_bootstrap")
    drain = world.events.index(("ssh", "10.0.0.11", next(e[2] for e in world.events if e[1] == "10.0.0.11"
                                                          and e[2] == "act drain")))
    assert drain < world.events.index(("rm", URL1, "glance_api"))
    assert not any(what.startswith("keystone") for _, _, what in world.events)
