"""components/api.py under mocks: replicas per control host, one-shot steps, rendered configs."""
from __future__ import annotations

import base64
import json
import configparser
import re
import urllib.parse

import pytest

from offline.program import RecordingMocks, is_secret_input, resolve, run_program
from tests.unit.inventory_fixtures import make_config
from tests.unit.program_checks import (
    address, assert_kolla_container, assert_rolling_chain, containers, group, upload, uploads,
)

# container -> (image, main config file, keystone service user, database, rabbitmq)
SERVICES = {
    "keystone": ("keystone", "keystone.conf", False, True, False),
    "glance_api": ("glance-api", "glance-api.conf", True, True, False),
    "placement_api": ("placement-api", "placement.conf", True, True, False),
    "nova_api": ("nova-api", "nova.conf", True, True, True),
    "neutron_server": ("neutron-server", "neutron.conf", True, True, True),
    "cinder_api": ("cinder-api", "cinder.conf", True, True, True),
    "horizon": ("horizon", "local_settings.py", False, False, False),
}
WITH_DB = [c for c, s in SERVICES.items() if s[3]]
REGISTERED = [c for c in SERVICES if c not in ("keystone", "horizon")]


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    return parser


def short(container: str) -> str:
    return container.split("_")[0]


@pytest.mark.parametrize("container", list(SERVICES))
def test_one_replica_per_control_host(run, container):
    found = containers(run, container)
    assert sorted(found) == sorted(group(run, "control"))
    for host, reg in found.items():
        assert_kolla_container(run, reg, host, SERVICES[container][0])
        assert address(run, host) in reg.inputs["healthcheck"]["tests"][1]


@pytest.mark.parametrize("container", list(SERVICES))
def test_replicas_roll_and_wait_for_their_steps_and_runtime(run, container):
    control = group(run, "control")
    first = control[0]
    # The chain runs through each replica's HAProxy membership (drained before a stop).
    assert_rolling_chain(run, container, control, via="lb-member")
    replicas = containers(run, container)
    deps = replicas[first].depends_on()
    s = short(container)
    steps = [f"{first}-{s}_db_create", f"{first}-{s}_bootstrap"] if container in WITH_DB else []
    if container in REGISTERED:
        steps.append(f"{first}-{s}_register")
    assert deps[: len(steps)] == steps
    for host in group(run, "memcached"):
        assert f"{host}-memcached" in deps
    last_rabbit = f"{group(run, 'messaging')[-1]}-rabbitmq"
    assert (last_rabbit in deps) == SERVICES[container][4]


@pytest.mark.parametrize("container", WITH_DB)
def test_one_shots_in_order_on_the_first_control_host(run, container):
    first = group(run, "control")[0]
    s = short(container)
    create = containers(run, f"{s}_db_create")
    bootstrap = containers(run, f"{s}_bootstrap")
    assert list(create) == [first] and list(bootstrap) == [first]
    assert_kolla_container(run, create[first], first, "mariadb-server", long_running=False)
    assert_kolla_container(run, bootstrap[first], first, SERVICES[container][0], long_running=False)
    assert bootstrap[first].depends_on() == [f"{first}-{s}_db_create"]
    # the database steps need the whole Galera cluster and the VIP
    deps = create[first].depends_on()
    db, lb = group(run, "database"), group(run, "loadbalancer")
    assert f"{db[-1]}-mariadb" in deps and "galera-bootstrap-finish" in deps
    assert {f"{h}-mariadb_clustercheck" for h in db} <= set(deps)
    assert {f"{h}-keepalived" for h in lb} <= set(deps)


@pytest.mark.parametrize("container", REGISTERED)
def test_register_after_the_schema_and_after_every_keystone_replica(run, container):
    first = group(run, "control")[0]
    s = short(container)
    register = containers(run, f"{s}_register")
    assert list(register) == [first]
    assert_kolla_container(run, register[first], first, "keystone", long_running=False)
    deps = register[first].depends_on()
    # every keystone replica is up and back in every HAProxy
    assert {f"{h}-keystone-lb-member" for h in group(run, "control")} <= set(deps)
    assert f"{first}-{s}_bootstrap" in deps


def test_keystone_registers_nothing_and_bootstraps_itself(run):
    assert not containers(run, "keystone_register")
    assert not containers(run, "horizon_db_create") and not containers(run, "horizon_register")


@pytest.mark.parametrize("container", [c for c in SERVICES if c != "horizon"])
def test_configs_use_the_vip_and_every_memcached_server(run, container):
    vip = run.namespace["inventory"].internal_vip
    servers = ",".join(f"{address(run, h)}:11211" for h in group(run, "memcached"))
    host_addresses = {address(run, h) for h in run.namespace["inventory"].groups["control"]} | {
        h.address for h in run.namespace["inventory"].hosts}
    _, conf_name, authtoken, has_db, _ = SERVICES[container]
    for host, reg in containers(run, container).items():
        conf = ini(upload(reg, conf_name))
        if container == "keystone":
            assert conf["cache"]["memcache_servers"] == servers
        if authtoken:
            assert conf["keystone_authtoken"]["memcached_servers"] == servers
            assert urllib.parse.urlsplit(conf["keystone_authtoken"]["auth_url"]).hostname == vip
        connections = [conf[s]["connection"] for s in conf.sections() if "connection" in conf[s]]
        assert bool(connections) == has_db
        for url in connections:
            parsed = urllib.parse.urlsplit(url)
            assert parsed.scheme == "mysql+pymysql" and parsed.hostname == vip and parsed.port == 3306
            assert parsed.hostname not in host_addresses


