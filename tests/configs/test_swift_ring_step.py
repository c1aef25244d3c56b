"""The ring step (components/swift_ring_step.py) run as the program runs it, the
script from ring_script() piped into `python3 -`, with Debian's python3-swift (the
swift-storage image has the same Swift 2.30): one storage host, then 3, 4 and 3 again;
the builders other storage hosts serve through real rsync daemons on loopback addresses.

Time is not mocked in the step: a test that needs min_part_hours to have passed
rewinds the builder's own clock (its last-move epoch) in the file, which is what an
hour of waiting does to it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import subprocess
from typing import Any, Mapping, Sequence

import uuid
from typing import Iterator

import pytest

from components.swift_rings import ring_request, ring_script
from components.swift_settings import RINGS, RSYNC_RING_MODULE, STORAGE_PORTS, SwiftTunables
from tests.configs.daemon_support import end_marked, free_port, marked_env, run, start, wait_until

SYSTEM_PYTHON = "/usr/bin/python3"
HOSTS = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]
# Small rings keep each run near a second; the algorithm is the same at 2^18.
SWIFT = SwiftTunables(part_power=8, replicas=3, min_part_hours=1)


def step(folder: pathlib.Path, hosts: Sequence[str], swift: SwiftTunables = SWIFT,
         peers: Sequence[str] = (), rsync_port: int = 10873, expect_ok: bool = True) -> Any:
    request = ring_request(hosts, swift, str(folder), peers=peers, rsync_port=rsync_port)
    result = subprocess.run([SYSTEM_PYTHON, "-"], input=ring_script(request), capture_output=True, text=True,
                            timeout=120)
    if not expect_ok:
        return result
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["rings"]


def md5s(folder: pathlib.Path) -> dict[str, str]:
    return {ring: hashlib.md5((folder / f"{ring}.ring.gz").read_bytes()).hexdigest() for ring in RINGS}


def hosts_of(summary: Mapping[str, Any]) -> list[str]:
    return sorted({d["ip"] for d in summary["devices"]})


def let_hours_pass(folder: pathlib.Path, hours: int) -> None:
    """What `hours` of waiting does to the builders: their last-move clock is older."""
    script = (
        "import sys\nfrom swift.common.ring import RingBuilder\n"
        "for path in sys.argv[2:]:\n"
        "    b = RingBuilder.load(path)\n"
        "    b._last_part_moves_epoch -= int(sys.argv[1]) * 3600\n"
        "    b.save(path)\n")
    subprocess.run([SYSTEM_PYTHON, "-c", script, str(hours), *(str(folder / f"{r}.builder") for r in RINGS)],
                   check=True, timeout=60)


@pytest.fixture()
def folder(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "rings"


def test_one_host_gets_three_rings_of_one_replica(folder):
    rings = step(folder, HOSTS[:1])
    for ring in RINGS:
        summary = rings[ring]
        assert summary["builder_source"] == "new" and summary["rebalanced"]
        # Three replicas asked, one device: one copy until more devices come.
        assert summary["replicas"] == 1 and summary["part_power"] == 8 and summary["min_part_hours"] == 1
        assert [(d["ip"], d["port"], d["device"], d["weight"], d["parts"]) for d in summary["devices"]] == [
            (HOSTS[0], STORAGE_PORTS[ring], "d1", 100.0, 256)]
        data = (folder / f"{ring}.ring.gz").read_bytes()
        assert summary["ring_md5"] == hashlib.md5(data).hexdigest()
        assert base64.b64decode(summary["ring_b64"]) == data
        assert base64.b64decode(summary["builder_b64"]) == (folder / f"{ring}.builder").read_bytes()


def test_the_same_request_again_touches_nothing(folder):
    step(folder, HOSTS[:3])
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir() if p.is_file()}
    rings = step(folder, HOSTS[:3])
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir() if p.is_file()}
    assert after == before
    for ring in RINGS:
        assert not rings[ring]["rebalanced"] and not rings[ring]["ring_written"]
        assert rings[ring]["added"] == rings[ring]["removed"] == rings[ring]["updated"] == []
        assert rings[ring]["ring_md5"] == md5s(folder)[ring]


def test_growing_from_one_to_three_hosts_adds_replicas_and_spreads_them(folder):
    first = step(folder, HOSTS[:1])
    rings = step(folder, HOSTS[:3])
    for ring in RINGS:
        summary = rings[ring]
        assert summary["ring_md5"] != first[ring]["ring_md5"]
        assert summary["added"] == [f"{h}:{STORAGE_PORTS[ring]}/d1" for h in HOSTS[1:3]]
        assert summary["replicas"] == 3 and summary["rebalanced"]
        # New replicas are placed at once: min_part_hours only holds back moves.
        assert [d["parts"] for d in summary["devices"]] == [256, 256, 256]
        assert summary["balance"] == 0 and summary["dispersion"] == 0 and not summary["deferred"]


def test_a_fourth_host_within_min_part_hours_is_deferred_then_finished(folder):
    step(folder, HOSTS[:3])
    grown = step(folder, HOSTS[:4])
    for ring in RINGS:
        summary = grown[ring]
        assert summary["added"] == [f"{HOSTS[3]}:{STORAGE_PORTS[ring]}/d1"]
        # Every partition moved within the hour (the replicas placed above), so none
        # may move again yet: the new device is in the ring with no partitions.
        assert summary["parts_moved"] == 0
        assert {d["ip"]: d["parts"] for d in summary["devices"]}[HOSTS[3]] == 0
        assert summary["deferred"] and summary["deferred_parts"] > 0
        assert 0 < summary["retry_after_s"] <= 3600
    # Still within the hour: a run changes nothing and says the same.
    waiting = md5s(folder)
    again = step(folder, HOSTS[:4])
    assert md5s(folder) == waiting
    assert all(again[r]["deferred"] and not again[r]["rebalanced"] for r in RINGS)
    let_hours_pass(folder, 2)
    finished = step(folder, HOSTS[:4])
    for ring in RINGS:
        summary = finished[ring]
        assert summary["rebalanced"] and summary["parts_moved"] > 0 and not summary["deferred"]
        assert summary["ring_md5"] != waiting[ring]
        # 768 part-replicas over four equal devices.
        assert [d["parts"] for d in summary["devices"]] == [192, 192, 192, 192]


def test_removing_a_host_moves_its_partitions_even_within_min_part_hours(folder):
    step(folder, HOSTS[:4], SWIFT.model_copy(update={"min_part_hours": 0}))
    rings = step(folder, HOSTS[:3])  # min_part_hours back to 1 in the same run
    for ring in RINGS:
        summary = rings[ring]
        assert summary["min_part_hours"] == 1
        assert summary["removed"] == [f"{HOSTS[3]}:{STORAGE_PORTS[ring]}/d1"]
        assert hosts_of(summary) == HOSTS[:3]
        assert summary["rebalanced"] and summary["parts_moved"] == 192
        assert [d["parts"] for d in summary["devices"]] == [256, 256, 256]


def test_min_part_hours_zero_balances_a_new_host_in_one_run(folder):
    swift = SWIFT.model_copy(update={"min_part_hours": 0})
    step(folder, HOSTS[:3], swift)
    rings = step(folder, HOSTS[:4], swift)
    for ring in RINGS:
        assert [d["parts"] for d in rings[ring]["devices"]] == [192, 192, 192, 192]
        assert not rings[ring]["deferred"]


def test_more_devices_per_host_and_weights(folder):
    # One replica: with more, a device can hold at most one replica of each partition,
    # which caps the heavy device before weights show.
    swift = SwiftTunables.model_validate({**SWIFT.model_dump(), "replicas": 1, "devices": [
        {"name": "sdb", "weight": 100}, {"name": "sdc", "weight": 300}]})
    rings = step(folder, HOSTS[:2], swift)
    parts = {(d["ip"], d["device"]): d["parts"] for d in rings["object"]["devices"]}
    assert set(parts) == {(h, d) for h in HOSTS[:2] for d in ("sdb", "sdc")}
    # Weight 300 takes three times the partitions of weight 100: 96 and 32 of 128 a host.
    assert [parts[(h, d)] for h in HOSTS[:2] for d in ("sdb", "sdc")] == [32, 96, 32, 96]


class RingPeers:
    """Other storage hosts as the step sees them: an rsync daemon per loopback address,
    each serving its own ring folder in the `rings` module, as swift_rsyncd does."""

    def __init__(self, base: pathlib.Path) -> None:
        self.base = base
        self.port = free_port()
        self.marker = f"ring-peers-{uuid.uuid4()}"

    def folder(self, address: str) -> pathlib.Path:
        return self.base / address / "rings"

    def serve(self, address: str) -> pathlib.Path:
        root = self.base / address
        self.folder(address).mkdir(parents=True, exist_ok=True)
        conf = root / "rsyncd.conf"
        conf.write_text(
            f"address = {address}\nport = {self.port}\nuse chroot = no\npid file = {root}/rsyncd.pid\n"
            f"[{RSYNC_RING_MODULE}]\npath = {self.folder(address)}\nread only = true\nlist = yes\n"
            "uid = root\ngid = root\n")
        log = root / "rsyncd.log"
        proc = start(["rsync", "--daemon", "--no-detach", f"--config={conf}"], marked_env(self.marker), log)
        wait_until(f"rsync on {address}", lambda: run(
            ["rsync", "--contimeout=2", f"rsync://{address}:{self.port}/"]).returncode == 0, 20, proc, log)
        return self.folder(address)


@pytest.fixture()
def peers(tmp_path: pathlib.Path) -> Iterator[RingPeers]:
    found = RingPeers(tmp_path / "peers")
    yield found
    assert not end_marked(found.marker)


def copy_builders(source: pathlib.Path, dest: pathlib.Path) -> None:
    for ring in RINGS:
        (dest / f"{ring}.builder").write_bytes((source / f"{ring}.builder").read_bytes())


def test_a_new_first_host_takes_the_builders_of_a_peer_without_moving_anything(folder, tmp_path, peers):
    made = step(folder, HOSTS[:3])
    copy_builders(folder, peers.serve("127.0.0.2"))
    peers.serve("127.0.0.3")  # answers, and has no builders (a host added since)
    replaced = tmp_path / "replaced-host"
    rings = step(replaced, HOSTS[:3], peers=["127.0.0.2", "127.0.0.3"], rsync_port=peers.port)
    for ring in RINGS:
        assert rings[ring]["builder_source"] == "peer 127.0.0.2" and not rings[ring]["rebalanced"]
        assert rings[ring]["ring_md5"] == made[ring]["ring_md5"]
        assert rings[ring]["builder_id"] == made[ring]["builder_id"]
    # Written here, so the next run finds them in its own folder.
    assert step(replaced, HOSTS[:3])["object"]["builder_source"] == "folder"


def test_the_newest_builder_of_folder_and_peers_wins(folder, peers):
    step(folder, HOSTS[:3])
    old = peers.serve("127.0.0.2")
    copy_builders(folder, old)  # this peer missed the next run
    newer = step(folder, HOSTS[:2])
    rings = step(folder, HOSTS[:2], peers=["127.0.0.2"], rsync_port=peers.port)
    for ring in RINGS:
        assert rings[ring]["builder_source"] == "folder" and rings[ring]["ring_md5"] == newer[ring]["ring_md5"]
    # and the other way round: a stale folder takes the peer's newer builders
    stale = peers.folder("127.0.0.2")
    copy_builders(folder, stale)
    step(stale, HOSTS[:3])  # the peer moves on once more
    rings = step(folder, HOSTS[:3], peers=["127.0.0.2"], rsync_port=peers.port)
    assert all(rings[r]["builder_source"] == "peer 127.0.0.2" for r in RINGS)


def test_a_builder_of_another_lineage_is_refused(folder, tmp_path, peers):
    step(peers.serve("127.0.0.2"), HOSTS[:3])  # a cluster of its own
    step(folder, HOSTS[:3])
    before = md5s(folder)
    result = step(folder, HOSTS[:3], peers=["127.0.0.2"], rsync_port=peers.port, expect_ok=False)
    assert result.returncode == 2
    assert "created separately" in result.stderr and "account.builder" in result.stderr
    assert md5s(folder) == before


def test_no_new_builders_while_a_peer_that_may_hold_them_is_silent(folder, peers):
    peers.serve("127.0.0.2")
    result = step(folder, HOSTS[:3], peers=["127.0.0.2", "127.0.0.3"], rsync_port=peers.port, expect_ok=False)
    assert result.returncode == 2
    assert "127.0.0.3 did not answer" in result.stderr and "take the host out of groups.storage" in result.stderr
    assert not any(folder.glob("*.ring.gz"))
    # Once every peer answers (none has builders: a first deployment), the rings are made.
    peers.serve("127.0.0.3")
    rings = step(folder, HOSTS[:3], peers=["127.0.0.2", "127.0.0.3"], rsync_port=peers.port)
    assert all(rings[r]["builder_source"] == "new" for r in RINGS)


def test_a_silent_peer_does_not_stop_a_host_that_has_the_builders(folder):
    made = step(folder, HOSTS[:3])
    rings = step(folder, HOSTS[:3], peers=["127.0.0.3"], rsync_port=free_port())
    assert all(rings[r]["builder_source"] == "folder" and rings[r]["ring_md5"] == made[r]["ring_md5"] for r in RINGS)


def test_a_new_part_power_is_refused(folder):
    step(folder, HOSTS[:3])
    result = step(folder, HOSTS[:3], SWIFT.model_copy(update={"part_power": 9}), expect_ok=False)
    assert result.returncode == 2
    assert "set swift.part_power back to 8" in result.stderr


def test_swift_reads_the_rings_with_replicas_on_distinct_hosts(folder):
    step(folder, HOSTS[:4], SWIFT.model_copy(update={"min_part_hours": 0}))
    script = (
        "import json, sys\nfrom swift.common.ring import Ring\n"
        "ring = Ring(sys.argv[1], ring_name='object')\n"
        "print(json.dumps([sorted(n['ip'] for n in ring.get_nodes('AUTH_a', 'c', f'o{i}')[1]) for i in range(50)]))\n")
    placed = json.loads(subprocess.run([SYSTEM_PYTHON, "-c", script, str(folder)], check=True, capture_output=True,
                                       text=True, timeout=60).stdout)
    assert all(len(set(ips)) == 3 for ips in placed)
