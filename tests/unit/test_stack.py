"""components/stack.py and __main__.py under mocks: composition, exports, secrets, validation."""
from __future__ import annotations

import json
import urllib.parse

import pulumi
import pytest

from components.inventory import InventoryError
from offline.program import RecordingMocks, is_secret, is_secret_input, resolve, run_program, unwrap
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import quick_run
from tests.unit.program_checks import CONTAINER, containers, group, passwords, plain_text, uploads

OPERATOR_PASSWORD = "correct-horse-battery-staple"


def test_container_count_follows_the_groups(run):
    inv = run.namespace["inventory"]
    size = {g: len(inv.groups[g]) for g in ("control", "database", "messaging", "loadbalancer", "memcached")}
    expected = (
        2 * size["database"] + 1  # mariadb + clustercheck per node, one bootstrap
        + size["messaging"] + 2 * size["loadbalancer"] + size["memcached"]
        + 7 * size["control"]  # seven API services
        + 6 * 2 + 5  # db_create + bootstrap for six services, register for five
    )
    assert len(run.containers()) == expected


def test_every_container_replaces_delete_first_and_on_healthcheck_changes(run):
    for reg in run.containers():
        assert reg.options is not None, reg.name
        assert reg.options.delete_before_replace is True, reg.name
        assert "healthcheck" in (reg.options.replace_on_changes or []), reg.name


def test_on_options_sees_every_resource_once_and_only_in_its_own_run():
    seen: list[tuple[str, str, pulumi.ResourceOptions]] = []
    result = run_program(*make_config(3), on_options=lambda t, n, o: seen.append((t, n, o)))
    assert sorted((t, n) for t, n, _ in seen) == sorted((r.type, r.name) for r in result.registrations)
    assert all(isinstance(o, pulumi.ResourceOptions) for _, _, o in seen)
    mariadb = next(o for t, n, o in seen if n == "ctl2-mariadb")
    assert mariadb.delete_before_replace is True
    assert [d._name for d in mariadb.depends_on] == ["ctl1-mariadb"]  # pylint: disable=protected-access
    count = len(seen)
    quick_run(*make_config(3))
    assert len(seen) == count, "a recorder leaked into the next run"


def test_exports(run):
    inv = run.namespace["inventory"]
    assert set(run.exports) == {"internal_vip", "external_vip", "endpoints", "memcached_servers",
                                "rabbitmq_nodes", "database", "transport_urls"}
    assert resolve(run.exports["internal_vip"]) == inv.internal_vip
    assert resolve(run.exports["rabbitmq_nodes"]) == [h.address for h in inv.group("messaging")]
    database = run.exports["database"]
    assert is_secret(database)
    value = resolve(database)
    assert value["host"] == inv.internal_vip and value["port"] == 3306 and value["password"] in passwords(run)
    urls = run.exports["transport_urls"]
    assert set(urls) == {"nova", "neutron", "cinder"}
    for user, url in urls.items():
        assert is_secret(url), user
        hosts = [urllib.parse.urlsplit(f"rabbit://{n}").hostname for n in resolve(url)[9:-2].split(",")]
        assert hosts == [h.address for h in inv.group("messaging")]


def test_no_password_in_plain_inputs_or_plain_exports(run):
    secrets = passwords(run)
    assert OPERATOR_PASSWORD in secrets and len(secrets) > 10
    for reg in run.registrations:
        text = plain_text(reg.inputs)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{reg.name}: a password in a plain input"
    for name, value in run.exports.items():
        if name in ("database", "transport_urls"):
            continue
        assert not is_secret(value), name
        text = json.dumps(resolve(value))
        assert not [s for s in secrets if s in text], f"export {name} holds a password"


def test_labels_envs_and_commands_never_hold_a_password(run):
    secrets = passwords(run)
    for reg in run.containers():
        inputs = unwrap(reg.inputs)
        text = json.dumps([inputs.get("labels"), inputs.get("envs"), inputs.get("command"),
                           inputs.get("entrypoints"), inputs.get("healthcheck"),
                           json.loads(uploads(reg)["/var/lib/kolla/config_files/config.json"])["command"]])
        assert not [s for s in secrets if s in text], reg.name


def test_uploads_holding_a_password_are_secret(run):
    secrets = passwords(run)
    holding = []
    for reg in run.containers():
        content = json.dumps(unwrap(reg.inputs["uploads"]))
        if any(s in content for s in secrets):
            holding.append(reg.name)
            assert is_secret_input(reg.inputs["uploads"]), f"{reg.name}: password in a plain upload"
    expected_services = {"mariadb", "mariadb_clustercheck", "mariadb_bootstrap", "rabbitmq",
                         "keepalived", "keystone", "glance_api", "nova_api", "horizon"}
    # haproxy.cfg (stats password) reaches the hosts as the stdin of a command instead
    for reg in run.of_type("command:remote:Command"):
        if reg.name.endswith("-haproxy-config"):
            assert is_secret_input(reg.inputs["stdin"]), reg.name
    assert {n.split("-", 1)[1] for n in holding} >= expected_services
    # memcached has no password, and its uploads are plain: the check tells them apart
    for reg in containers(run, "memcached").values():
        assert reg.name not in holding and not is_secret_input(reg.inputs["uploads"])


@pytest.mark.parametrize(
    "breakage",
    [
        lambda raw: raw["groups"].update(database=["ctl1", "ctl2"]),
        lambda raw: raw.pop("keystone_admin_password"),
        lambda raw: raw.update(memcached={"memory": 10}),
        lambda raw: raw.update(internal_vip="10.0.0.11"),
        lambda raw: raw["groups"].update(control=["ctl9"]),
    ],
    ids=["even-database", "no-admin-password", "unknown-tier-key", "vip-is-a-host", "unknown-host"],
)
def test_invalid_config_raises_before_any_resource(breakage):
    raw, _ = make_config(3)
    breakage(raw)
    keys = frozenset(k for k in raw if k.endswith("_password"))
    mocks = RecordingMocks()
    with pytest.raises(InventoryError) as excinfo:
        run_program(raw, keys, mocks=mocks)
    assert excinfo.value.problems
    assert mocks.registrations == [], [r.name for r in mocks.registrations]


def test_secret_operator_password_reaches_the_program_only_as_a_secret():
    raw, keys = make_config(3)
    assert "keystone_admin_password" in keys
    result = quick_run(raw, keys)
    given = result.namespace["plane"].passwords.password("keystone_admin_password")
    assert is_secret(given) and resolve(given) == OPERATOR_PASSWORD
    register = result.named(f"{group(result, 'control')[0]}-glance_register")
    assert is_secret_input(register.inputs["uploads"])
    assert OPERATOR_PASSWORD in json.dumps(unwrap(register.inputs["uploads"]))
    assert all(r.type != CONTAINER or OPERATOR_PASSWORD not in plain_text(r.inputs) for r in result.registrations)
