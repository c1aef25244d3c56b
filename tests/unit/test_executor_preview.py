"""Preview: the same step generation with unknowns, nothing touched, and the
`pulumi preview --json` document (PULUMI-ENGINE.md §3e, §4)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_random as random

from lab.executor.preview_json import blinded_config, preview_digest
from lab.executor.values import UNKNOWN
from tests.unit.executor_fakes import FakeWorld, deploy, run

HOST = "tcp://h1:2375"


def program(pull: str = "1", password_length: int = 16) -> Callable[[], None]:
    def main() -> None:
        prov = docker.Provider("h1-docker", host=HOST)
        opts = pulumi.ResourceOptions(provider=prov)
        image = docker.RemoteImage("img", name="reg/app:1", keep_locally=True, pull_triggers=[pull], opts=opts)
        secret = random.RandomPassword("pw", length=password_length, special=False)
        app = docker.Container(
            "app", name="app", image=image.image_id, restart="unless-stopped",
            uploads=[docker.ContainerUploadArgs(file="/etc/app.conf",
                                                content=secret.result.apply(lambda r: f"password={r}"))],
            opts=pulumi.ResourceOptions(provider=prov, delete_before_replace=True))
        command.remote.Command("member", connection=command.remote.ConnectionArgs(host="10.0.0.1"),
                               create="act ready", delete="act drain", triggers=[app.id],
                               opts=pulumi.ResourceOptions(depends_on=[app]))

    return main


def test_preview_touches_nothing_and_writes_no_state(tmp_path: Path) -> None:
    """§3e: steps are applied with Preview=true; Delete is not called; no checkpoint."""
    world = FakeWorld()
    run(tmp_path, world, program())
    before = (tmp_path / "state.json").read_text()
    world.events.clear()
    engine, _ = run(tmp_path, world, program(pull="2", password_length=20), preview=True)
    assert {s.op for s in engine.plan} > {"same", "replace"}
    assert world.events == [] and world.connections == [HOST]
    assert (tmp_path / "state.json").read_text() == before


def test_preview_over_reports_replacements_fed_by_unknowns(tmp_path: Path) -> None:
    """§3e: an input fed from a replaced resource is unknown in preview, and unknown on a
    ForceNew input is a replace; in the real up the value is known and equal, so same."""
    world = FakeWorld()
    run(tmp_path, world, program())
    preview, _ = run(tmp_path, world, program(pull="2"), preview=True)
    assert [s.op for s in preview.plan if s.name == "img"] == ["create-replacement", "replace", "delete-replaced"]
    app = [s for s in preview.plan if s.name == "app" and s.op == "replace"]
    assert app and app[0].keys == ["image"]
    assert app[0].new.inputs["image"] == UNKNOWN
    up, _ = run(tmp_path, world, program(pull="2"))
    assert [s.op for s in up.plan if s.name == "app"] == ["same"]


def test_preview_of_a_create_leaves_computed_outputs_and_the_id_unknown(tmp_path: Path) -> None:
    """§3e: the bridge's preview Create returns the inputs with unset computed outputs unknown and
    an empty ID; the SDK then resolves them as unknown, so a trigger on the id is unknown too."""
    engine, _ = run(tmp_path, FakeWorld(), program(), preview=True)
    app = next(s for s in engine.plan if s.name == "app")
    assert app.new.id == "" and "exitCode" not in app.new.outputs
    member = next(s for s in engine.plan if s.name == "member")
    assert member.new.inputs["triggers"] == [UNKNOWN]


def digest(engine: Any, **flags: bool) -> dict[str, Any]:
    return json.loads(json.dumps(preview_digest(engine.plan, {"kolla-ha:x": "1"}, 123, engine.diagnostics, **flags)))


def test_preview_document_has_pulumis_shape(tmp_path: Path) -> None:
    """§4 PreviewDigest/PreviewStep: op, urn, provider, oldState, newState, diffReasons,
    replaceReasons, detailedDiff (null when there is none); the root stack step always."""
    world = FakeWorld()
    run(tmp_path, world, program())
    engine, _ = run(tmp_path, world, program(password_length=20), preview=True)
    doc = digest(engine)
    assert set(doc) == {"config", "steps", "duration", "changeSummary"}
    assert doc["steps"][0]["op"] == "same" and doc["steps"][0]["urn"].endswith("pulumi:pulumi:Stack::kolla-ha-test")
    ops = [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in doc["steps"][1:]]
    assert ops == [("replace", "pw"), ("replace", "app"), ("replace", "member")]
    app = next(s for s in doc["steps"] if s["urn"].endswith("::app"))
    assert set(app) == {"op", "urn", "provider", "oldState", "newState", "diffReasons", "replaceReasons",
                        "detailedDiff"}
    assert app["provider"].startswith("urn:pulumi:test::kolla-ha::pulumi:providers:docker::h1-docker::")
    assert app["replaceReasons"] == ["uploads"] and app["detailedDiff"] == {
        "uploads[0].content": {"kind": "update-replace", "inputDiff": False}}
    assert app["oldState"]["type"] == "docker:index/container:Container" and app["oldState"]["id"]
    assert doc["changeSummary"] == {"replace": 3, "same": 3}
    assert doc["duration"] == 123


def test_preview_document_redacts_secrets_and_keeps_the_unknown_placeholder(tmp_path: Path) -> None:
    """§4: secrets serialize as "[secret]", unknowns as 04da6b54-80e4-46f7-96ec-b56ff0331ba9."""
    world = FakeWorld()
    run(tmp_path, world, program())
    engine, _ = run(tmp_path, world, program(password_length=20), preview=True)
    doc = digest(engine)
    text = json.dumps(doc)
    assert "pppp" not in text and "password=" not in text
    app = next(s for s in doc["steps"] if s["urn"].endswith("::app"))
    assert app["oldState"]["inputs"]["uploads"][0]["content"] == "[secret]"
    # The replaced password is unknown in a preview, and so is everything made from it.
    assert app["newState"]["inputs"]["uploads"][0]["content"] == UNKNOWN
    member = next(s for s in doc["steps"] if s["urn"].endswith("::member"))
    assert member["newState"]["inputs"]["triggers"] == [UNKNOWN]
    assert member["newState"]["inputs"]["connection"] == "[secret]"


def test_replacement_steps_and_sames_only_when_asked_for(tmp_path: Path) -> None:
    """§4 display.go: non-logical steps only with --show-replacement-steps, sames with --show-sames;
    the steps appear in execution order, a delete-before-replace chain delete-first."""
    world = FakeWorld()
    run(tmp_path, world, program())
    engine, _ = run(tmp_path, world, program(password_length=20), preview=True)
    full = [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in digest(engine, show_replacement_steps=True)["steps"]]
    chain = full[full.index(("delete-replaced", "member")):]
    assert chain[:5] == [("delete-replaced", "member"), ("delete-replaced", "app"), ("replace", "app"),
                         ("create-replacement", "app"), ("replace", "member")]
    assert ("create-replacement", "pw") in full and full[-1] == ("delete-replaced", "pw")
    sames = digest(engine, show_sames=True)["steps"]
    assert {s["urn"].rsplit("::", 1)[-1] for s in sames if s["op"] == "same"} == {"kolla-ha-test", "h1-docker", "img"}


def test_blinded_config_hides_secret_values() -> None:
    config = blinded_config({"hosts": [{"name": "a"}], "internal_vip": "10.0.0.1", "keystone_admin_password": "x"},
                            {"keystone_admin_password"}, "kolla-ha")
    assert config == {"kolla-ha:hosts": '[{"name": "a"}]', "kolla-ha:internal_vip": "10.0.0.1",
                      "kolla-ha:keystone_admin_password": "[secret]"}


def test_preview_of_the_real_program_changes_nothing_after_a_deploy(tmp_path: Path) -> None:
    """The unchanged program previews as all same (its inputs are deterministic)."""
    world = FakeWorld()
    deploy(tmp_path, world, enabled_services=["keystone"])
    engine, _ = deploy(tmp_path, world, preview=True, enabled_services=["keystone"])
    assert {s.op for s in engine.plan} == {"same"}
