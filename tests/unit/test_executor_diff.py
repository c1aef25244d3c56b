"""The providers' Check and Diff as the executor models them, rule by rule.

Each test names the PULUMI-ENGINE.md fact it checks (§ numbers of that file).
"""
from __future__ import annotations

import pytest

from lab.executor import schemas
from lab.executor.diff import (
    UnsupportedByExecutor,
    apply_replace_on_changes,
    check,
    check_supported,
    process_ignore_changes,
    provider_diff,
    provider_wants_delete_before_replace,
)
from lab.executor.values import UNKNOWN, secret

CONTAINER = schemas.CONTAINER


def container(**changes):
    base = {
        "name": "keystone", "image": "sha256:aaa", "networkMode": "host", "restart": "unless-stopped",
        "mustRun": True, "wait": True, "waitTimeout": 300, "destroyGraceSeconds": 30,
        "envs": ["A=1", "B=2"],
        "labels": [{"label": "kolla-ha.service", "value": "keystone"}, {"label": "kolla-ha.host", "value": "ctl1"}],
        "healthcheck": {"tests": ["CMD-SHELL", "true"], "interval": "10s"},
        "uploads": [{"file": "/etc/x", "content": secret("s3cret")}],
    }
    base.update(changes)
    return check(CONTAINER, "ctl1-keystone", base, None)


def diff(old, new, typ=CONTAINER, outputs=None, ignore=()):
    return provider_diff(typ, old, outputs if outputs is not None else old, new, list(ignore))


def test_container_forcenew_argument_replaces() -> None:
    """§1 docker_container: env is ForceNew."""
    result = diff(container(), container(envs=["A=1", "B=3"]))
    assert result.changes and result.replace()
    assert result.replace_keys == ["envs"] and result.changed_keys == ["envs"]
    assert {d.kind for d in result.detailed_diff.values()} == {"update-replace"}


@pytest.mark.parametrize("key,value", [
    ("restart", "always"), ("waitTimeout", 600), ("destroyGraceSeconds", 5), ("mustRun", False),
    ("wait", False), ("healthcheck", {"tests": ["CMD-SHELL", "false"], "interval": "10s"}),
])
def test_container_arguments_the_provider_updates_in_place(key, value) -> None:
    """§1 table: restart, wait/wait_timeout, must_run, healthcheck, destroy_grace_seconds are NOT ForceNew."""
    result = diff(container(), container(**{key: value}))
    assert result.changes and not result.replace()
    assert result.changed_keys == [key]
    assert all(d.kind in ("update", "add", "delete") for d in result.detailed_diff.values())


def test_set_arguments_compare_without_order() -> None:
    """§1: env, labels, upload, volumes... are TypeSet: order is no change."""
    old = container()
    new = container(envs=["B=2", "A=1"], labels=list(reversed(old["labels"])))
    assert not diff(old, new).changes


def test_optional_computed_argument_left_unset_is_no_change() -> None:
    """kreuzwerker schema: labels/env/healthcheck are Optional+Computed; unset keeps the state's value."""
    old = container()
    new = {k: v for k, v in old.items() if k not in ("labels", "healthcheck")}
    assert not diff(old, new).changes


def test_diff_is_against_the_prior_state_not_the_old_inputs() -> None:
    """§1 Read after create writes must_run=false for a stopped container; the next diff updates it."""
    old = container()
    outputs = {**old, "mustRun": False, "exitCode": 1}
    result = diff(old, old, outputs=outputs)
    assert result.changed_keys == ["mustRun"] and not result.replace()


def test_unknown_forcenew_input_replaces_and_unknown_in_place_input_updates() -> None:
    """§3b: RequiresNew = Old!=New || NewComputed; an unknown non-ForceNew value is only an update."""
    old = container()
    assert diff(old, {**old, "labels": UNKNOWN}).replace()
    assert diff(old, {**old, "image": UNKNOWN}).replace_keys == ["image"]
    in_place = diff(old, {**old, "waitTimeout": UNKNOWN})
    assert in_place.changes and not in_place.replace()


def test_replace_on_changes_turns_an_in_place_change_into_a_replacement() -> None:
    """§3f applyReplaceOnChanges: the program's replace_on_changes=["healthcheck"]."""
    old = container()
    result = diff(old, container(healthcheck={"tests": ["CMD-SHELL", "false"], "interval": "10s"}))
    assert not result.replace()
    forced = apply_replace_on_changes(result, ["healthcheck"], has_init_errors=False)
    assert forced.replace() and forced.replace_keys == ["healthcheck"]
    assert all(d.kind.endswith("-replace") for d in forced.detailed_diff.values())


def test_init_errors_replace_only_when_replace_on_changes_says_so() -> None:
    """§3f: #initerror is a replace key only under a matching replaceOnChanges path ("*")."""
    old = container()
    same = diff(old, old)
    assert not apply_replace_on_changes(same, ["healthcheck"], has_init_errors=True).replace()
    assert apply_replace_on_changes(same, ["*"], has_init_errors=True).replace()


def test_ignore_changes_keeps_the_old_value() -> None:
    """§3d processIgnoreChanges: old inputs copied over the new at each path."""
    old = container()
    new = process_ignore_changes(container(envs=["A=9"]), old, ["envs"])
    assert new["envs"] == old["envs"] and not diff(old, new).changes
    nested = process_ignore_changes(container(healthcheck={"tests": ["X"], "interval": "1s"}), old,
                                    ["healthcheck.interval"])
    assert nested["healthcheck"] == {"tests": ["X"], "interval": "10s"}


def test_container_replacement_is_always_delete_before_replace() -> None:
    """§1 resources.go: docker_container DeleteBeforeReplace: true."""
    assert diff(container(), container(envs=["C=1"])).delete_before_replace


