"""Debian's Swift daemons on the rendered storage configs of two loopback "hosts"
(127.0.0.1 and 127.0.0.2, one device each, two replicas), with rings made by the ring
step (components/swift_ring_step.py) exactly as the program runs it.

Each host's daemons run in their own mount namespace in which the host's folders sit
where the containers have them: its rendered files at /etc/swift, the shared rings
read-only at /etc/swift/rings, its device under /srv/node, its recon cache under
/var/cache/swift and its own /run. So every rendered file is used verbatim, with the
commands of components/swift_storage.py, and nothing on this machine is changed.
A proxy with tempauth (the deployed one uses keystone) drives them like a client.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from typing import Iterator, Mapping, Sequence

import pytest

from components.swift_rings import ring_request, ring_script
from components.swift_settings import RING_DIR, RINGS, RSYNC_RING_MODULE, SwiftTunables
from components.swift_storage import (
    CONFIG_FILES, STORAGE_DAEMONS, StorageDaemon, health_probe, render_storage_files, storage_context,
)
from tests.configs.daemon_support import end_marked, free_port, marked_env, run, start, tail, wait_until

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-swift
SECRETS = {"swift_hash_path_prefix": "prefix-" + uuid.uuid4().hex, "swift_hash_path_suffix": "suffix-" + uuid.uuid4().hex}
SWIFT = SwiftTunables(part_power=6, replicas=2, min_part_hours=0, mount_check=False, workers=1)
ACCOUNT_USER, ACCOUNT_KEY = "test:tester", "testing"


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    address: str
    root: pathlib.Path

    @property
    def etc(self) -> pathlib.Path:
        return self.root / "etc-swift"

    @property
    def device(self) -> pathlib.Path:
        return self.root / "srv" / "node" / "d1"

    @property
    def recon(self) -> pathlib.Path:
        return self.root / "cache" / "swift"

    def binds(self, rings: pathlib.Path) -> list[tuple[pathlib.Path, str, bool]]:
        return [(self.etc, "/etc/swift", False), (rings, RING_DIR, True),
                (self.root / "srv", "/srv", False), (self.root / "cache", "/var/cache", False),
                (self.root / "run", "/run", False)]


def in_namespace(node: Node, rings: pathlib.Path, cmd: Sequence[str]) -> list[str]:
    mounts = " && ".join(
        f"mount {'-o bind,ro' if ro else '--bind'} {shlex.quote(str(src))} {dst}"
        for src, dst, ro in node.binds(rings))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"', "sh", *cmd]


def http(method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None,
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def answers(url: str) -> bool:
    try:
        return http("GET", url)[0] == 200
    except OSError:
        return False


def command(daemon: StorageDaemon, *extra: str) -> list[str]:
    # rsyncd reads /etc/rsyncd.conf in its container; here the file sits with the others.
    text = daemon.command.replace(CONFIG_FILES["rsyncd.conf"].dest, "/etc/swift/rsyncd.conf")
    return [*shlex.split(text), *extra]


def write_as_kolla_start_does(path: pathlib.Path, text: str, name: str) -> None:
    """With the owner and mode config.json gives the file: Swift's forked workers read
    their config after dropping to the swift user, so these must be right."""
    spec = CONFIG_FILES[name]
    path.write_text(text)
    owner = pwd.getpwnam(spec.owner)
    os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(int(spec.perm, 8))


@dataclasses.dataclass
class Cluster:
    base: pathlib.Path
    nodes: list[Node]
    rings: pathlib.Path
    ports: dict[str, int]
    rsync_port: int
    proxy_port: int
    rendered: dict[str, dict[str, str]]
    procs: dict[str, subprocess.Popen]
    marker: str
    ring_summary: dict

    def once(self, node: Node, daemon_name: str) -> subprocess.CompletedProcess:
        daemon = next(d for d in STORAGE_DAEMONS if d.container == daemon_name)
        result = run(in_namespace(node, self.rings, command(daemon, "--once")),
                     env=marked_env(self.marker), timeout_s=120)
        assert result.returncode == 0, f"{daemon_name} --once on {node.name}: {result.stdout}{result.stderr}"
        return result

    def token(self) -> tuple[str, str]:
        status, headers, _ = http("GET", f"http://127.0.0.1:{self.proxy_port}/auth/v1.0",
                                  {"X-Storage-User": ACCOUNT_USER, "X-Storage-Pass": ACCOUNT_KEY})
        assert status == 200, status
        return headers["X-Storage-Url"], headers["X-Auth-Token"]

    def data_files(self, node: Node, name_part: str = "objects") -> list[pathlib.Path]:
        return sorted((node.device / name_part).rglob("*.data"))


PROXY_CONF = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = swift
swift_dir = {ring_dir}

[pipeline:main]
pipeline = catch_errors healthcheck cache tempauth proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:cache]
use = egg:swift#memcache
memcache_servers = {memcached}

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
"""


