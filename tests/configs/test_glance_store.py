"""glance-api's Swift store as glance_store itself reads it: the rendered glance-api.conf
and glance-swift.conf of a replica (from the program under mocks) loaded by oslo.config
and glance_store's multi-store loader, in a fresh Python with Debian's
python3-glance-store (what the glance-api image runs)."""
from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

from components.secret_specs import SECRETS
from tests.unit.layouts import quick_run, storage_config
from tests.unit.program_checks import containers, upload

SYSTEM_PYTHON = "/usr/bin/python3"

LOAD = r"""
import json, sys
from oslo_config import cfg
from glance_store import multi_backend
conf = cfg.CONF
conf.register_opt(cfg.DictOpt("enabled_backends"))  # glance-api registers it itself
conf(args=["--config-file", sys.argv[1]], project="glance", default_config_files=[])
# glance-api's reserved stores: the staging area and the import tasks' folder
reserved = {"os_glance_staging_store": "file", "os_glance_tasks_store": "file"}
multi_backend.register_store_opts(conf, reserved_stores=reserved)
multi_backend.create_multi_stores(conf, reserved_stores=reserved)
store = multi_backend.get_store_from_store_identifier("swift")
print(json.dumps({
    "class": type(store).__name__, "container": store.container, "auth_address": store.auth_address,
    "user": store.user, "key": store.key, "auth_version": store.auth_version,
    "user_domain_id": store.user_domain_id, "project_domain_id": store.project_domain_id,
    "create_on_put": conf.swift.swift_store_create_container_on_put,
    "staging": multi_backend.get_store_from_store_identifier("os_glance_staging_store").datadir,
    "tasks": multi_backend.get_store_from_store_identifier("os_glance_tasks_store").datadir,
}))
"""


@pytest.fixture(scope="module")
def replica():
    run = quick_run(*storage_config(3))
    reg = containers(run, "glance_api")["ctl2"]
    password = run.namespace["plane"].passwords.password("glance_keystone_password")
    from offline.program import resolve

    return upload(reg, "glance-api.conf"), upload(reg, "glance-swift.conf"), resolve(password)


def load(tmp_path: pathlib.Path, api_conf: str, reference: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "glance-swift.conf").write_text(reference)
    (tmp_path / "glance-api.conf").write_text(
        api_conf.replace("/etc/glance/glance-swift.conf", str(tmp_path / "glance-swift.conf")))
    return subprocess.run([SYSTEM_PYTHON, "-c", LOAD, str(tmp_path / "glance-api.conf")], capture_output=True,
                          text=True, timeout=120)


def test_glance_store_makes_a_single_tenant_swift_store_of_the_rendered_files(replica, tmp_path):
    api_conf, reference, password = replica
    done = load(tmp_path, api_conf, reference)
    assert done.returncode == 0, done.stderr
    store = json.loads(done.stdout.strip().splitlines()[-1])
    assert store == {
        "class": "SingleTenantStore", "container": "glance", "auth_address": "http://10.0.0.250:5000/v3",
        "user": "service:glance", "key": password, "auth_version": "3", "user_domain_id": "default",
        "project_domain_id": "default", "create_on_put": False,
        "staging": "/var/lib/glance/staging/", "tasks": "/var/lib/glance/tasks_work_dir/",
    }
    # nothing it reads is deprecated (a deprecated option may be ignored by a later release)
    assert "deprecated" not in done.stderr.lower(), done.stderr


@pytest.mark.parametrize("character", ["%", '"'])
def test_a_password_glance_store_would_misread_is_refused_before_it_is_written(replica, tmp_path, character):
    api_conf, reference, password = replica
    broken = "pass" + character + "word"
    if character == '"':
        broken = '"' + broken[:-1]  # an opening quote glance_store strips or refuses
    done = load(tmp_path, api_conf, reference.replace(password, broken))
    assert done.returncode != 0 or json.loads(done.stdout.strip().splitlines()[-1])["key"] != broken
    assert SECRETS["glance_keystone_password"].problem(broken) is not None