def test_volume_with_explicit_name_is_delete_before_replace_autonamed_is_not() -> None:
    """§1: an explicit name on an autonamed type forces DBR (nameRequiresDeleteBeforeReplace)."""
    named = check(schemas.VOLUME, "ctl1-volume-x", {"name": "x"}, None)
    auto = check(schemas.VOLUME, "ctl1-volume-x", {}, None)
    assert provider_wants_delete_before_replace(schemas.VOLUME, named)
    assert not provider_wants_delete_before_replace(schemas.VOLUME, auto)
    assert diff(named, {**named, "driver": "other"}, typ=schemas.VOLUME).delete_before_replace


def test_remote_image_replacement_is_create_before_delete() -> None:
    """§1: RemoteImage is not autonamed; its replacement is create-before-delete."""
    old = check(schemas.IMAGE, "img", {"name": "reg/app:1", "keepLocally": True}, None)
    result = diff(old, check(schemas.IMAGE, "img", {"name": "reg/app:2", "keepLocally": True}, None),
                  typ=schemas.IMAGE)
    assert result.replace() and not result.delete_before_replace
    in_place = diff(old, {**old, "keepLocally": False}, typ=schemas.IMAGE)
    assert in_place.changes and not in_place.replace()


def test_check_fills_defaults_and_autonames() -> None:
    """§1 Check: schema defaults (restart "no", must_run true, wait_timeout 60...) and the autoname."""
    inputs = check(CONTAINER, "web", {"image": "i"}, None)
    assert inputs["restart"] == "no" and inputs["mustRun"] is True and inputs["waitTimeout"] == 60
    assert inputs["name"].startswith("web-") and len(inputs["name"]) == len("web-") + 7
    assert "name" in inputs["__defaults"]
    again = check(CONTAINER, "web", {"image": "j"}, inputs)
    assert again["name"] == inputs["name"]  # an update keeps the autoname
    fresh = check(CONTAINER, "web", {"image": "j"}, None)
    assert fresh["name"] != inputs["name"]  # a replacement re-runs Check without olds


def command(**changes):
    base = {"connection": secret({"host": "10.0.0.11", "privateKey": "k"}), "create": "act ready",
            "delete": "act drain", "triggers": ["id-1"], "logging": "none"}
    base.update(changes)
    return check(schemas.REMOTE_COMMAND, "m", base, None)


def test_command_only_a_whole_triggers_change_is_a_provider_replace() -> None:
    """§2 Diff: schema replaceOnChanges is `triggers`, checked on the whole key."""
    old = command()
    element = diff(old, command(triggers=["id-2"]), typ=schemas.REMOTE_COMMAND)
    assert element.changes and not element.replace()
    whole = diff(old, command(triggers=UNKNOWN), typ=schemas.REMOTE_COMMAND)
    assert whole.replace() and whole.replace_keys == ["triggers"]
    added = diff({k: v for k, v in old.items() if k != "triggers"}, old, typ=schemas.REMOTE_COMMAND)
    assert added.replace()


def test_sdk_injected_triggers_star_makes_any_trigger_change_a_replacement() -> None:
    """§2: the SDK injects replace_on_changes=["triggers[*]"]."""
    result = apply_replace_on_changes(diff(command(), command(triggers=["id-2"]), typ=schemas.REMOTE_COMMAND),
                                      ["triggers[*]"], has_init_errors=False)
    assert result.replace()


@pytest.mark.parametrize("key,value", [("create", "act other"), ("delete", "act gone"), ("stdin", "pw\n"),
                                       ("create", UNKNOWN)])
def test_command_other_changes_are_updates_never_delete_before_replace(key, value) -> None:
    """§2: any other input change is an Update; an unknown create/environment is only an update (§3b)."""
    result = diff(command(), command(**{key: value}), typ=schemas.REMOTE_COMMAND)
    result = apply_replace_on_changes(result, ["triggers[*]"], has_init_errors=False)
    assert result.changes and not result.replace() and not result.delete_before_replace
    assert all(d.input_diff for d in result.detailed_diff.values())


def test_connection_defaults_are_applied_inside_the_secret() -> None:
    """pulumi-command connection.go SetDefault: user root, port 22, dialErrorLimit 10, perDialTimeout 15."""
    inputs = command()
    assert inputs["connection"] == secret({"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15,
                                           "host": "10.0.0.11", "privateKey": "k"})


def test_random_password_any_change_replaces_create_before_delete() -> None:
    """pulumi-random: every argument RequiresReplace; not delete-before-replace."""
    old = check(schemas.RANDOM_PASSWORD, "pw", {"length": 32, "special": True}, None)
    result = diff(old, {**old, "length": 40}, typ=schemas.RANDOM_PASSWORD)
    assert result.replace() and not result.delete_before_replace


def test_changed_provider_configuration_is_refused() -> None:
    """step_generator.go providerChanged/DiffConfig: provider replacement is not modelled."""
    with pytest.raises(UnsupportedByExecutor, match="configuration of provider"):
        provider_diff(schemas.DOCKER_PROVIDER, {"host": "ssh://a"}, {}, {"host": "ssh://b"}, [])


def test_unknown_types_and_arguments_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedByExecutor, match="resource type docker:index/network:Network"):
        check_supported("docker:index/network:Network", {})
    with pytest.raises(UnsupportedByExecutor, match="argument\\(s\\) devices, privileged"):
        check_supported(CONTAINER, {"name": "x", "image": "y", "privileged": True, "devices": [{}]})
    with pytest.raises(UnsupportedByExecutor, match="connection field\\(s\\) password"):
        check_supported(schemas.REMOTE_COMMAND, {"connection": secret({"host": "h", "password": "p"})})
    check_supported(CONTAINER, {"name": "x", "image": "y", "privileged": None})