def _free_on_both(addresses: Sequence[str], taken: set[int]) -> int:
    while True:
        port = free_port()
        if port in taken:
            continue
        try:
            for address in addresses[1:]:
                with socket.socket() as s:
                    s.bind((address, port))
        except OSError:
            continue
        taken.add(port)
        return port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("swift")
    base.chmod(0o755)
    marker = f"swift-{uuid.uuid4()}"
    nodes = [Node("stor1", "127.0.0.1", base / "stor1"), Node("stor2", "127.0.0.2", base / "stor2")]
    taken: set[int] = set()
    addresses = [n.address for n in nodes]
    ports = {ring: _free_on_both(addresses, taken) for ring in RINGS}
    rsync_port = _free_on_both(addresses, taken)
    proxy_port = _free_on_both(addresses, taken)
    swift_user = pwd.getpwnam("swift")
    rings = base / "rings"
    step = run([SYSTEM_PYTHON, "-"], input_text=ring_script(ring_request(addresses, SWIFT, str(rings), ports=ports)),
               timeout_s=120)
    assert step.returncode == 0, step.stderr
    summary = json.loads(step.stdout)
    rendered: dict[str, dict[str, str]] = {}
    # tempauth keeps its tokens in memcached; the expirer's internal proxy caches there too.
    memcached_port = free_port()
    memcached = f"127.0.0.1:{memcached_port}"
    for node in nodes:
        for folder in (node.etc / "rings", node.device, node.recon, node.root / "run"):
            folder.mkdir(parents=True)
        for owned in (node.device.parent, node.device, node.recon):
            os.chown(owned, swift_user.pw_uid, swift_user.pw_gid)
        ctx = storage_context(node, nodes, SWIFT, memcached, SECRETS, ports=ports, rsync_port=rsync_port)
        rendered[node.name] = render_storage_files(ctx)
        for name, text in rendered[node.name].items():
            write_as_kolla_start_does(node.etc / name, text, name)
    (nodes[0].etc / "proxy-server.conf").write_text(
        PROXY_CONF.format(port=proxy_port, ring_dir=RING_DIR, memcached=memcached))
    procs: dict[str, subprocess.Popen] = {}
    logs = base / "logs"
    logs.mkdir()
    try:
        procs["memcached"] = start(["memcached", "-u", "memcache", "-l", "127.0.0.1", "-p", str(memcached_port),
                                    "-U", "0", "-m", "16"], marked_env(marker), logs / "memcached.log")
        for node in nodes:
            for daemon in STORAGE_DAEMONS:
                if daemon.probe == "process":
                    continue  # the background daemons are run once, by the tests
                log = logs / f"{node.name}-{daemon.container}.log"
                procs[f"{node.name}/{daemon.container}"] = start(
                    in_namespace(node, rings, command(daemon)), marked_env(marker), log)
        proxy_log = logs / "proxy.log"
        procs["proxy"] = start(in_namespace(nodes[0], rings, ["swift-proxy-server", "/etc/swift/proxy-server.conf"]),
                               marked_env(marker), proxy_log)
        for node in nodes:
            for daemon in STORAGE_DAEMONS:
                if daemon.probe == "process":
                    continue
                probe = health_probe(daemon, node.address, ports, rsync_port)
                key = f"{node.name}/{daemon.container}"
                wait_until(f"{key} answers", lambda p=probe: run(["sh", "-c", p]).returncode == 0, 30,
                           procs[key], logs / f"{node.name}-{daemon.container}.log")
        wait_until("the proxy answers", lambda: answers(f"http://127.0.0.1:{proxy_port}/healthcheck"), 30,
                   procs["proxy"], proxy_log)
        yield Cluster(base, nodes, rings, ports, rsync_port, proxy_port, rendered, procs, marker, summary)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert not end_marked(marker)


def test_rings_from_the_step_hold_both_hosts(cluster):
    for ring in RINGS:
        summary = cluster.ring_summary["rings"][ring]
        assert summary["replicas"] == 2
        assert sorted((d["ip"], d["port"]) for d in summary["devices"]) == [
            ("127.0.0.1", cluster.ports[ring]), ("127.0.0.2", cluster.ports[ring])]
        assert all(d["parts"] == 2 ** SWIFT.part_power for d in summary["devices"])


def test_servers_listen_on_their_host_address_only(cluster):
    for node in cluster.nodes:
        for ring in RINGS:
            assert answers(f"http://{node.address}:{cluster.ports[ring]}/healthcheck"), (node, ring)
            assert not answers(f"http://127.0.0.3:{cluster.ports[ring]}/healthcheck")


