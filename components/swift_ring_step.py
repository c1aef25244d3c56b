"""Make Swift's account, container and object rings agree with the wanted devices.

Runs with a Python that has Swift (the swift-storage image's, or Debian's python3-swift)
and the standard library only: components/swift_rings.ring_script() embeds the request
below, and the result is one text to pipe into `python3 -`. Run as a file it reads the
request as JSON on stdin instead.

For each ring, in REQUEST["ring_dir"]:
- the builder is the newest of `<ring>.builder` in the folder and the copies every other
  storage host (REQUEST["peers"]) serves in the `rings` module of its rsync daemon: the
  program writes the builders to every storage host, so a first storage host that lost
  its folder (re-installed, or new in that place) takes them from the others. They must
  all be of one lineage (one builder id). A new builder (part_power, replicas,
  min_part_hours) is made only when no host has one and every peer answered: a silent
  peer may hold the builders of rings that hold data;
- devices not wanted are removed, missing ones added, weights/regions/zones set; the
  replica count is the wanted one, or the number of devices while there are fewer;
- it rebalances when something changed, or when a rebalance would now move parts that
  min_part_hours held back before. Swift moves no partition twice within min_part_hours
  (except off removed devices): what it holds back is reported as `deferred`, with the
  seconds until a later run can finish the job;
- `<ring>.builder` and `<ring>.ring.gz` are replaced atomically, and only when their
  content changes: running it again with the same request touches nothing, and the
  ring's md5 stays the same. Swift's servers reload a ring file that changed by
  themselves (every 15 s).

It prints one JSON object: per ring the md5 and bytes (base64) of the ring and of the
builder, its devices with their partition counts, balance, dispersion, what changed,
whether it rebalanced, moved parts, and whether work is deferred. Exit status 2 with a
message on stderr when the request cannot be met (e.g. a different part power).
"""
import base64
import copy
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from swift.common.ring import RingBuilder

REQUEST: dict | None = None  # ring_script() puts the request here

RINGS = ("account", "container", "object")
# rebalance() draws at random; a fixed seed makes the same request give the same ring.
SEED = 1
# swift-ring-builder's own threshold: a rebalance that changes balance or dispersion by
# less than 1 % is not worth the data it moves.
WORTH_PERCENT = 1.0


class RequestError(Exception):
    """The request cannot be met as it stands; the message says what to change."""


