"""The engine's step rules, each on a small program against in-memory daemons.

Every test names the PULUMI-ENGINE.md fact (§) it checks. The programs are plain
functions using pulumi_docker / pulumi_command / pulumi_random as kolla-ha does.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_random as random
import pytest

from lab.executor.diff import UnsupportedByExecutor
from lab.executor.engine import DeploymentFailed
from tests.unit.executor_fakes import FakeWorld, run

HOST = "tcp://h1:2375"
CONNECTION = command.remote.ConnectionArgs(host="10.0.0.1")
C = "docker:index/container:Container"


def program(root_env: str = "1", restart: str = "unless-stopped", wait_timeout: int = 60,
            member_triggers: list[Any] | None = None, extra: Callable[[dict[str, Any]], None] | None = None,
            declare_ordered: bool = True, declare_gated: bool = True,
            cpu_shares: int | None = None) -> Callable[[], None]:
    """A delete-before-replace one-shot `root`; `gated` takes root's exit code into a
    label (a property dependency on a ForceNew input); `ordered` only depends_on root;
    `tolerant` takes it into wait_timeout (updated in place); `member` is a command
    whose triggers hold gated's id, like an lb-member."""

    def main() -> None:
        prov = docker.Provider("h1-docker", host=HOST)

        def opts(**kw: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(provider=prov, **kw)

        image = docker.RemoteImage("img", name="reg/app:1", keep_locally=True, opts=opts())
        root = docker.Container("root", name="root", image=image.image_id, envs=[f"V={root_env}"], attach=True,
                                must_run=False, opts=opts(delete_before_replace=True))
        made: dict[str, Any] = {"prov": prov, "image": image, "root": root}
        if declare_gated:
            made["gated"] = docker.Container(
                "gated", name="gated", image=image.image_id, restart=restart, cpu_shares=cpu_shares,
                labels=[docker.ContainerLabelArgs(label="gate", value=root.exit_code.apply(lambda _: "ok"))],
                opts=opts(depends_on=[root], delete_before_replace=True))
        if declare_ordered:
            made["ordered"] = docker.Container("ordered", name="ordered", image=image.image_id,
                                               opts=opts(depends_on=[root], delete_before_replace=True))
        made["tolerant"] = docker.Container(
            "tolerant", name="tolerant", image=image.image_id,
            wait_timeout=root.exit_code.apply(lambda _: wait_timeout), opts=opts(depends_on=[root]))
        made["member"] = command.remote.Command(
            "member", connection=CONNECTION, create="act ready", delete="act drain",
            triggers=member_triggers if member_triggers is not None else [made["gated"].id],
            opts=pulumi.ResourceOptions(depends_on=[made["gated"]] if declare_gated else []))
        if extra is not None:
            extra(made)

    return main


def ops_of(engine: Any, name: str) -> list[str]:
    return [s.op for s in engine.plan if s.name == name]


def state_doc(tmp_path: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((tmp_path / "state.json").read_text())
    return {r["urn"].rsplit("::", 1)[-1] + ("~deleted" if r.get("delete") else ""): r for r in doc["resources"]}


def test_unchanged_program_is_all_same_and_touches_nothing(tmp_path: Path) -> None:
    """§3d: no diff -> a same step; no provider call."""
    world = FakeWorld()
    first, _ = run(tmp_path, world, program())
    assert {s.op for s in first.plan} == {"create"}
    world.events.clear()
    again, _ = run(tmp_path, world, program())
    assert {s.op for s in again.plan} == {"same"}
    assert world.events == []


def test_restart_policy_change_is_one_docker_update_and_no_replacement(tmp_path: Path) -> None:
    """§1 table: restart -> ContainerUpdate (docker update); not ForceNew."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(restart="always"))
    assert ops_of(engine, "gated") == ["update"]
    assert world.events == [("update", HOST, "gated")]
    assert world.daemons[HOST].containers[next(c.id for c in world.daemons[HOST].containers.values()
                                                 if c.name == "gated")].restart == "always"


def test_cpu_shares_change_is_one_docker_update_and_no_replacement(tmp_path: Path) -> None:
    """§1 table: cpu_shares goes in the same ContainerUpdate as the restart policy; not ForceNew."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(cpu_shares=4096))
    assert ops_of(engine, "gated") == ["update"]
    assert world.events == [("update", HOST, "gated")]
    gated = next(c for c in world.daemons[HOST].containers.values() if c.name == "gated")
    assert gated.inputs["cpuShares"] == 4096 and gated.restart == "unless-stopped"


def test_in_place_change_the_provider_does_not_apply_changes_only_the_state(tmp_path: Path) -> None:
    """§1 table: wait_timeout is updated in state only, no Docker call; Update stores the planned values."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(wait_timeout=120))
    assert ops_of(engine, "tolerant") == ["update"]
    assert world.events == []
    assert state_doc(tmp_path)["tolerant"]["outputs"]["waitTimeout"] == 120


def test_stopped_container_gets_must_run_false_and_is_started_by_the_next_up(tmp_path: Path) -> None:
    """§1 Read: a stopped container with must_run=true is written back as false; the
    next up shows an update (mustRun false->true) that starts it."""
    world = FakeWorld()
    world.stopped.add("ordered")
    run(tmp_path, world, program())
    assert state_doc(tmp_path)["ordered"]["outputs"]["mustRun"] is False
    world.events.clear()
    engine, _ = run(tmp_path, world, program())
    assert ops_of(engine, "ordered") == ["update"]
    assert world.events == [("start", HOST, "ordered")]
    assert state_doc(tmp_path)["ordered"]["outputs"]["mustRun"] is True


def test_delete_before_replace_pre_deletes_property_dependents_in_reverse_order(tmp_path: Path) -> None:
    """§3a DBR chain [DeleteReplaced(dependents, reverse order), DeleteReplaced(self), Replace,
    CreateReplacement]; §3b: gated (label from root's output, ForceNew) is replaced, and member
    (triggers = gated's id) too, its OLD delete running before gated's container stops."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(root_env="2"))
    chain = [(s.op, s.name) for s in engine.plan if s.op != "same"][:5]
    assert chain == [("delete-replaced", "member"), ("delete-replaced", "gated"), ("delete-replaced", "root"),
                     ("replace", "root"), ("create-replacement", "root")]
    assert world.events[:4] == [("ssh", "10.0.0.1", "act drain"), ("rm", HOST, "gated"), ("rm", HOST, "root"),
                                ("run", HOST, "root")]


def test_a_chain_stops_at_the_failed_step(tmp_path: Path) -> None:
    """§3a: a DBR chain runs serially; when a dependent's delete fails, the chain stops there:
    the root is neither deleted nor re-created, and the dependent stays in state as it was."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    world.fail_scripts.add("act drain")
    with pytest.raises(Exception, match="act drain"):
        run(tmp_path, world, program(root_env="2"))
    assert world.events == [("ssh", "10.0.0.1", "act drain")]
    state = state_doc(tmp_path)
    assert "pendingReplacement" not in state["member"] and "pendingReplacement" not in state["root"]
    assert state["root"]["inputs"]["envs"] == ["V=1"]


def test_depends_on_alone_never_pre_deletes(tmp_path: Path) -> None:
    """§3c: a dependsOn-only dependent stays up while the root is deleted and re-created."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(root_env="2"))
    assert ops_of(engine, "ordered") == ["same"]
    assert ("rm", HOST, "ordered") not in world.events


def test_property_dependency_on_an_in_place_argument_is_not_pre_deleted(tmp_path: Path) -> None:
    """§3b: the dependent's provider Diff with that input unknown says update, not replace."""
    world = FakeWorld()
    run(tmp_path, world, program())
    engine, _ = run(tmp_path, world, program(root_env="2"))
    assert ops_of(engine, "tolerant") == ["same"]


def test_pre_deleted_dependent_is_recreated_without_a_diff_when_it_registers(tmp_path: Path) -> None:
    """§3b Re-registration: Replace + CreateReplacement without a diff, keyed by the dependent's replace keys."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    engine, _ = run(tmp_path, world, program(root_env="2"))
    gated = [s for s in engine.plan if s.name == "gated"]
    assert [s.op for s in gated] == ["delete-replaced", "replace", "create-replacement"]
    assert gated[-1].keys == ["labels"] and gated[-1].detailed_diff is None
    assert world.events.index(("run", HOST, "gated")) > world.events.index(("run", HOST, "root"))
    assert world.events.index(("ssh", "10.0.0.1", "act ready")) > world.events.index(("run", HOST, "gated"))


def test_create_before_delete_deletes_the_old_one_after_every_create_and_runs_its_old_delete(tmp_path: Path) -> None:
    """§2: a triggers change replaces a command create-before-delete: the new `create` runs when it
    registers, the OLD `delete` in the post phase (§3a: deletes after every create/update)."""
    world = FakeWorld()

    def later(made: dict[str, Any]) -> None:
        docker.Container("late", name="late", image=made["image"].image_id,
                         opts=pulumi.ResourceOptions(provider=made["prov"], depends_on=[made["member"]]))

    run(tmp_path, world, program(member_triggers=["v1"], extra=later))
    world.events.clear()
    engine, _ = run(tmp_path, world, program(member_triggers=["v2"], extra=later, wait_timeout=90))
    member = [s.op for s in engine.plan if s.name == "member"]
    assert member == ["create-replacement", "replace", "delete-replaced"]
    assert [s.op for s in engine.plan][-1] == "delete-replaced"
    assert world.events == [("ssh", "10.0.0.1", "act ready"), ("ssh", "10.0.0.1", "act drain")]


def test_command_update_runs_update_if_set_else_create(tmp_path: Path) -> None:
    """§2 Update: the new `update` if set, else the new `create`."""
    world = FakeWorld()

    def commands(version: str) -> Callable[[dict[str, Any]], None]:
        def add(_: dict[str, Any]) -> None:
            command.remote.Command("with-update", connection=CONNECTION, create=f"act create {version}",
                                   update=f"act update {version}")
            command.remote.Command("create-only", connection=CONNECTION, create=f"act create-only {version}")
        return add

    run(tmp_path, world, program(extra=commands("1")))
    world.events.clear()
    engine, _ = run(tmp_path, world, program(extra=commands("2")))
    assert ops_of(engine, "with-update") == ["update"] and ops_of(engine, "create-only") == ["update"]
    assert sorted(world.events) == [("ssh", "10.0.0.1", "act create-only 2"), ("ssh", "10.0.0.1", "act update 2")]


def test_command_delete_runs_the_delete_stored_in_state(tmp_path: Path) -> None:
    """§2 Delete runs the OLD state's delete: a new delete only counts once an update stored it."""
    world = FakeWorld()

    def cleanup(script: str) -> Callable[[dict[str, Any]], None]:
        return lambda _: command.remote.Command("cleanup", connection=CONNECTION, create="act make", delete=script)

    run(tmp_path, world, program(extra=cleanup("act remove-v1")))
    engine, _ = run(tmp_path, world, program(extra=cleanup("act remove-v2")))
    assert ops_of(engine, "cleanup") == ["update"]  # a changed delete alone re-runs create
    world.events.clear()
    run(tmp_path, world, program())
    assert ("ssh", "10.0.0.1", "act remove-v2") in world.events


def test_undeclared_resources_are_deleted_last_dependents_first(tmp_path: Path) -> None:
    """§3a GenerateDeletes + ScheduleDeletes: reverse-dependency antichains after the program."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()

    def nothing() -> None:
        pulumi.export("empty", True)

    engine, _ = run(tmp_path, world, nothing)
    deletes = [s.name for s in engine.plan if s.op == "delete"]
    for before, after in [("member", "gated"), ("gated", "root"), ("ordered", "root"), ("root", "img"),
                          ("img", "h1-docker")]:
        assert deletes.index(before) < deletes.index(after), (before, after, deletes)
    assert ("ssh", "10.0.0.1", "act drain") in world.events
    assert json.loads((tmp_path / "state.json").read_text())["resources"][0]["type"] == "pulumi:pulumi:Stack"


def test_a_failed_step_skips_the_delete_phase_and_the_old_resource_stays_pending_delete(tmp_path: Path) -> None:
    """§3a: if any step fails, post-steps do not run; the replaced resource stays in state as
    `delete: true` and is deleted on a later up."""
    world = FakeWorld()

    def breaking(made: dict[str, Any]) -> None:
        docker.Container("broken", name="broken", image=made["image"].image_id,
                         opts=pulumi.ResourceOptions(provider=made["prov"], depends_on=[made["member"]]))

    run(tmp_path, world, program(member_triggers=["v1"]))
    world.fail_containers["broken"] = "create"
    world.events.clear()
    with pytest.raises(Exception, match="no such image for broken"):
        run(tmp_path, world, program(member_triggers=["v2"], extra=breaking))
    assert ("ssh", "10.0.0.1", "act drain") not in world.events
    state = state_doc(tmp_path)
    assert "member~deleted" in state and "member" in state and "broken" not in state
    del world.fail_containers["broken"]
    world.events.clear()
    engine, _ = run(tmp_path, world, program(member_triggers=["v2"], extra=breaking))
    assert ops_of(engine, "member") == ["same", "delete-replaced"]
    assert world.events[-1] == ("ssh", "10.0.0.1", "act drain")
    assert "member~deleted" not in state_doc(tmp_path)


def test_no_step_starts_after_a_failure(tmp_path: Path) -> None:
    """§3a: a failing step cancels the deployment; later registrations are not performed."""
    world = FakeWorld()
    release = threading.Event()
    world.hold["slow"] = release
    world.fail_containers["bad"] = "create"

    def two_chains(made: dict[str, Any]) -> None:
        opts = pulumi.ResourceOptions(provider=made["prov"])
        slow = docker.Container("slow", name="slow", image=made["image"].image_id, opts=opts)
        docker.Container("bad", name="bad", image=made["image"].image_id, opts=opts)
        docker.Container("after", name="after", image=made["image"].image_id,
                         opts=pulumi.ResourceOptions(provider=made["prov"], depends_on=[slow]))

    def log(line: str) -> None:
        if "bad FAILED" in line:
            release.set()

    with pytest.raises(Exception):
        run(tmp_path, world, program(extra=two_chains), log=log)
    ran = [what for op, _, what in world.events if op == "run"]
    assert "slow" in ran and "after" not in ran


def test_a_failed_command_create_is_not_written_and_is_created_again(tmp_path: Path) -> None:
    """§2 Failures: a failing create returns an error and nothing is written to state."""
    world = FakeWorld()
    world.fail_scripts.add("act setup")
    extra = lambda _: command.remote.Command("setup", connection=CONNECTION, create="act setup")  # noqa: E731
    with pytest.raises(Exception, match="act setup"):
        run(tmp_path, world, program(extra=extra))
    assert "setup" not in state_doc(tmp_path)
    world.fail_scripts.clear()
    engine, _ = run(tmp_path, world, program(extra=extra))
    assert ops_of(engine, "setup") == ["create"]


def test_a_failed_command_update_keeps_the_old_state(tmp_path: Path) -> None:
    """§2 Failures: a failing update returns an error and the old state is kept; the next up retries."""
    world = FakeWorld()

    def setup(version: str) -> Callable[[dict[str, Any]], None]:
        return lambda _: command.remote.Command("setup", connection=CONNECTION, create=f"act setup {version}")

    run(tmp_path, world, program(extra=setup("1")))
    world.fail_scripts.add("act setup 2")
    with pytest.raises(Exception):
        run(tmp_path, world, program(extra=setup("2")))
    assert state_doc(tmp_path)["setup"]["inputs"]["create"] == "act setup 1"
    world.fail_scripts.clear()
    engine, _ = run(tmp_path, world, program(extra=setup("2")))
    assert ops_of(engine, "setup") == ["update"]


def test_a_container_that_fails_after_it_exists_is_kept_with_init_errors_and_updated_next_time(tmp_path: Path) -> None:
    """§1 Partial failure on create: the container stays in state with initErrors; the next up,
    with no diff, is an Update step (§3d) that does not create it again."""
    world = FakeWorld()
    world.fail_containers["ordered"] = "init"
    with pytest.raises(Exception, match="healthy state"):
        run(tmp_path, world, program())
    state = state_doc(tmp_path)["ordered"]
    assert state["initErrors"] and state["id"]
    del world.fail_containers["ordered"]
    world.events.clear()
    engine, _ = run(tmp_path, world, program())
    assert ops_of(engine, "ordered") == ["update"]
    assert not [e for e in world.events if e[2] == "ordered" and e[0] == "run"]
    assert "initErrors" not in state_doc(tmp_path)["ordered"]


def test_a_failed_create_after_a_dbr_delete_is_replaced_next_time_without_deleting_again(tmp_path: Path) -> None:
    """§3a State during DBR: the old state stays with pendingReplacement:true; the next up
    replaces it without a delete step."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.fail_containers["root"] = "create"
    with pytest.raises(Exception):
        run(tmp_path, world, program(root_env="2"))
    assert state_doc(tmp_path)["root"]["pendingReplacement"] is True
    del world.fail_containers["root"]
    world.events.clear()
    engine, _ = run(tmp_path, world, program(root_env="2"))
    assert ops_of(engine, "root") == ["replace", "create-replacement"]
    assert ("rm", HOST, "root") not in world.events and ("run", HOST, "root") in world.events
    assert "pendingReplacement" not in state_doc(tmp_path)["root"]


def test_pre_deleted_dependent_not_declared_again_stays_pending_then_is_removed_from_state(tmp_path: Path) -> None:
    """§3b: a pre-deleted dependent that never registers again stays deleted (pending replacement
    in state); GenerateDeletes later drops it with remove-pending-replace, no provider call."""
    world = FakeWorld()
    run(tmp_path, world, program(member_triggers=["fixed"]))
    engine, _ = run(tmp_path, world, program(root_env="2", member_triggers=["fixed"], declare_gated=False))
    assert ops_of(engine, "gated") == ["delete-replaced"]
    assert state_doc(tmp_path)["gated"]["pendingReplacement"] is True
    world.events.clear()
    engine, _ = run(tmp_path, world, program(root_env="2", member_triggers=["fixed"], declare_gated=False))
    assert ops_of(engine, "gated") == ["remove-pending-replace"]
    assert world.events == [] and "gated" not in state_doc(tmp_path)


def test_targeted_replace_replaces_an_unchanged_resource(tmp_path: Path) -> None:
    """`pulumi up --replace URN`: a replace diff keyed on `id` (step_generator.go diff)."""
    world = FakeWorld()
    run(tmp_path, world, program())
    world.events.clear()
    target = f"urn:pulumi:test::kolla-ha::{C}::ordered"
    engine, _ = run(tmp_path, world, program(), replace=[target])
    ordered = [s for s in engine.plan if s.name == "ordered"]
    assert [s.op for s in ordered] == ["delete-replaced", "replace", "create-replacement"]
    assert ordered[-1].keys == ["id"]
    assert world.events == [("rm", HOST, "ordered"), ("run", HOST, "ordered")]


def test_retain_on_delete_drops_the_resource_without_deleting_it(tmp_path: Path) -> None:
    """§3f retainOnDelete: the provider Delete is skipped and the resource leaves the state."""
    world = FakeWorld()

    def kept(made: dict[str, Any]) -> None:
        docker.Container("kept", name="kept", image=made["image"].image_id,
                         opts=pulumi.ResourceOptions(provider=made["prov"], retain_on_delete=True))

    run(tmp_path, world, program(extra=kept))
    world.events.clear()
    engine, _ = run(tmp_path, world, program())
    assert ops_of(engine, "kept") == ["delete"]
    assert world.events == [] and "kept" not in state_doc(tmp_path)


@pytest.mark.parametrize("options,named", [
    (dict(protect=True), "protect"),
    (dict(aliases=[pulumi.Alias(name="older")]), "aliases"),
    (dict(import_="abc"), "import"),
    (dict(custom_timeouts=pulumi.CustomTimeouts(create="5m")), "custom_timeouts"),
])
def test_options_the_executor_does_not_model_are_refused_by_name(tmp_path: Path, options: dict[str, Any],
                                                                 named: str) -> None:
    def extra(made: dict[str, Any]) -> None:
        docker.Container("odd", name="odd", image=made["image"].image_id,
                         opts=pulumi.ResourceOptions(provider=made["prov"], **options))

    with pytest.raises(UnsupportedByExecutor, match=f"option\\(s\\) {named}"):
        run(tmp_path, FakeWorld(), program(extra=extra))


def test_remote_command_environment_is_refused(tmp_path: Path) -> None:
    """§2 Environment: Setenv succeeds only where the host's sshd AcceptEnv allows it."""
    extra = lambda _: command.remote.Command("env", connection=CONNECTION, create="true",  # noqa: E731
                                             environment={"A": "1"})
    with pytest.raises(UnsupportedByExecutor, match="environment"):
        run(tmp_path, FakeWorld(), program(extra=extra))


def test_random_password_change_replaces_create_before_delete(tmp_path: Path) -> None:
    """pulumi-random: every argument forces a replacement, create-before-delete (§3a default)."""
    world = FakeWorld()

    def password(length: int) -> Callable[[dict[str, Any]], None]:
        return lambda _: random.RandomPassword("pw", length=length)

    run(tmp_path, world, program(extra=password(16)))
    engine, _ = run(tmp_path, world, program(extra=password(20)))
    assert ops_of(engine, "pw") == ["create-replacement", "replace", "delete-replaced"]
    result = state_doc(tmp_path)["pw"]["outputs"]["result"]
    assert result["value"] == "p" * 20  # kept as a secret in the state


def test_a_deployment_failure_is_reported_as_such(tmp_path: Path) -> None:
    world = FakeWorld()
    world.fail_containers["ordered"] = "create"
    with pytest.raises(Exception) as caught:
        run(tmp_path, world, program())
    assert not isinstance(caught.value, DeploymentFailed)
    assert "no such image for ordered" in str(caught.value)