def test_rendered_files_say_what_the_daemons_were_given(cluster):
    node = cluster.nodes[1]
    files = cluster.rendered[node.name]
    assert f"bind_ip = {node.address}\nbind_port = {cluster.ports['object']}\n" in files["object-server.conf"]
    assert f"rsync_module = rsync://{{replication_ip}}:{cluster.rsync_port}/object" in files["object-server.conf"]
    assert "mount_check = false" in files["account-server.conf"]
    assert f"address = {node.address}\nport = {cluster.rsync_port}\n" in files["rsyncd.conf"]
    assert "processes = 2\nprocess = 1\n" in files["object-expirer.conf"]
    assert SECRETS["swift_hash_path_suffix"] in files["swift.conf"]


def test_object_round_trip_through_a_proxy_stores_a_replica_on_each_host(cluster):
    storage_url, token = cluster.token()
    auth = {"X-Auth-Token": token}
    assert http("PUT", f"{storage_url}/round-trip", auth)[0] in (201, 202)
    body = uuid.uuid4().bytes * 64
    assert http("PUT", f"{storage_url}/round-trip/obj", auth, body)[0] == 201
    status, _, got = http("GET", f"{storage_url}/round-trip/obj", auth)
    assert (status, got) == (200, body)
    # The object servers updated the container servers, which updated the accounts.
    status, _, listing = http("GET", f"{storage_url}/round-trip?format=json", auth)
    assert status == 200 and [o["name"] for o in json.loads(listing)] == ["obj"]
    status, headers, _ = http("HEAD", storage_url, auth)
    assert status == 204 and int(headers["X-Account-Container-Count"]) >= 1
    for node in cluster.nodes:
        assert [f.read_bytes() for f in cluster.data_files(node)] == [body], node


def test_replicators_restore_lost_replicas_through_the_peer_rsync_daemon(cluster):
    storage_url, token = cluster.token()
    auth = {"X-Auth-Token": token}
    assert http("PUT", f"{storage_url}/replicated", auth)[0] in (201, 202)
    body = uuid.uuid4().bytes * 32
    assert http("PUT", f"{storage_url}/replicated/obj", auth, body)[0] == 201
    source, lost = cluster.nodes
    wanted = {f.read_bytes() for f in cluster.data_files(source)}
    # Whole partitions go (a file removed behind Swift's back would leave a stale
    # hashes.pkl that hides the loss until the next full pass); the device stays.
    for kind in ("objects", "containers"):
        for partition in (lost.device / kind).iterdir():
            shutil.rmtree(partition)
    assert cluster.data_files(lost) == []
    out = cluster.once(source, "swift_object_replicator")
    cluster.once(source, "swift_container_replicator")
    assert {f.read_bytes() for f in cluster.data_files(lost)} == wanted, out.stdout + out.stderr
    assert len(list((lost.device / "containers").rglob("*.db"))) == len(
        list((source.device / "containers").rglob("*.db")))
    cluster.once(source, "swift_account_replicator")


def test_expirers_share_the_queue_and_delete_expired_objects(cluster):
    storage_url, token = cluster.token()
    auth = {"X-Auth-Token": token}
    assert http("PUT", f"{storage_url}/expiring", auth)[0] in (201, 202)
    # 24 objects: each falls to one of the two expirers by hash, so that both get some
    # is all but certain (a one-sided split has odds of 2 in 2^24).
    names = [f"obj{i}" for i in range(24)]
    for name in names:
        assert http("PUT", f"{storage_url}/expiring/{name}", {**auth, "X-Delete-After": "1"}, b"x")[0] == 201
    time.sleep(2)
    # The queue's containers reach the hidden account's listing through the container
    # updaters, as they do between their passes in a running cluster.
    for node in cluster.nodes:
        cluster.once(node, "swift_container_updater")
    # Each host's expirer takes its share of the queue (process i of 2): both passes
    # together delete every object, which leaves tombstones on both replicas.
    passes = [cluster.once(node, "swift_object_expirer") for node in cluster.nodes]
    logs = "".join(p.stdout + p.stderr for p in passes)
    expired = [int(n) for n in re.findall(r"Pass completed in \S+; (\d+) objects expired", logs)]
    assert sum(expired) == len(names) and all(expired), logs
    status, _, listing = http("GET", f"{storage_url}/expiring?format=json", auth)
    assert status == 200 and json.loads(listing) == [], logs
    for node in cluster.nodes:
        tombstones = list((node.device / "objects").rglob("*.ts"))
        assert len(tombstones) >= len(names), node


