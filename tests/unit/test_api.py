"""components/api.py and service_steps.py under mocks: replicas per control host, one-shot
steps, rendered configs, key repositories."""
from __future__ import annotations

import base64
import configparser
import json
import re
import subprocess
import sys
import urllib.parse

import pytest
import yaml  # type: ignore[import-untyped]

from components.catalog import CATALOG
from components.lb_membership import drain_script, ready_script
from offline.program import ROOT, is_secret_input, resolve, unwrap
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import accept_day2_keys, layout_run, quick_run
from tests.unit.program_checks import (
    COMMAND, address, assert_kolla_container, assert_one_shot, assert_rolling_chain, changed_containers, containers,
    group,
    input_sources, one_shots, step_file, step_files, upload, uploads, waits_for,
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


def ready_of(run, service: str) -> str:
    """The name of a service's single ready resource."""
    return run.namespace["plane"].services[service].ready._name  # pylint: disable=protected-access


@pytest.mark.parametrize("container", list(SERVICES))
def test_one_replica_per_control_host(run, container):
    found = containers(run, container)
    assert sorted(found) == sorted(group(run, "control"))
    for host, reg in found.items():
        assert_kolla_container(run, reg, host, SERVICES[container][0])
        assert address(run, host) in reg.inputs["healthcheck"]["tests"][1]


@pytest.mark.parametrize("container", list(SERVICES))
def test_replicas_roll_after_their_schema_and_the_runtime_tiers(run, container):
    control = group(run, "control")
    first = control[0]
    # The chain runs through each replica's HAProxy membership (drained before a stop).
    assert_rolling_chain(run, container, control, via="lb-member")
    replicas = containers(run, container)
    s = short(container)
    memcached = f"{group(run, 'memcached')[-1]}-memcached"
    rabbitmq = [f"{group(run, 'messaging')[-1]}-rabbitmq"] if SERVICES[container][4] else []
    if container in WITH_DB:
        schema = [f"{first}-{s}_bootstrap"]
    else:
        # No schema: the replicas wait for the database and the VIP like the steps would.
        schema = ["galera-root-password", f"{group(run, 'loadbalancer')[-1]}-keepalived"]
    # One edge per tier: its ready resource, not every member. (Named volumes are
    # depends_on too: the volume must exist before the container uses it.)
    def ordering(reg):
        return [d for d in reg.depends_on() if "-volume-" not in d]

    assert ordering(replicas[first]) == [*schema, memcached, *rabbitmq]
    for prev, host in zip(control, control[1:]):
        assert ordering(replicas[host]) == [f"{prev}-{container}-lb-member"]


@pytest.mark.parametrize("container", WITH_DB)
def test_database_steps_in_order_on_the_first_control_host(run, container):
    first = group(run, "control")[0]
    s = short(container)
    create, bootstrap = one_shots(run, f"{s}_db_create"), one_shots(run, f"{s}_bootstrap")
    assert list(create) == [first] and list(bootstrap) == [first]
    assert_one_shot(run, create[first], first, "mariadb-server")
    assert_one_shot(run, bootstrap[first], first, SERVICES[container][0])
    assert bootstrap[first].depends_on() == [f"{first}-{s}_db_create"]
    # the database steps need the whole Galera tier (root's password set) and the VIP
    lb = group(run, "loadbalancer")
    assert create[first].depends_on() == ["galera-root-password", f"{lb[-1]}-keepalived"]
    # The schema step runs with exactly the config the replicas get.
    config = json.loads(step_file(bootstrap[first], "config.json"))
    replica = containers(run, container)[first]
    assert [f["dest"] for f in config["config_files"] if "bootstrap" not in f["dest"]] == [
        f["dest"] for f in json.loads(upload(replica, "config.json"))["config_files"]]
    main = SERVICES[container][1]
    assert step_file(bootstrap[first], main) == upload(replica, main)


@pytest.mark.parametrize("container", REGISTERED)
def test_register_after_every_replica_of_its_service_and_the_keystone_tier(run, container):
    first = group(run, "control")[0]
    control = group(run, "control")
    s = short(container)
    register = one_shots(run, f"{s}_register")
    assert list(register) == [first]
    assert_one_shot(run, register[first], first, "keystone")
    assert register[first].depends_on() == [f"{control[-1]}-{container}-lb-member", ready_of(run, "keystone")]
    # keystone's ready resource comes after every keystone replica is back in every HAProxy
    assert ready_of(run, "keystone") == f"{first}-keystone_credential_migrate"
    assert run.named(ready_of(run, "keystone")).depends_on() == [f"{control[-1]}-keystone-lb-member"]
    # the service's own tier is ready once it is registered
    assert ready_of(run, CATALOG_NAME[container]) == register[first].name


CATALOG_NAME = {spec.container: name for name, spec in CATALOG.items()}


def test_keystone_registers_nothing_and_bootstraps_itself(run):
    assert not one_shots(run, "keystone_register")
    assert not one_shots(run, "horizon_db_create") and not one_shots(run, "horizon_register")
    first = group(run, "control")[0]
    script = step_file(one_shots(run, "keystone_bootstrap")[first], "kolla_ha_bootstrap.sh")
    # keystone-manage runs inside a python fed on stdin: the admin password is set in that
    # process only, on no command line and in no environment a process starts with.
    heredoc = script.split("python3 - <<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(heredoc, "bootstrap", "exec")
    assert '"keystone-manage", "--config-file", "/etc/keystone/keystone.conf", "bootstrap"' in heredoc
    password = resolve(run.namespace["plane"].passwords.password("keystone_admin_password"))
    assert f"os.environ[\"OS_BOOTSTRAP_PASSWORD\"] = {json.dumps(password)}" in heredoc
    assert password not in script.replace(heredoc, "")
    glance = step_file(one_shots(run, "glance_bootstrap")[first], "kolla_ha_bootstrap.sh")
    assert "glance-manage --config-file /etc/glance/glance-api.conf db_sync" in glance
    assert "bootstrap" not in glance


@pytest.mark.parametrize("container", [c for c in SERVICES if c != "horizon"])
def test_configs_use_the_vip_and_every_memcached_server(run, container):
    vip = run.namespace["inventory"].internal_vip
    servers = ",".join(f"{address(run, h)}:11211" for h in group(run, "memcached"))
    host_addresses = {h.address for h in run.namespace["inventory"].hosts}
    _, conf_name, authtoken, has_db, _ = SERVICES[container]
    for reg in containers(run, container).values():
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
            assert parsed.username == short(container)


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


def key_files(reg, repo: str, files: dict[str, str] | None = None) -> dict[int, str]:
    """A key repository as a replica (or a step) receives it: file number -> key."""
    found = files if files is not None else uploads(reg)
    prefix = f"/var/lib/kolla/config_files/{repo}-"
    return {int(path[len(prefix):]): value for path, value in found.items() if path.startswith(prefix)}


def test_every_keystone_replica_gets_identical_fernet_and_credential_keys(run):
    replicas = containers(run, "keystone")
    for repo in ("fernet", "credential"):
        layouts = [key_files(reg, repo) for reg in replicas.values()]
        assert all(layout == layouts[0] for layout in layouts), f"{repo} keys differ between replicas"
        # rotation 0: the staged key 0 and the primary key 1
        assert sorted(layouts[0]) == [0, 1]
        assert all(len(base64.urlsafe_b64decode(k)) == 32 for k in layouts[0].values())
    for reg in replicas.values():
        assert is_secret_input(reg.inputs["uploads"])
    first = next(iter(replicas.values()))
    values = list(key_files(first, "fernet").values()) + list(key_files(first, "credential").values())
    assert len(set(values)) == 4, "fernet and credential keys must all differ"
    config = json.loads(upload(first, "config.json"))
    dests = {f["dest"]: f for f in config["config_files"]}
    assert dests["/etc/keystone/fernet-keys/1"]["owner"] == "keystone" and dests["/etc/keystone/fernet-keys/1"]["perm"] == "0600"
    assert {"path": "/etc/keystone/fernet-keys", "owner": "keystone:keystone", "perm": "0700"} in config["permissions"]
    conf = ini(upload(first, "keystone.conf"))
    assert conf["fernet_tokens"]["key_repository"] == "/etc/keystone/fernet-keys/"
    assert conf["fernet_tokens"]["max_active_keys"] == "3"
    # The bootstrap step and the credential migration hold the same repositories.
    host = group(run, "control")[0]
    for step in ("keystone_bootstrap", "keystone_credential_migrate"):
        files = step_files(one_shots(run, step)[host])
        assert key_files(None, "fernet", files) == key_files(first, "fernet")
        assert key_files(None, "credential", files) == key_files(first, "credential")


def keystone_run(monkeypatch, fernet: int, credential: int = 0):
    accept_day2_keys(monkeypatch)
    raw, keys = make_config(3, enabled_services=["keystone"])
    raw["keystone"] = {"fernet_rotation": fernet, "credential_rotation": credential}
    return quick_run(raw, keys)


def test_a_rotation_makes_the_staged_key_primary_and_every_replica_held_it_before(monkeypatch):
    before, after = keystone_run(monkeypatch, 0), keystone_run(monkeypatch, 1)
    old = key_files(containers(before, "keystone")["ctl1"], "fernet")
    new = key_files(containers(after, "keystone")["ctl1"], "fernet")
    # rotation 1: staged 0 (a new key), primary 2 (the staged key of rotation 0), secondary 1
    assert sorted(new) == [0, 1, 2]
    assert new[2] == old[0] and new[1] == old[1]
    assert new[0] not in old.values()
    # Every replica already held the new primary one rotation earlier (as its staged key),
    # and still holds the old primary: replicas on either side of the roll accept each
    # other's tokens.
    for reg in containers(before, "keystone").values():
        assert new[max(new)] in key_files(reg, "fernet").values()
    for reg in containers(after, "keystone").values():
        assert old[max(old)] in key_files(reg, "fernet").values()
        assert key_files(reg, "fernet") == new
    # Credential keys have their own counter.
    assert key_files(containers(after, "keystone")["ctl1"], "credential") == key_files(
        containers(before, "keystone")["ctl1"], "credential")


def test_three_rotations_keep_three_keys_and_drop_the_oldest(monkeypatch):
    runs = [keystone_run(monkeypatch, r) for r in range(4)]
    layouts = [key_files(containers(r, "keystone")["ctl1"], "fernet") for r in runs]
    assert [sorted(layout) for layout in layouts] == [[0, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4]]
    for previous, current in zip(layouts, layouts[1:]):
        assert current[max(current)] == previous[0]                  # staged becomes primary
        assert current[max(current) - 1] == previous[max(previous)]  # primary becomes secondary
    # Keys no longer in any repository are no longer declared (Pulumi deletes them).
    generated = {r.name: r for r in runs[3].registrations if r.type.startswith("random:")}
    assert {g for g in generated if "fernet" in g} == {"keystone_fernet_key_3", "keystone_fernet_key_4",
                                                      "keystone_fernet_key_2"}
    # Keys made after the first two are RandomPasswords (a RandomBytes' id is its value,
    # in plain text in the state): 43 url-safe base64 characters and the padding.
    for name in ("keystone_fernet_key_2", "keystone_fernet_key_3", "keystone_fernet_key_4"):
        assert generated[name].type == "random:index/randomPassword:RandomPassword"
        assert generated[name].inputs["length"] == 43 and generated[name].inputs["overrideSpecial"] == "-_"
    assert {r.type for r in runs[0].registrations if "fernet" in r.name} == {"random:index/randomBytes:RandomBytes"}
    for key in layouts[3].values():
        assert len(key) == 44 and len(base64.urlsafe_b64decode(key)) == 32


def test_a_credential_rotation_re_encrypts_after_the_last_replica(monkeypatch):
    before, after = keystone_run(monkeypatch, 0, 0), keystone_run(monkeypatch, 0, 1)
    migrate_before = one_shots(before, "keystone_credential_migrate")["ctl1"]
    migrate = one_shots(after, "keystone_credential_migrate")["ctl1"]
    assert "credential_migrate" in json.loads(step_file(migrate, "config.json"))["command"]
    assert migrate.depends_on() == ["ctl3-keystone-lb-member"]
    # New keys: the step's input changes, so it runs again (an update, not a replacement).
    assert unwrap(migrate.inputs["stdin"]) != unwrap(migrate_before.inputs["stdin"])
    assert migrate.inputs["create"] == migrate_before.inputs["create"]


def test_register_script_points_the_catalogue_at_the_vip(run):
    vip = run.namespace["inventory"].internal_vip
    first = group(run, "control")[0]
    script = step_file(run.named(f"{first}-glance_register"), "register.sh")
    assert f"http://{vip}:9292" in script
    for h in run.namespace["inventory"].hosts:
        assert f"http://{h.address}:" not in script
    # the script bash will run parses, and every keystone call in it is retried
    assert subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True).returncode == 0
    calls = [line.strip() for line in script.splitlines() if line.strip().startswith("retry ")]
    assert len(calls) == 8, calls  # project, user, password, role, service, 3 endpoints
    # the client finds the admin in the step's clouds.yaml, which points at the VIP too
    clouds = yaml.safe_load(step_file(run.named(f"{first}-glance_register"), "clouds.yaml"))
    assert "export OS_CLOUD=kolla-ha-admin" in script and "OS_PASSWORD" not in script
    assert clouds["clouds"]["kolla-ha-admin"]["auth"]["auth_url"] == f"http://{vip}:5000/v3"


FAILING_RUN = """
import json, sys
from offline.program import RecordingMocks, Registration, run_program
from tests.unit.inventory_fixtures import make_config

class FailingStepMocks(RecordingMocks):
    # The host on which one one-shot step exits 1: its command fails, as
    # pulumi-command's create does for a non-zero exit.
    def new_resource(self, args):
        if args.name == sys.argv[1]:
            self.registrations.append(Registration(args.typ, args.name, {}, args.provider))
            raise RuntimeError(f"one-shot step {args.name} exited with 1")
        return super().new_resource(args)

raw, keys = make_config(3, enabled_services=["keystone", "glance-api"])
mocks = FailingStepMocks()
error = ""
try:
    run_program(raw, keys, mocks=mocks)
except Exception as exc:
    error = str(exc)
print(json.dumps({"error": error, "names": [r.name for r in mocks.registrations]}))
"""


def test_a_failed_one_shot_step_stops_everything_that_needs_it() -> None:
    # In its own process: the failed run's outputs never resolve, and asyncio reports
    # each of them when it is collected.
    done = subprocess.run([sys.executable, "-c", FAILING_RUN, "ctl1-keystone_bootstrap"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "keystone_bootstrap exited with 1" in result["error"]
    names = set(result["names"])
    assert "ctl1-keystone_bootstrap" in names
    # no keystone replica, and no catalogue entry of glance
    assert not {"ctl1-keystone", "ctl2-keystone", "ctl3-keystone", "ctl1-glance_register"} & names
    # what does not need keystone was still deployed
    assert {"ctl1-mariadb", "ctl3-rabbitmq", "ctl2-memcached", "ctl1-glance_bootstrap"} <= names


def test_steps_are_commands_that_run_again_with_new_config_instead_of_being_replaced():
    """A change of the config a step reads (here: a fourth memcached server) changes its
    stdin, which pulumi-command applies as an update: the step runs again."""
    before = layout_run("3-hosts")
    raw, keys = make_config(4)
    for g in ("database", "messaging", "loadbalancer", "control"):
        raw["groups"][g] = ["ctl1", "ctl2", "ctl3"]
    after = quick_run(raw, keys)
    for step in ("keystone_bootstrap", "glance_bootstrap"):
        b, a = one_shots(before, step)["ctl1"], one_shots(after, step)["ctl1"]
        assert a.type == b.type == COMMAND
        assert unwrap(a.inputs["stdin"]) != unwrap(b.inputs["stdin"])
        assert a.inputs["create"] == b.inputs["create"]
    # steps whose config does not change stay as they are
    for step in ("glance_db_create", "glance_register"):
        assert unwrap(one_shots(after, step)["ctl1"].inputs) == unwrap(one_shots(before, step)["ctl1"].inputs)


def test_a_new_image_replaces_that_service_alone_after_its_schema_step_ran_again():
    before = layout_run("3-hosts")
    raw, keys = make_config(3, images={"overrides": {"glance-api": "registry.example.com/kolla-ha/glance-api:2"}})
    after = quick_run(raw, keys)
    # Under mocks the image id follows the image's name, as a pull of another tag does.
    assert changed_containers(before, after) == {f"ctl{i}-glance_api" for i in (1, 2, 3)}
    assert one_shots(after, "glance_bootstrap")["ctl1"].inputs["create"] != one_shots(before, "glance_bootstrap")["ctl1"].inputs["create"]
    assert unwrap(one_shots(after, "glance_db_create")["ctl1"].inputs) == unwrap(one_shots(before, "glance_db_create")["ctl1"].inputs)
    changed_commands = {r.name for r in after.of_type(COMMAND)
                        if unwrap(r.inputs) != unwrap(before.named(r.name).inputs)}
    assert changed_commands == {"ctl1-glance_bootstrap"}


@pytest.mark.parametrize("container", list(SERVICES))
def test_each_replica_has_an_haproxy_membership_drained_before_it_stops(run, container):
    balancers = [address(run, h) for h in group(run, "loadbalancer")]
    for host, replica in containers(run, container).items():
        member = run.named(f"{host}-{container}-lb-member")
        assert member.type == COMMAND
        # Runs on the replica's own host and names it as the server of its backend.
        assert unwrap(member.inputs["connection"])["host"] == address(run, host)
        assert member.inputs["create"] == ready_script(balancers, container, host)
        assert member.inputs["delete"] == drain_script(balancers, container, host)
        # Replaced with the container (its id is the trigger, an input that comes from
        # the container: the engine deletes the command, draining, before the container).
        assert unwrap(member.inputs["triggers"]) == [f"{replica.name}-id"]
        assert input_sources(member)["triggers"] == {replica.name}
        assert replica.name in waits_for(run, member.name)
        # The stats password goes on stdin, as a secret; nothing else carries it.
        assert is_secret_input(member.inputs["stdin"])
        assert "environment" not in member.inputs
        assert member.inputs["logging"] == "none"


def test_a_catalogue_secret_reaches_only_its_service():
    raw, keys = make_config(3, enabled_services=["keystone", "horizon", "swift-proxy-server"])
    result = quick_run(raw, keys)
    store = result.namespace["plane"].passwords
    horizon_key = resolve(store.password("horizon_secret_key"))
    suffix = resolve(store.password("swift_hash_path_suffix"))
    assert len(horizon_key) == 50 and suffix.isalnum()
    assert horizon_key in upload(containers(result, "horizon")["ctl1"], "local_settings.py")
    assert suffix in upload(containers(result, "swift_proxy_server")["ctl1"], "swift.conf")
    for reg in containers(result, "keystone").values():
        assert horizon_key not in json.dumps(unwrap(reg.inputs["uploads"]))
    assert CATALOG["horizon"].secrets and not CATALOG["glance-api"].secrets
