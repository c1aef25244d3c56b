"""Swift's three rings as data: which devices the inventory wants in them, and the
self-contained script that makes the builders and rings agree with that.

Pure. The program runs `ring_script(...)` on one storage host with the swift-storage
image's Python (`docker run -i ... python3 -`, the script on stdin) and copies the
rings it reports to every storage and proxy host; components/swift_ring_step.py is
that script's body and documents what it does and prints.
"""
from __future__ import annotations

import ast
import json
import pathlib
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from components.swift_settings import HOST_RING_DIR, RINGS, RSYNC_PORT, RSYNC_RING_MODULE, STORAGE_PORTS, SwiftTunables

STEP_SOURCE = pathlib.Path(__file__).resolve().parent / "swift_ring_step.py"
# The one line of the step's source that ring_script() replaces with the request.
REQUEST_MARKER = "REQUEST: dict | None = None  # ring_script() puts the request here"
# One region and one zone: Swift's ring already spreads the replicas of a partition
# over distinct hosts (the `ip` tier) before distinct devices, which is what a cloud
# without failure domains larger than a host wants.
REGION = 1
ZONE = 1


@dataclass(frozen=True, order=True)
class RingDevice:
    """One device of one ring, as Swift's RingBuilder.add_dev takes it."""

    ip: str
    port: int
    device: str
    weight: int
    region: int = REGION
    zone: int = ZONE

    @property
    def key(self) -> tuple[str, int, str]:
        """What identifies a device across runs: where it is, not its builder id."""
        return (self.ip, self.port, self.device)


def desired_devices(
    storage_addresses: Sequence[str], swift: SwiftTunables, ports: Mapping[str, int] = STORAGE_PORTS,
) -> dict[str, tuple[RingDevice, ...]]:
    """Every ring's devices: each configured device on each storage host, at the port
    of that ring's server. Sorted, so the same inventory gives the same request."""
    if not storage_addresses:
        raise ValueError("Swift needs at least one host in groups.storage")
    return {
        ring: tuple(sorted(
            RingDevice(ip=address, port=ports[ring], device=d.name, weight=d.weight)
            for address in storage_addresses for d in swift.devices
        ))
        for ring in RINGS
    }


def ring_request(
    storage_addresses: Sequence[str], swift: SwiftTunables, ring_dir: str = HOST_RING_DIR,
    peers: Sequence[str] = (), ports: Mapping[str, int] = STORAGE_PORTS, rsync_port: int = RSYNC_PORT,
) -> dict[str, Any]:
    """What the step needs, as JSON-ready data.

    `peers` are the other storage hosts, whose rsync daemons serve their copies of the
    builders (module RSYNC_RING_MODULE): the step takes the newest, so the host it runs
    on need not be the one that built the rings last."""
    return {
        "ring_dir": ring_dir,
        "part_power": swift.part_power,
        "replicas": swift.replicas,
        "min_part_hours": swift.min_part_hours,
        "rings": {ring: [asdict(d) for d in devices]
                  for ring, devices in desired_devices(storage_addresses, swift, ports).items()},
        "peers": list(peers),
        "rsync_port": rsync_port,
        "rsync_module": RSYNC_RING_MODULE,
    }


def ring_script(request: Mapping[str, Any]) -> str:
    """The step's source with `request` built in: one text to pipe into `python3 -`."""
    source = STEP_SOURCE.read_text()
    if source.count(REQUEST_MARKER) != 1:
        raise RuntimeError(f"{STEP_SOURCE} must hold the line {REQUEST_MARKER!r} exactly once")
    # JSON text inside a Python string literal: repr() escapes whatever JSON leaves in.
    literal = f"REQUEST: dict | None = json.loads({json.dumps(request, sort_keys=True)!r})"
    return source.replace(REQUEST_MARKER, literal)


def request_of(script: str) -> dict[str, Any]:
    """The request ring_script() built into `script` (what the step will do)."""
    prefix = "REQUEST: dict | None = json.loads("
    line = next(line for line in script.splitlines() if line.startswith(prefix))
    return json.loads(ast.literal_eval(line[len(prefix):-1]))