def test_auditors_updaters_and_reaper_run_a_pass_and_report_to_recon(cluster):
    node = cluster.nodes[0]
    for daemon in ("swift_account_auditor", "swift_account_reaper", "swift_container_auditor",
                   "swift_container_updater", "swift_object_auditor", "swift_object_updater"):
        cluster.once(node, daemon)
    recon = {ring: json.loads((node.recon / f"{ring}.recon").read_text()) for ring in RINGS}
    assert "account_auditor_pass_completed" in recon["account"]
    assert "container_updater_sweep" in recon["container"]
    assert "object_updater_sweep" in recon["object"]
    assert any(k.startswith("object_auditor_stats") for k in recon["object"])


def test_rsync_daemon_offers_the_three_modules_and_the_rings_on_its_host_address_only(cluster):
    for node in cluster.nodes:
        listing = run(["rsync", "--contimeout=5", f"rsync://{node.address}:{cluster.rsync_port}/"]).stdout
        assert sorted(line.split()[0] for line in listing.splitlines()) == sorted([*RINGS, RSYNC_RING_MODULE])
    assert run(["rsync", "--contimeout=5", f"rsync://127.0.0.3:{cluster.rsync_port}/"]).returncode != 0


def test_a_first_storage_host_without_builders_takes_them_from_the_others_rsync_daemons(cluster, tmp_path):
    """What the program's ring step does on a re-installed first storage host: the rings
    of the running cluster, unchanged, from the builders its peers serve."""
    fresh = tmp_path / "fresh-first-host"
    request = ring_request([n.address for n in cluster.nodes], SWIFT, str(fresh),
                           peers=[n.address for n in cluster.nodes], ports=cluster.ports,
                           rsync_port=cluster.rsync_port)
    step = run([SYSTEM_PYTHON, "-"], input_text=ring_script(request), timeout_s=120)
    assert step.returncode == 0, step.stderr
    rings = json.loads(step.stdout)["rings"]
    for ring in RINGS:
        assert rings[ring]["builder_source"] == "peer 127.0.0.1" and not rings[ring]["rebalanced"]
        assert rings[ring]["ring_md5"] == cluster.ring_summary["rings"][ring]["ring_md5"]
    # The module is read-only: nobody on the network rewrites a host's rings.
    upload = run(["rsync", "--contimeout=5", str(fresh / "object.builder"),
                  f"rsync://127.0.0.1:{cluster.rsync_port}/{RSYNC_RING_MODULE}/object.builder"])
    assert upload.returncode != 0


def test_health_probes_pass_on_running_daemons_and_fail_where_nothing_listens(cluster):
    closed = {ring: free_port() for ring in RINGS}
    for daemon in STORAGE_DAEMONS:
        probe = health_probe(daemon, "127.0.0.2", cluster.ports, cluster.rsync_port)
        if daemon.probe == "process":
            continue  # tests/unit/test_swift_storage.py checks these against PID 1's command line
        assert run(["sh", "-c", probe]).returncode == 0, daemon
        down = health_probe(daemon, "127.0.0.2", closed, free_port())
        assert down is not None and run(["sh", "-c", down]).returncode != 0, daemon


def test_mount_check_refuses_a_device_that_is_not_mounted(cluster, tmp_path):
    """swift.mount_check (the production default): a plain folder is not a disk, and
    the object server answers 507 instead of filling the root file system."""
    node = Node("stor3", "127.0.0.3", tmp_path / "stor3")
    for folder in (node.etc / "rings", node.device, node.recon, node.root / "run"):
        folder.mkdir(parents=True)
    port = free_port()
    checked = SwiftTunables(**{**SWIFT.model_dump(), "mount_check": True})
    ctx = storage_context(node, [node], checked, "127.0.0.1:1", SECRETS, ports={**cluster.ports, "object": port})
    for name, text in render_storage_files(ctx).items():
        write_as_kolla_start_does(node.etc / name, text, name)
    assert "mount_check = true" in (node.etc / "object-server.conf").read_text()
    log = tmp_path / "object-server.log"
    server = next(d for d in STORAGE_DAEMONS if d.container == "swift_object_server")
    proc = start(in_namespace(node, cluster.rings, command(server)), marked_env(cluster.marker), log)
    try:
        wait_until("object server answers", lambda: answers(f"http://127.0.0.3:{port}/healthcheck"), 30, proc, log)
        status, _, _ = http("PUT", f"http://127.0.0.3:{port}/d1/0/AUTH_test/c/o", {
            "X-Timestamp": f"{time.time():.5f}", "Content-Type": "text/plain", "Content-Length": "1"}, b"x")
        assert status == 507, tail(log)
    finally:
        proc.terminate()
        proc.wait(10)