def test_horizon_sessions_use_every_memcached_server(run):
    expected = [f"{address(run, h)}:11211" for h in group(run, "memcached")]
    for reg in containers(run, "horizon").values():
        location = re.search(r'"LOCATION":\s*\[([^\]]*)\]', upload(reg, "local_settings.py")).group(1)
        assert [s.strip().strip('"') for s in location.split(",")] == expected


@pytest.mark.parametrize("container", ["nova_api", "neutron_server", "cinder_api"])
def test_transport_url_in_configs_lists_every_rabbitmq_node(run, container):
    nodes = [f"{address(run, h)}:5672" for h in group(run, "messaging")]
    for reg in containers(run, container).values():
        url = ini(upload(reg, SERVICES[container][1]))["DEFAULT"]["transport_url"]
        assert re.findall(r"@([\d.]+:\d+)", url) == nodes


def test_every_keystone_replica_gets_identical_fernet_and_credential_keys(run):
    replicas = containers(run, "keystone")
    keys = {name: set() for name in ("fernet-0", "fernet-1", "credential-0", "credential-1")}
    for reg in replicas.values():
        assert is_secret_input(reg.inputs["uploads"])
        for name in keys:
            keys[name].add(upload(reg, name))
    values = []
    for name, seen in keys.items():
        assert len(seen) == 1, f"{name} differs between keystone replicas"
        value = seen.pop()
        assert len(base64.urlsafe_b64decode(value)) == 32
        values.append(value)
    assert len(set(values)) == 4, "fernet and credential keys must all differ"
    cfg = [f["dest"] for f in json.loads(upload(next(iter(replicas.values())), "config.json"))["config_files"]]
    assert "/etc/keystone/fernet-keys/0" in cfg and "/etc/keystone/credential-keys/1" in cfg


def test_endpoints_use_the_vip(run):
    vip = run.namespace["inventory"].internal_vip
    endpoints = resolve(run.exports["endpoints"])
    assert set(endpoints) == {"keystone", "glance-api", "placement-api", "nova-api", "neutron-server",
                              "cinder-api", "horizon"}
    for service, urls in endpoints.items():
        assert set(urls) == {"internal", "admin", "public"}
        for url in urls.values():
            assert urllib.parse.urlsplit(url).hostname == vip, f"{service}: {url}"


def test_register_script_points_the_catalogue_at_the_vip(run):
    vip = run.namespace["inventory"].internal_vip
    first = group(run, "control")[0]
    script = upload(run.named(f"{first}-glance_register"), "register.sh")
    assert f"http://{vip}:9292" in script
    for h in run.namespace["inventory"].hosts:
        assert f"http://{h.address}:" not in script
    assert uploads(run.named(f"{first}-glance_register"))
    # the script bash will run parses, and every keystone call in it is retried
    import subprocess
    assert subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True).returncode == 0
    calls = [line.strip() for line in script.splitlines() if line.strip().startswith("retry ")]
    assert len(calls) == 8, calls  # project, user, password, role, service, 3 endpoints


class FailingStepMocks(RecordingMocks):
    """A daemon on which one one-shot step exits 1."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def new_resource(self, args):  # type: ignore[no-untyped-def]
        rid, state = super().new_resource(args)
        if args.name == self.failing:
            state = {**state, "exitCode": 1}
        return rid, state


def test_a_failed_one_shot_step_stops_everything_that_needs_it() -> None:
    raw, secret_keys = make_config(3, enabled_services=["keystone", "glance-api"])
    mocks = FailingStepMocks("ctl1-keystone_bootstrap")
    with pytest.raises(Exception, match="keystone_bootstrap on ctl1 exited with 1"):
        run_program(raw, secret_keys, mocks=mocks)
    names = {r.name for r in mocks.registrations}
    assert "ctl1-keystone_bootstrap" in names
    # no keystone replica, and nothing of glance that needs keystone's catalogue
    assert not {"ctl1-keystone", "ctl2-keystone", "ctl3-keystone", "ctl1-glance_register"} & names
    # the infrastructure that does not depend on keystone was still deployed
    assert {"ctl1-mariadb", "ctl3-rabbitmq", "ctl2-memcached"} <= names


@pytest.mark.parametrize("container", list(SERVICES))
def test_each_replica_has_an_haproxy_membership_drained_before_it_stops(run, container):
    from components.lb_membership import drain_script, ready_script
    from offline.program import unwrap

    balancers = [address(run, h) for h in group(run, "loadbalancer")]
    for host, replica in containers(run, container).items():
        member = run.named(f"{host}-{container}-lb-member")
        assert member.type == "command:remote:Command"
        # Runs on the replica's own host and names it as the server of its backend.
        assert unwrap(member.inputs["connection"])["host"] == address(run, host)
        assert member.inputs["create"] == ready_script(balancers, container, host)
        assert member.inputs["delete"] == drain_script(balancers, container, host)
        # Replaced with the container (its id is the trigger), and after it.
        assert unwrap(member.inputs["triggers"]) == [f"{replica.name}-id"]
        assert f"{host}-{container}" in member.depends_on()
        # The stats password goes on stdin, as a secret; nothing else carries it.
        assert is_secret_input(member.inputs["stdin"])
        assert "environment" not in member.inputs
        assert member.inputs["logging"] == "none"