def _peer_copies(request, folder):
    """{peer: folder of the builders it serves, or None when it did not answer}."""
    copies = {}
    for peer in request.get("peers", []):
        dest = folder / ".scratch" / "peers" / peer
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        # Top-level builders only; an empty module is an answer too.
        url = f"rsync://{peer}:{request['rsync_port']}/{request['rsync_module']}/"
        done = subprocess.run(
            ["rsync", "--recursive", "--contimeout=5", "--timeout=60", "--include=*.builder", "--exclude=*",
             url, f"{dest}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        copies[peer] = dest if done.returncode == 0 else None
    return copies


def _choose_builder(ring, folder, peers):
    """(builder or None, where it came from)."""
    candidates = []
    path = folder / f"{ring}.builder"
    if path.exists():
        candidates.append(("folder", RingBuilder.load(str(path))))
    for peer, copy in peers.items():
        if copy is not None and (copy / f"{ring}.builder").exists():
            candidates.append((f"peer {peer}", RingBuilder.load(str(copy / f"{ring}.builder"))))
    if not candidates:
        silent = [peer for peer, copy in peers.items() if copy is None]
        if silent:
            raise RequestError(
                f"there is no {ring}.builder here, and {', '.join(silent)} did not answer on its rsync daemon: "
                f"a host that does not answer may hold the builders of rings that already hold data, and a new "
                f"builder would move every partition. Bring back its swift_rsyncd container, or take the host "
                f"out of groups.storage, then run again.")
        return None, "new"
    lineages = {builder._id for _, builder in candidates}
    if len(lineages) > 1:
        where = ", ".join(f"{source} (builder id {builder._id})" for source, builder in candidates)
        raise RequestError(
            f"the {ring}.builder files of {where} were created separately: choosing either could move every "
            f"partition. Remove the wrong {ring}.builder (in the ring folder of those hosts), then run again.")
    # The newest wins; on a tie this host's own copy, which needs no rewrite.
    source, builder = max(candidates, key=lambda c: (c[1].version, c[0] == "folder"))
    return builder, source


def _wanted_replicas(request, devices):
    return min(int(request["replicas"]), len(devices))


def _apply_devices(builder, wanted):
    """Make the builder's devices the wanted ones; returns what changed."""
    by_key = {(d["ip"], d["port"], d["device"]): d for d in wanted}
    have = {(d["ip"], d["port"], d["device"]): d for d in builder._iter_devs()}
    changes = {"added": [], "removed": [], "updated": []}
    for key, dev in sorted(have.items()):
        if key not in by_key:
            builder.remove_dev(dev["id"])
            changes["removed"].append(_label(key))
    for key, want in sorted(by_key.items()):
        dev = have.get(key)
        if dev is None:
            builder.add_dev({
                "region": want["region"], "zone": want["zone"], "ip": want["ip"], "port": want["port"],
                "replication_ip": want["ip"], "replication_port": want["port"],
                "device": want["device"], "weight": float(want["weight"]), "meta": "",
            })
            changes["added"].append(_label(key))
            continue
        if dev["weight"] != float(want["weight"]):
            builder.set_dev_weight(dev["id"], float(want["weight"]))
            changes["updated"].append(_label(key))
        if dev["region"] != want["region"]:
            builder.set_dev_region(dev["id"], want["region"])
            changes["updated"].append(_label(key))
        if dev["zone"] != want["zone"]:
            builder.set_dev_zone(dev["id"], want["zone"])
            changes["updated"].append(_label(key))
    return changes


def _label(key):
    ip, port, device = key
    return f"{ip}:{port}/{device}"


def _worth_it(before, after, moved):
    """Whether a rebalance that moved `moved` parts is worth saving (swift-ring-builder's rule)."""
    balance_before, dispersion_before = before
    balance_after, dispersion_after = after
    return moved > 0 and (abs(balance_before - balance_after) >= WORTH_PERCENT
                          or abs(dispersion_before - dispersion_after) >= WORTH_PERCENT)


def _held_back(builder):
    """Parts a rebalance would still move once min_part_hours has passed."""
    if builder.min_part_seconds_left <= 0:
        return 0
    later = copy.deepcopy(builder)
    later.pretend_min_part_hours_passed()
    before = (later.get_balance(), later.dispersion)
    moved, balance, _ = later.rebalance(seed=SEED)
    return moved if _worth_it(before, (balance, later.dispersion), moved) else 0


def _replace_if_changed(folder, name, data):
    """Write `data` to folder/name atomically unless it is already there; True if written."""
    path = folder / name
    if path.exists() and path.read_bytes() == data:
        return False
    staging = folder / f".{name}.staging"
    staging.write_bytes(data)
    os.chmod(staging, 0o644)
    os.replace(staging, path)
    return True


def _ring_bytes(builder, folder, ring):
    # RingData.save writes a fixed gzip mtime and the file's base name into the gzip
    # header: saved under its final name in a scratch folder, equal rings give equal
    # bytes (and md5s, what swift-recon --md5 compares across nodes).
    scratch = folder / ".scratch"
    scratch.mkdir(exist_ok=True)
    cwd = os.getcwd()
    os.chdir(scratch)  # RingData.save makes its temporary file in the current folder
    try:
        builder.get_ring().save(f"{ring}.ring.gz")
        return (scratch / f"{ring}.ring.gz").read_bytes()
    finally:
        os.chdir(cwd)


def _builder_bytes(builder, folder, ring):
    scratch = folder / ".scratch"
    scratch.mkdir(exist_ok=True)
    builder.save(str(scratch / f"{ring}.builder"))
    return (scratch / f"{ring}.builder").read_bytes()


def reconcile_ring(ring, request, folder, peers):
    wanted = request["rings"][ring]
    if not wanted:
        raise RequestError(f"the {ring} ring would have no devices: Swift needs at least one storage host")
    builder, source = _choose_builder(ring, folder, peers)
    replicas = _wanted_replicas(request, wanted)
    if builder is None:
        builder = RingBuilder(int(request["part_power"]), replicas, int(request["min_part_hours"]))
    elif builder.part_power != int(request["part_power"]):
        raise RequestError(
            f"the {ring} ring has part power {builder.part_power} but {request['part_power']} is asked: "
            f"Swift changes a part power only through its online relinking procedure, which this "
            f"step does not run; set swift.part_power back to {builder.part_power}")
    version_before = builder.version
    replicas_before = builder.replicas
    min_part_hours_before = builder.min_part_hours
    if builder.min_part_hours != int(request["min_part_hours"]):
        builder.change_min_part_hours(int(request["min_part_hours"]))
    changes = _apply_devices(builder, wanted)
    if builder.replicas != replicas:
        builder.set_replicas(replicas)
    must_rebalance = builder.devs_changed or not builder.ever_rebalanced
    before = (builder.get_balance(), builder.dispersion) if builder.ever_rebalanced else (0.0, 0.0)
    moved = 0
    rebalanced = False
    if must_rebalance:
        moved, _, _ = builder.rebalance(seed=SEED)
        rebalanced = True
    else:
        # Nothing changed since the last run; a rebalance may still finish what
        # min_part_hours held back then. Tried on a copy: an idle run changes nothing.
        trial = copy.deepcopy(builder)
        trial_moved, balance, _ = trial.rebalance(seed=SEED)
        if _worth_it(before, (balance, trial.dispersion), trial_moved):
            builder, moved, rebalanced = trial, trial_moved, True
    pending = _held_back(builder)
    builder_changed = (rebalanced or source != "folder" or builder.version != version_before
                       or builder.replicas != replicas_before or builder.min_part_hours != min_part_hours_before
                       or any(changes.values()))
    if builder_changed:
        previous = folder / f"{ring}.builder"
        if previous.exists() and source == "folder" and rebalanced:
            backups = folder / "backups"
            backups.mkdir(exist_ok=True)
            (backups / f"{int(time.time())}.{ring}.builder").write_bytes(previous.read_bytes())
        _replace_if_changed(folder, f"{ring}.builder", _builder_bytes(builder, folder, ring))
    builder_data = (folder / f"{ring}.builder").read_bytes()
    ring_data = _ring_bytes(builder, folder, ring)
    ring_written = _replace_if_changed(folder, f"{ring}.ring.gz", ring_data)
    return {
        "ring_md5": hashlib.md5(ring_data).hexdigest(),
        "ring_b64": base64.b64encode(ring_data).decode(),
        "builder_md5": hashlib.md5(builder_data).hexdigest(),
        "builder_b64": base64.b64encode(builder_data).decode(),
        "builder_id": builder._id,
        "builder_source": source,
        "version": builder.version,
        "part_power": builder.part_power,
        "replicas": builder.replicas,
        "min_part_hours": builder.min_part_hours,
        "devices": [
            {k: d[k] for k in ("id", "region", "zone", "ip", "port", "device", "weight", "parts")}
            for d in sorted(builder._iter_devs(), key=lambda d: d["id"])
        ],
        **changes,
        "rebalanced": rebalanced,
        "parts_moved": moved,
        "ring_written": ring_written,
        "balance": round(builder.get_balance(), 2),
        "dispersion": round(builder.dispersion, 2),
        "deferred": pending > 0,
        "deferred_parts": pending,
        "retry_after_s": builder.min_part_seconds_left if pending else 0,
    }


def run(request):
    folder = pathlib.Path(request["ring_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    peers = _peer_copies(request, folder)
    return {"rings": {ring: reconcile_ring(ring, request, folder, peers) for ring in RINGS}}


def main():
    request = REQUEST if REQUEST is not None else json.load(sys.stdin)
    try:
        result = run(request)
    except RequestError as error:
        print(f"swift rings: {error}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
