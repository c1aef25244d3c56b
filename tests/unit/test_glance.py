"""glance-api's stores under mocks: the single-tenant Swift store and its container step,
the file store on one host or on a shared file system, distributed import, metadefs."""
from __future__ import annotations

import configparser
import json

from offline.program import is_secret_input, resolve
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import quick_run
from tests.unit.program_checks import (
    COMMAND, address, assert_one_shot, containers, group, haproxy_cfg, one_shots, step_file, step_files, upload,
    uploads, waits_for,
)


def ini(text: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    return conf


def test_swift_store_is_single_tenant_in_the_programs_container(storage_run):
    password = resolve(storage_run.namespace["plane"].passwords.password("glance_keystone_password"))
    vip = storage_run.namespace["inventory"].internal_vip
    for host, reg in containers(storage_run, "glance_api").items():
        conf = ini(upload(reg, "glance-api.conf"))
        assert conf["DEFAULT"]["enabled_backends"] == "swift:swift"
        assert conf["glance_store"]["default_backend"] == "swift"
        swift = conf["swift"]
        assert swift["swift_store_multi_tenant"] == "false" and swift["swift_store_container"] == "glance"
        assert swift["swift_store_create_container_on_put"] == "false"
        assert swift["swift_store_config_file"] == "/etc/glance/glance-swift.conf"
        reference = ini(upload(reg, "glance-swift.conf"))["ref1"]
        assert (reference["user"], reference["key"], reference["auth_version"]) == ("service:glance", password, "3")
        assert reference["auth_address"] == f"http://{vip}:5000/v3"
        assert is_secret_input(reg.inputs["uploads"])
        entry = next(f for f in json.loads(upload(reg, "config.json"))["config_files"]
                     if f["dest"] == "/etc/glance/glance-swift.conf")
        assert (entry["owner"], entry["perm"]) == ("glance", "0640")


def test_every_replica_names_itself_for_distributed_import(storage_run):
    for host, reg in containers(storage_run, "glance_api").items():
        conf = ini(upload(reg, "glance-api.conf"))
        assert conf["DEFAULT"]["worker_self_reference_url"] == f"http://{address(storage_run, host)}:9292"
        assert conf["os_glance_staging_store"]["filesystem_store_datadir"] == "/var/lib/glance/staging/"
        assert conf["os_glance_tasks_store"]["filesystem_store_datadir"] == "/var/lib/glance/tasks_work_dir/"


def test_the_container_step_runs_after_glance_and_swift_are_in_the_catalogue(storage_run):
    first = group(storage_run, "control")[0]
    step = one_shots(storage_run, "glance_store_container")
    assert list(step) == [first]
    reg = step[first]
    assert_one_shot(storage_run, reg, first, "keystone")
    assert {f"{first}-glance_register", f"{first}-swift_register"} <= waits_for(storage_run, reg.name)
    script = step_file(reg, "store_container.sh")
    assert "openstack container create glance" in script and "export OS_CLOUD=store" in script
    clouds = step_files(reg)["/var/lib/kolla/config_files/store_clouds.yaml"]
    password = resolve(storage_run.namespace["plane"].passwords.password("glance_keystone_password"))
    assert f"password: {json.dumps(password)}" in clouds
    assert password not in script
    config = json.loads(step_file(reg, "config.json"))
    entry = next(f for f in config["config_files"] if f["dest"] == "/etc/openstack/clouds.yaml")
    assert (entry["owner"], entry["perm"]) == ("root", "0600")


def test_metadefs_are_loaded_after_the_schema(run):
    first = group(run, "control")[0]
    script = step_file(one_shots(run, "glance_bootstrap")[first], "kolla_ha_bootstrap.sh")
    lines = [line for line in script.splitlines() if line.startswith("glance-manage")]
    assert lines == ["glance-manage --config-file /etc/glance/glance-api.conf db_sync",
                     "glance-manage --config-file /etc/glance/glance-api.conf db_load_metadefs"]


def test_a_file_store_without_a_shared_file_system_runs_one_glance_api_as_kolla_does():
    raw, keys = make_config(3, glance={"backend": "file"})
    run = quick_run(raw, keys)
    assert any("glance-api runs on ctl1 only" in w for w in run.namespace["inventory"].warnings)
    assert list(containers(run, "glance_api")) == ["ctl1"]
    assert {r.name for r in run.of_type(COMMAND) if r.name.endswith("-glance_api-lb-member")} == {
        "ctl1-glance_api-lb-member"}
    cfg = haproxy_cfg(run, "ctl1")
    section = cfg[cfg.index("listen glance_api"):].split("\nlisten ")[0]
    assert "server ctl1 " in section and "server ctl2 " not in section
    assert not one_shots(run, "glance_store_container")
    # no Swift reference file for the file store
    assert "/var/lib/kolla/config_files/glance-swift.conf" not in uploads(containers(run, "glance_api")["ctl1"])


def test_a_shared_file_system_gives_every_control_host_a_replica_on_it(run):
    # make_config declares glance.file_path
    control = group(run, "control")
    replicas = containers(run, "glance_api")
    assert sorted(replicas) == sorted(control)
    for reg in replicas.values():
        volumes = {v["containerPath"]: v for v in reg.inputs["volumes"]}
        assert volumes["/var/lib/glance/images"]["hostPath"] == "/srv/glance-images"
        assert not volumes["/var/lib/glance/images"].get("readOnly")
        permissions = json.loads(upload(reg, "config.json"))["permissions"]
        # never a recursive chown through the shared file system
        assert {"path": "/var/lib/glance", "owner": "glance:glance", "recurse": False} in permissions
        assert {"path": "/var/lib/glance/images", "owner": "glance:glance"} in permissions
        assert ini(upload(reg, "glance-api.conf"))["file"]["filesystem_store_datadir"] == "/var/lib/glance/images/"
