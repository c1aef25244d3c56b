"""The ring step (components/swift_ring_step.py) run as the program runs it, the
script from ring_script() piped into `python3 -`, with Debian's python3-swift (the
swift-storage image has the same Swift 2.30): one storage host, then 3, 4 and 3 again.

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

import pytest

from components.swift_rings import ring_request, ring_script
from components.swift_settings import RINGS, STORAGE_PORTS, SwiftTunables

SYSTEM_PYTHON = "/usr/bin/python3"
HOSTS = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]
# Small rings keep each run near a second; the algorithm is the same at 2^18.
SWIFT = SwiftTunables(part_power=8, replicas=3, min_part_hours=1)


def step(folder: pathlib.Path, hosts: Sequence[str], swift: SwiftTunables = SWIFT,
         builders: Mapping[str, str] | None = None, expect_ok: bool = True) -> Any:
    result = subprocess.run([SYSTEM_PYTHON, "-"], input=ring_script(ring_request(hosts, swift, str(folder), builders)),
                            capture_output=True, text=True, timeout=120)
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


def test_kept_builders_restore_a_lost_ring_folder_without_moving_anything(folder, tmp_path):
    kept = step(folder, HOSTS[:3])
    replaced = tmp_path / "replaced-host"
    rings = step(replaced, HOSTS[:3], builders={r: kept[r]["builder_b64"] for r in RINGS})
    for ring in RINGS:
        assert rings[ring]["builder_source"] == "kept" and not rings[ring]["rebalanced"]
        assert rings[ring]["ring_md5"] == kept[ring]["ring_md5"]
        assert rings[ring]["builder_id"] == kept[ring]["builder_id"]


def test_the_newer_of_folder_and_kept_builder_wins(folder):
    old = step(folder, HOSTS[:3])
    newer = step(folder, HOSTS[:2])  # the folder moved on; the kept copy is older
    rings = step(folder, HOSTS[:2], builders={r: old[r]["builder_b64"] for r in RINGS})
    for ring in RINGS:
        assert rings[ring]["builder_source"] == "folder" and rings[ring]["ring_md5"] == newer[ring]["ring_md5"]


def test_a_builder_of_another_lineage_is_refused(folder, tmp_path):
    other = step(tmp_path / "other-cluster", HOSTS[:3])
    step(folder, HOSTS[:3])
    before = md5s(folder)
    result = step(folder, HOSTS[:3], builders={r: other[r]["builder_b64"] for r in RINGS}, expect_ok=False)
    assert result.returncode == 2
    assert "created separately" in result.stderr and "account.builder" in result.stderr
    assert md5s(folder) == before


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
