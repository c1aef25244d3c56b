"""The storage tier of the dev stack, deployed for real into the lab: glance's images in
Swift, Swift's rings and replicas, cinder's volumes in Ceph, through the VIP with the
stock `openstack` client as a user drives it.

Runs last (conftest's MODULE_ORDER), on the stack the other modules leave: the last test
adds a storage host on the fourth lab host that test_ha_stack's scale-out brought up
(and test_day2 scaled in again), as a day-2 change through the plan and the HA guard.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from offline.program import resolve
from ops.faults import FaultInjector
from ops.host_access import PowerSwitch
from ops.stack_file import inventory_of
from ops.tier_health import wait_until_back
from tests.e2e.day2 import guarded_change
from tests.e2e.figures import FIGURES
from tests.e2e.lab_access import VIP, Deployment, host_address, http, keystone_token

CLOUD = "kolla-ha-e2e"
RING_DIR = "/etc/swift/rings"
# What a storage host may take to be back in every tier after a power cycle: every
# container (Galera's SST, Ceph's OSD peering, Swift's fourteen daemons) healthy again.
BACK_WITHIN_S = 900


class OpenStack:
    """The stock client, authenticated from a clouds.yaml (mode 0600) naming the VIP: the
    admin password is in that file, never on a command line."""

    def __init__(self, clouds_yaml: Path) -> None:
        self.env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml)}

    def __call__(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(["openstack", "--os-cloud", CLOUD, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def json(self, *args: str, timeout: float = 300) -> Any:
        return json.loads(self(*args, "-f", "json", timeout=timeout))


@pytest.fixture(scope="module")
def openstack(deployment: Deployment, admin_password: str, tmp_path_factory) -> OpenStack:
    folder = tmp_path_factory.mktemp("cloud")
    clouds = folder / "clouds.yaml"
    fd = os.open(clouds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"clouds": {CLOUD: {
            "auth": {"auth_url": f"http://{VIP}:5000/v3", "username": "admin", "password": admin_password,
                     "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"},
            "identity_api_version": 3, "region_name": "RegionOne", "interface": "public"}}}, fh)
    return OpenStack(clouds)


@pytest.fixture(scope="module")
def injector(deployment: Deployment) -> FaultInjector:
    return FaultInjector(inventory_of(dict(deployment.values)), lab=True, power=PowerSwitch(lab=True))


def storage_hosts(deployment: Deployment) -> list[str]:
    return list(deployment.values["groups"]["storage"])


def ring_md5s(deployment: Deployment, host: str, container: str) -> dict[str, str]:
    out = deployment.exec(host, container, f"cd {RING_DIR} && md5sum account.ring.gz container.ring.gz object.ring.gz")
    return {line.split()[1]: line.split()[0] for line in out.strip().splitlines()}


class Swift:
    """Swift's API of the admin project, on one proxy or through the VIP."""

    def __init__(self, password: str) -> None:
        self.token, body = keystone_token(f"http://{VIP}:5000", password)
        self.account = f"AUTH_{body['project']['id']}"

    def url(self, address: str, path: str) -> str:
        return f"http://{address}:8080/v1/{self.account}/{path}"

    def put(self, address: str, path: str, data: bytes) -> int:
        import urllib.request

        request = urllib.request.Request(self.url(address, path), data=data, method="PUT",
                                         headers={"X-Auth-Token": self.token})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status

    def get(self, address: str, path: str) -> bytes:
        import urllib.request

        request = urllib.request.Request(self.url(address, path), headers={"X-Auth-Token": self.token})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read()


def object_replicas(deployment: Deployment, container: str, obj: str, swift: Swift) -> dict[str, bool]:
    """Per primary storage host of the object: whether a .data file of it is on its device."""
    first = storage_hosts(deployment)[0]
    out = deployment.exec(first, "swift_object_server",
                          f"swift-get-nodes -a {RING_DIR}/object.ring.gz {swift.account} {container} {obj}")
    partition = next(line.split()[-1] for line in out.splitlines() if line.startswith("Partition"))
    hashed = next(line.split()[-1] for line in out.splitlines() if line.startswith("Hash"))
    primaries = [line.split()[2].split(":")[0] for line in out.splitlines()
                 if line.startswith("Server:Port Device") and "[Handoff]" not in line]
    found = {}
    for host in storage_hosts(deployment):
        if host_address(host) not in primaries:
            continue
        listing = deployment.exec(host, "swift_object_server",
                                  f"ls /srv/node/*/objects/{partition}/{hashed[-3:]}/{hashed}/ 2>/dev/null || true")
        found[host] = any(name.endswith(".data") for name in listing.split())
    return found


