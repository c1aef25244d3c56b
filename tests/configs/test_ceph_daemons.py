"""Debian's Ceph daemons on the files the program renders, run by the program's own start
scripts: three "hosts" on 127.0.0.1-3, each in its own mount namespace in which its files
sit where the containers have them (/etc/ceph, /var/lib/ceph/{mon,mgr,osd}, /var/run/ceph,
/usr/local/bin). So the monitors form and grow the cluster as ceph_mon_start makes them,
the setup step imports the keys and makes the pools, the OSDs register and make their
BlueStore in a file, the probes are the containers' health checks, and cinder's key
writes an RBD image through librbd. Nothing on this machine is changed.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shlex
import shutil
import subprocess
import uuid
from typing import Iterator, Mapping

import pytest

from offline.program import unwrap
from tests.configs.daemon_support import end_marked, marked_env, run, start, wait_until
from tests.unit.layouts import EVERY_SERVICE, quick_run
from tests.unit.inventory_fixtures import make_config
from tests.unit.program_checks import step_files

CONFIG_DIR = "/var/lib/kolla/config_files"
SYSTEM_PYTHON = "/usr/bin/python3"
HOSTS = {"ctl1": "127.0.0.1", "ctl2": "127.0.0.2", "ctl3": "127.0.0.3"}


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    address: str
    root: pathlib.Path

    def binds(self) -> list[tuple[pathlib.Path, str]]:
        return [(self.root / "etc-ceph", "/etc/ceph"), (self.root / "mon", "/var/lib/ceph/mon"),
                (self.root / "mgr", "/var/lib/ceph/mgr"), (self.root / "osd", "/var/lib/ceph/osd"),
                (self.root / "run", "/var/run/ceph"), (self.root / "bin", "/usr/local/bin")]

    def command(self, *cmd: str) -> list[str]:
        mounts = " && ".join(f"mount --bind {shlex.quote(str(src))} {dst}" for src, dst in self.binds())
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *cmd]


def place(node: Node, files: Mapping[str, str], config_json: str) -> None:
    """What kolla_start does with a container's config.json: copy each file to its
    destination with its owner and mode (destinations under the node's bound folders)."""
    config = json.loads(config_json)
    bound = {dst: src for src, dst in node.binds()}
    for entry in config["config_files"]:
        dest = entry["dest"]
        folder = next(d for d in bound if dest.startswith(d + "/"))
        target = bound[folder] / dest[len(folder) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[entry["source"].rsplit("/", 1)[1]])
        user, _, group = entry["owner"].partition(":")
        shutil.chown(target, user, group or user)
        target.chmod(int(entry["perm"], 8))
    for entry in config["permissions"]:
        folder = bound.get(entry["path"])
        if folder is not None:
            user, _, group = entry["owner"].partition(":")
            shutil.chown(folder, user, group or user)


def uploaded(reg) -> dict[str, str]:
    return {u["file"].rsplit("/", 1)[1]: u["content"] for u in unwrap(reg.inputs["uploads"])}


@dataclasses.dataclass
class Cluster:
    nodes: dict[str, Node]
    program: object
    marker: str
    procs: dict[str, subprocess.Popen]
    logs: pathlib.Path

    def probe(self, host: str, container: str) -> bool:
        test = unwrap(self.program.named(f"{host}-{container}").inputs["healthcheck"])["tests"][1]
        return run(self.nodes[host].command("sh", "-c", test), timeout_s=30).returncode == 0

    def start(self, host: str, container: str) -> None:
        reg = self.program.named(f"{host}-{container}")
        node = self.nodes[host]
        files = uploaded(reg)
        place(node, files, files["config.json"])
        log = self.logs / f"{host}-{container}.log"
        command = json.loads(files["config.json"])["command"]
        self.procs[f"{host}/{container}"] = start(node.command(*shlex.split(command)), marked_env(self.marker), log)
        wait_until(f"{container} on {host} is healthy", lambda: self.probe(host, container), 180,
                   self.procs[f"{host}/{container}"], log)

    def stop(self, host: str, container: str) -> None:
        proc = self.procs.pop(f"{host}/{container}")
        proc.terminate()
        proc.wait(60)

    def ceph(self, *args: str) -> str:
        done = run(self.nodes["ctl1"].command("timeout", "60", "ceph", "--connect-timeout", "10", *args),
                   timeout_s=90)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def quorum(self) -> list[str]:
        """The monitors in the quorum, or none while a client cannot reach one: during an
        election (a joining monitor calls one) a client's connection times out, which is a
        state to wait through, not a failure."""
        done = run(self.nodes["ctl1"].command("timeout", "60", "ceph", "--connect-timeout", "10",
                                              "quorum_status", "--format", "json"), timeout_s=90)
        return sorted(json.loads(done.stdout).get("quorum_names", [])) if done.returncode == 0 else []


def storage_program(base: pathlib.Path):
    raw, keys = make_config(3, enabled_services=EVERY_SERVICE, glance={"backend": "swift"},
                            internal_network="127.0.0.0/8", internal_vip="127.0.0.250",
                            ceph={"pool_size": 3, "osd_file_size": "1G", "osd_memory_target": "896M"})
    for host in raw["hosts"]:
        host["address"] = HOSTS[host["name"]]
        host["interface"] = "lo"
    return quick_run(raw, keys)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("ceph")
    base.chmod(0o755)
    program = storage_program(base)
    nodes = {name: Node(name, address, base / name) for name, address in HOSTS.items()}
    for node in nodes.values():
        for src, _ in node.binds():
            src.mkdir(parents=True)
    logs = base / "logs"
    logs.mkdir()
    found = Cluster(nodes, program, f"ceph-{uuid.uuid4()}", {}, logs)
    try:
        for host in HOSTS:
            found.start(host, "ceph_mon")
            found.start(host, "ceph_mgr")
        setup = program.named("ctl1-ceph_setup")
        files = {path.rsplit("/", 1)[1]: text for path, text in step_files(setup).items()}
        for attempt in range(2):  # idempotent: a second run changes nothing and succeeds
            place(nodes["ctl1"], files, files["config.json"])
            done = run(nodes["ctl1"].command("/usr/local/bin/ceph_setup"), env=marked_env(found.marker),
                       timeout_s=180)
            assert done.returncode == 0, f"setup run {attempt}: {done.stdout}{done.stderr}"
        for host in HOSTS:
            found.start(host, "ceph_osd")
        yield found
    finally:
        for proc in found.procs.values():
            proc.terminate()
        for proc in found.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        assert not end_marked(found.marker)


def test_three_monitors_in_quorum_three_osds_up_on_three_crush_hosts(cluster):
    status = json.loads(cluster.ceph("status", "--format", "json"))
    assert sorted(status["quorum_names"]) == ["ctl1", "ctl2", "ctl3"]
    assert status["osdmap"]["num_up_osds"] == 3 and status["osdmap"]["num_in_osds"] == 3
    tree = json.loads(cluster.ceph("osd", "tree", "--format", "json"))
    hosts = {n["name"]: n["children"] for n in tree["nodes"] if n["type"] == "host"}
    assert sorted(hosts) == ["ctl1", "ctl2", "ctl3"] and all(len(c) == 1 for c in hosts.values())
    assert json.loads(cluster.ceph("mgr", "stat", "--format", "json"))["available"]


def test_the_pools_and_the_client_keys_are_as_the_setup_step_made_them(cluster):
    pools = {p["pool_name"]: p for p in json.loads(cluster.ceph("osd", "pool", "ls", "detail", "--format", "json"))}
    assert pools["volumes"]["size"] == 3 and pools["volumes"]["min_size"] == 2
    assert "rbd" in pools["volumes"]["application_metadata"]
    cinder = json.loads(cluster.ceph("auth", "get", "client.cinder", "--format", "json"))[0]
    assert cinder["caps"] == {"mgr": "profile rbd pool=volumes", "mon": "profile rbd", "osd": "profile rbd pool=volumes"}
    assert json.loads(cluster.ceph("auth", "get", "client.bootstrap-osd", "--format", "json"))[0]["caps"] == {
        "mon": "profile bootstrap-osd"}


RBD = r"""
import sys, rados, rbd
client = rados.Rados(conffile=sys.argv[1], rados_id="cinder", conf={"keyring": sys.argv[2],
                     "rados_osd_op_timeout": "20", "rados_mon_op_timeout": "20"})
client.connect(timeout=20)
with client.open_ioctx("volumes") as io:
    rbd.RBD().create(io, "volume-e2e", 64 << 20)
    with rbd.Image(io, "volume-e2e") as image:
        image.write(b"kolla-ha" * 512, 0)
        print(image.read(0, 8).decode(), sorted(rbd.RBD().list(io)))
try:
    client.open_ioctx("images").close()
    print("other pool reachable")
except rados.Error:
    print("no other pool")
"""


def test_cinders_key_writes_an_rbd_image_in_its_pool_only(cluster, tmp_path):
    volume = uploaded(cluster.program.named("ctl1-cinder_volume"))
    (tmp_path / "ceph.conf").write_text(volume["ceph.conf"])
    (tmp_path / "cinder.keyring").write_text(volume["ceph.client.cinder.keyring"])
    done = run(["timeout", "90", SYSTEM_PYTHON, "-c", RBD, str(tmp_path / "ceph.conf"), str(tmp_path / "cinder.keyring")],
               timeout_s=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0] == "kolla-ha ['volume-e2e']"
    # client.cinder may not write into another pool
    denied = run(["timeout", "60", SYSTEM_PYTHON, "-c", RBD.replace('"volumes"', '"device_health_metrics"'),
                  str(tmp_path / "ceph.conf"), str(tmp_path / "cinder.keyring")], timeout_s=90)
    assert denied.returncode != 0


def test_a_restarted_monitor_rejoins_with_its_store(cluster):
    cluster.stop("ctl1", "ceph_mon")
    log = cluster.logs / "ctl1-ceph_mon.log"
    log.write_text("")
    wait_until("the others keep a quorum", lambda: cluster.quorum() == ["ctl2", "ctl3"], 60)
    cluster.start("ctl1", "ceph_mon")
    # its store is kept: it neither forms a cluster nor joins anew
    assert "kolla-ha:" not in log.read_text()


def test_a_monitor_whose_store_is_lost_joins_the_running_ones_even_the_first(cluster):
    for host in ("ctl3", "ctl1"):
        cluster.stop(host, "ceph_mon")
        shutil.rmtree(cluster.nodes[host].root / "mon")
        (cluster.nodes[host].root / "mon").mkdir()
        log = cluster.logs / f"{host}-ceph_mon.log"
        log.write_text("")
        cluster.start(host, "ceph_mon")
        assert "joins the running monitors" in log.read_text()
    # A joining monitor calls an election; the third one may still be electing or
    # synchronising when the joiner is already in the quorum. It must get back by itself.
    wait_until("all three monitors in the quorum again", lambda: cluster.quorum() == ["ctl1", "ctl2", "ctl3"],
               180, log=cluster.logs / "ctl2-ceph_mon.log")
    status = json.loads(cluster.ceph("status", "--format", "json"))
    assert status["fsid"] == json.loads(cluster.ceph("fsid", "--format", "json"))["fsid"]


def test_an_osd_restarted_uses_the_osd_it_made(cluster):
    before = json.loads(cluster.ceph("osd", "ls", "--format", "json"))
    cluster.stop("ctl2", "ceph_osd")
    cluster.start("ctl2", "ceph_osd")
    assert json.loads(cluster.ceph("osd", "ls", "--format", "json")) == before
    wait_until("three OSDs up again", lambda: json.loads(cluster.ceph("osd", "stat", "--format", "json"))[
        "num_up_osds"] == 3, 120)