def test_the_rings_are_the_same_on_every_storage_and_proxy_host_and_loaded(deployment: Deployment) -> None:
    seen = {}
    for host in storage_hosts(deployment):
        seen[f"{host}/storage"] = ring_md5s(deployment, host, "swift_object_server")
    for host in deployment.values["groups"]["control"]:
        seen[f"{host}/proxy"] = ring_md5s(deployment, host, "swift_proxy_server")
    assert len({json.dumps(m, sort_keys=True) for m in seen.values()}) == 1, seen
    # What every object server has loaded (recon), against the rings on disk.
    first = storage_hosts(deployment)[0]
    # swift-recon reads swift.conf from the folder it reads the rings from; the servers keep
    # them apart (/etc/swift and a read-only ring mount), so it gets a folder of both.
    recon = deployment.exec(first, "swift_object_server",
                            f'd=$(mktemp -d) && ln -s /etc/swift/swift.conf {RING_DIR}/*.ring.gz "$d"/ && '
                            f'swift-recon --swiftdir "$d" --md5; rm -rf "$d"')
    storage = len(storage_hosts(deployment))
    assert f"{storage}/{storage} hosts matched" in recon, recon
    FIGURES["swift object ring md5"] = next(iter(seen.values()))["object.ring.gz"]


def test_a_volume_is_created_available_and_deleted(deployment: Deployment, openstack: OpenStack) -> None:
    start = time.monotonic()
    volume = openstack.json("volume", "create", "--size", "1", f"e2e-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + 180
    while (status := openstack.json("volume", "show", volume["id"])["status"]) != "available":
        assert status in ("creating", "downloading"), status
        assert time.monotonic() < deadline, "the volume did not become available in 180 s"
        time.sleep(2)
    FIGURES["volume create to available (s)"] = round(time.monotonic() - start, 1)
    # It is an RBD image of the volumes pool, written through cinder's own Ceph key.
    first_mon = deployment.values["groups"]["database"][0]
    images = deployment.exec(first_mon, "ceph_mon", "timeout 60 rbd ls volumes").split()
    assert f"volume-{volume['id']}" in images
    openstack("volume", "delete", volume["id"])
    deadline = time.monotonic() + 180
    while volume["id"] in openstack("volume", "list", "-f", "value", "-c", "ID"):
        assert time.monotonic() < deadline, "the volume was not deleted in 180 s"
        time.sleep(2)
    assert f"volume-{volume['id']}" not in deployment.exec(first_mon, "ceph_mon", "timeout 60 rbd ls volumes").split()


def download_all(openstack: OpenStack, image_id: str, wanted: str, folder: Path, times: int) -> list[float]:
    seconds = []
    for i in range(times):
        out = folder / f"download-{i}"
        start = time.monotonic()
        openstack("image", "save", "--file", str(out), image_id)
        seconds.append(time.monotonic() - start)
        assert hashlib.sha256(out.read_bytes()).hexdigest() == wanted, f"download {i} differs"
        out.unlink()
    return seconds


@pytest.fixture(scope="module")
def image(openstack: OpenStack, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    folder = tmp_path_factory.mktemp("image")
    data = os.urandom(24 << 20)
    source = folder / "image.raw"
    source.write_bytes(data)
    created = openstack.json("image", "create", "--file", str(source), "--disk-format", "raw",
                             "--container-format", "bare", f"e2e-{uuid.uuid4().hex[:8]}", timeout=600)
    # The client may print the image as it was before its upload (openstacksdk returns
    # that object when it skips the checksum check): what glance holds is `image show`'s.
    deadline = time.monotonic() + 60
    while (status := openstack.json("image", "show", created["id"])["status"]) != "active":
        assert status in ("queued", "saving"), status
        assert time.monotonic() < deadline, f"the image is still {status} 60 s after its upload"
        time.sleep(2)
    yield created["id"], hashlib.sha256(data).hexdigest(), folder
    openstack("image", "delete", created["id"])


def test_an_image_downloads_byte_identical_twenty_times(openstack: OpenStack, image) -> None:
    image_id, digest, folder = image
    stored = openstack.json("image", "show", image_id)
    # in Swift, not on a glance host's disk
    assert stored.get("stores") == "swift" or "swift" in json.dumps(stored.get("properties", {})), stored
    seconds = download_all(openstack, image_id, digest, folder, 20)
    FIGURES["image download 24 MiB, median (s)"] = round(sorted(seconds)[len(seconds) // 2], 2)


class Reader(threading.Thread):
    """Reads objects through the VIP until stopped; every failure is counted."""

    def __init__(self, swift: Swift, paths: list[str], wanted: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.swift, self.paths, self.wanted = swift, paths, wanted
        self.stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.paths:
                try:
                    assert self.swift.get(VIP, path) == self.wanted[path], f"{path} differs"
                    self.ok += 1
                except Exception as err:  # every kind of failure counts against HA
                    self.errors.append(f"{time.strftime('%H:%M:%S')} {path}: {type(err).__name__}: {str(err)[:100]}")
            time.sleep(0.2)


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_a_storage_host_powered_off_loses_no_read_and_its_replicas_come_back(
        deployment: Deployment, openstack: OpenStack, image, injector: FaultInjector, admin_password: str) -> None:
    swift = Swift(admin_password)
    proxies = [host_address(h) for h in deployment.values["groups"]["control"]]
    container = f"e2e-{uuid.uuid4().hex[:8]}"
    assert swift.put(proxies[0], container, b"") in (201, 202)
    before = {f"{container}/before-{i}": os.urandom(64 << 10) for i in range(5)}
    for path, data in before.items():
        assert swift.put(proxies[0], path, data) == 201
    # Written through one proxy, read through every one.
    for proxy in proxies:
        for path, data in before.items():
            assert swift.get(proxy, path) == data, (proxy, path)
    # A storage host that neither holds the VIP nor runs cinder-volume (others' faults are
    # test_faults.py's): its Swift daemons, Ceph OSD, glance and proxy go down together.
    vip_holder = injector.vip_holder().name
    victim = next(h for h in reversed(storage_hosts(deployment)[1:]) if h != vip_holder)
    image_id, digest, folder = image
    reader = Reader(swift, list(before), before)
    reader.start()
    injector.power_off([injector.inventory.host(victim)])
    try:
        # HAProxy takes the host's glance and proxy out within inter x fall (2 s).
        time.sleep(5)
        seconds = download_all(openstack, image_id, digest, folder, 20)
        FIGURES["image download with a storage host off, median (s)"] = round(sorted(seconds)[len(seconds) // 2], 2)
        survivors = [host_address(h) for h in deployment.values["groups"]["control"] if h != victim]
        for proxy in survivors:
            for path, data in before.items():
                assert swift.get(proxy, path) == data, (proxy, path)
        # A write needs a majority of the replicas: two of three are up.
        during = f"{container}/during"
        written = os.urandom(64 << 10)
        assert swift.put(VIP, during, written) == 201
        assert swift.get(VIP, during) == written
    finally:
        injector.power_on([injector.inventory.host(victim)])
    back, wrong = wait_until_back(injector.inventory.host(victim), injector.inventory, BACK_WITHIN_S)
    reader.stop.set()
    reader.join()
    FIGURES["storage host back after power-on (s)"] = None if back is None else round(back, 1)
    FIGURES["object reads during the storage host's outage"] = f"{reader.ok} ok, {len(reader.errors)} failed"
    assert back is not None, wrong
    assert reader.ok > 0 and reader.errors == [], reader.errors[:10]
    # The replica written while the host was off reaches it by replication (every 30 s).
    deadline = time.monotonic() + 600
    while not all((replicas := object_replicas(deployment, container, "during", swift)).values()):
        assert time.monotonic() < deadline, f"replicas of {during} after 600 s: {replicas}"
        time.sleep(10)
    FIGURES["replica written during the outage back on the host (s)"] = round(time.monotonic() + 600 - deadline, 1)
    assert len(replicas) == 3
    # Ceph: every OSD up and every monitor in the quorum again, by Docker's restart policy.
    first_mon = deployment.values["groups"]["database"][0]
    status = json.loads(deployment.exec(first_mon, "ceph_mon", "timeout 60 ceph status --format json"))
    assert status["osdmap"]["num_up_osds"] == len(storage_hosts(deployment))
    assert sorted(status["quorum_names"]) == sorted(deployment.values["groups"]["database"])


# Long (minutes): left out of the default run, which CI runs; `python3 -m tests --soak`.
@pytest.mark.soak
def test_adding_a_storage_host_rebalances_while_objects_are_read(lab, deployment: Deployment,
                                                                  admin_password: str) -> None:
    from lab import Lab

    assert Lab(hosts=4).up().healthy
    values = json.loads(json.dumps(deployment.values))
    if "ctl4" not in [h["name"] for h in values["hosts"]]:
        values["hosts"].append({"name": "ctl4", "address": host_address("ctl4"), "interface": "eth0",
                                "ssh": dict(values["hosts"][0]["ssh"])})
    values["groups"]["storage"] = values["groups"]["storage"] + ["ctl4"]
    # The rings were built less than min_part_hours (1 h) ago: Swift would hold every move
    # back (the ring step says so, tests/configs/test_swift_ring_step.py). Lowering it is
    # the operator's way to rebalance at once.
    values["swift"] = {**values.get("swift", {}), "min_part_hours": 0}
    swift = Swift(admin_password)
    container = f"e2e-{uuid.uuid4().hex[:8]}"
    assert swift.put(VIP, container, b"") in (201, 202)
    objects = {f"{container}/o{i}": os.urandom(32 << 10) for i in range(20)}
    for path, data in objects.items():
        assert swift.put(VIP, path, data) == 201
    reader = Reader(swift, list(objects), objects)
    reader.start()
    try:
        change = guarded_change(deployment, values, admin_password, "add storage host ctl4")
    finally:
        time.sleep(35)  # a replication pass on every host with the new rings
        reader.stop.set()
        reader.join()
    if "ctl4" not in deployment.hosts:
        deployment.hosts.append("ctl4")
    FIGURES["object reads while adding a storage host"] = f"{reader.ok} ok, {len(reader.errors)} failed"
    assert change.errors == [], change.errors[:10]
    # Swift reloads rings by itself: only the expirers (their share of the queue) roll.
    assert sorted(n for n in change.replaced("") if "swift" in n) == sorted(
        f"{h}-swift_object_expirer" for h in storage_hosts(deployment) if h != "ctl4")
    md5s = {h: ring_md5s(deployment, h, "swift_object_server") for h in storage_hosts(deployment)}
    assert len({json.dumps(m, sort_keys=True) for m in md5s.values()}) == 1, md5s
    builder = deployment.exec("ctl1", "swift_object_server", f"swift-ring-builder {RING_DIR}/object.builder")
    # device rows: id region zone ip:port replication-ip:port name weight partitions balance ...
    # (the summary line "1024 partitions, 3.000000 replicas, ..." also starts with a number)
    rows = [row.split() for row in builder.splitlines()]
    parts = {row[3].split(":")[0]: int(row[7]) for row in rows
             if len(row) >= 9 and row[0].isdigit() and ":" in row[3]}
    assert parts.get(host_address("ctl4"), 0) > 0, builder  # the new device holds partitions
    FIGURES["object partitions per storage host after adding one"] = parts
    assert reader.ok > 0 and reader.errors == [], reader.errors[:10]
    for path, data in objects.items():
        assert swift.get(VIP, path) == data
    first_mon = deployment.values["groups"]["database"][0]
    status = json.loads(deployment.exec(first_mon, "ceph_mon", "timeout 60 ceph status --format json"))
    assert status["osdmap"]["num_up_osds"] == 4
    assert http("GET", f"http://{host_address('ctl4')}:6200/healthcheck")[0] == 200
    assert resolve(deployment.exports["internal_vip"]) == VIP
