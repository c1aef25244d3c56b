"""Swift's storage tier: the storage daemons on the `storage` group and the rings every
storage and proxy host reads.

In the order Pulumi runs it:

1. `swift_rsyncd` on every storage host, one host after the other. Replication pushes
   partitions through it, and its read-only `rings` module serves the host's copy of
   the ring builders. It reads no ring itself, so it comes first.
2. The ring step (`<first storage host>-swift_rings`): the swift-storage image's Python
   runs components/swift_ring_step.py (`docker run -i ... python3 -`, the script on
   stdin) against the host folder HOST_RING_DIR. It takes the newest builders of this
   host and of every other storage host's rsync daemon, makes the rings agree with the
   inventory (rebalance, min_part_hours respected) and prints every ring and builder
   (base64 and md5). It runs again only when the inventory's devices or the ring
   tunables change, or with `pulumi up --replace` to finish a deferred rebalance.
3. `<host>-swift_ring_files` on every storage and proxy host: the rings (and, on storage
   hosts, the builders) from the step's output, written next to the old ones and renamed
   over them. Swift's daemons notice a new ring file within 15 s and load it; no
   container is replaced for a new ring.
4. The thirteen other daemons of each storage host, all of one host at once, one host
   after the other: the next host starts only when every daemon of this one is healthy.

The builders are therefore kept three ways: in the first storage host's folder, on every
other storage host (written with the rings), and in the step's output in the Pulumi
state. Whichever storage host is first next time has them.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_command as command

from components.host import HostNode
from components.kolla import HealthCheck, KollaFile, KollaService, service_container
from components.passwords import Passwords
from components.rolling import roll
from components.swift_rings import ring_request, ring_script
from components.swift_settings import HOST_RING_DIR, RINGS, SwiftTunables
from components.swift_storage import (
    CONFIG_FILES, IMAGE, STORAGE_DAEMONS, StorageDaemon, daemon_mounts, daemon_permissions, health_probe,
    render_storage_files, storage_context,
)

# A ring step that runs longer than this is stopped: rebalancing 2^18 partitions takes a
# minute or two; anything beyond ten is stuck.
RING_STEP_TIMEOUT_S = 600
# Daemons without a port are only checked for running; every 30 s is plenty, and 14
# containers a host probing every 10 s would cost the lab's two cores for nothing.
PROCESS_PROBE_INTERVAL_S = 30


def ring_step_script(image_id: str) -> str:
    """Shell run on the first storage host: the ring step, from stdin, in the image."""
    return "\n".join([
        "set -eu",
        f"install -d -m 0755 {HOST_RING_DIR}",
        # Host network: the step reaches the other storage hosts' rsync daemons.
        f"exec timeout {RING_STEP_TIMEOUT_S} docker run --rm -i --network host --entrypoint python3 "
        f"--volume {HOST_RING_DIR}:{HOST_RING_DIR} {shlex.quote(image_id)} -",
    ]) + "\n"


def ring_files_input(summary: str, builders: bool) -> str:
    """What `<host>-swift_ring_files` reads on stdin: `<file> <md5> <base64>` per line,
    from the step's JSON summary; builders only for storage hosts."""
    rings = json.loads(summary)["rings"]
    lines = []
    for ring in RINGS:
        lines.append(f"{ring}.ring.gz {rings[ring]['ring_md5']} {rings[ring]['ring_b64']}")
        if builders:
            lines.append(f"{ring}.builder {rings[ring]['builder_md5']} {rings[ring]['builder_b64']}")
    return "\n".join(lines) + "\n"


def write_ring_files_script() -> str:
    """Write each file from stdin unless it is there already: next to the old one, checked
    against its md5, then renamed over it (a daemon never reads half a ring)."""
    return "\n".join([
        "set -eu",
        f"dir={HOST_RING_DIR}",
        'install -d -m 0755 "$dir"',
        "while read -r name md5 data; do",
        '  [ -n "$name" ] || continue',
        '  if [ -f "$dir/$name" ] && [ "$(md5sum < "$dir/$name" | cut -d " " -f 1)" = "$md5" ]; then',
        "    continue",
        "  fi",
        '  printf "%s" "$data" | base64 -d > "$dir/.$name.new"',
        '  echo "$md5  $dir/.$name.new" | md5sum -c --quiet -',
        '  chmod 0644 "$dir/.$name.new"',
        '  mv -f "$dir/.$name.new" "$dir/$name"',
        '  echo "kolla-ha: $dir/$name written"',
        "done",
    ]) + "\n"


def remove_ring_files_script() -> str:
    return f"rm -rf {HOST_RING_DIR}\n"


def deferred_warnings(summary: str, step_urn: str) -> list[str]:
    """What to tell the operator when min_part_hours held part of a rebalance back."""
    warnings = []
    for ring, found in json.loads(summary)["rings"].items():
        if found["deferred"]:
            warnings.append(
                f"swift: the {ring} ring holds back {found['deferred_parts']} partition moves for "
                f"min_part_hours; once {found['retry_after_s']} s have passed, finish the rebalance with "
                f"`pulumi up --replace '{step_urn}'` (a step whose inputs did not change does not run again)")
    return warnings


def ring_md5s(summary: str) -> dict[str, str]:
    return {ring: found["ring_md5"] for ring, found in json.loads(summary)["rings"].items()}


def storage_folders(swift: SwiftTunables) -> tuple[str, ...]:
    """What host preparation makes on a storage host: each device's folder (a disk's
    mount point in production) and the ring folder."""
    return tuple(f"/srv/node/{d.name}" for d in swift.devices) + (HOST_RING_DIR,)


@dataclass(frozen=True)
class SwiftStorageArgs:
    storage: Sequence[HostNode]
    # Hosts of the proxies (swift-proxy-server's group): they read the same rings.
    proxies: Sequence[HostNode]
    settings: Mapping[str, Any]
    passwords: Passwords
    memcached_servers: str


def daemon_service(daemon: StorageDaemon, host: HostNode, files: pulumi.Output[dict[str, str]],
                   swift: SwiftTunables) -> KollaService:
    """One storage daemon's container on `host`, as the kolla contract wants it."""
    mounts = daemon_mounts(daemon)
    return KollaService(
        name=daemon.container,
        image=IMAGE,
        command=daemon.command,
        files=[KollaFile(name, CONFIG_FILES[name].dest, CONFIG_FILES[name].owner, CONFIG_FILES[name].perm,
                         files.apply(lambda f, n=name: f[n]))
               for name in daemon.files],
        volumes=[(source, path) for source, path, _ in mounts if not source.startswith("/")],
        host_dirs=[(source, path) for source, path, read_only in mounts if source.startswith("/") and read_only],
        data_dirs=[(source, path) for source, path, read_only in mounts if source.startswith("/") and not read_only],
        permissions=daemon_permissions(daemon, swift),
        healthcheck=HealthCheck(
            test=health_probe(daemon, host.spec.address),
            interval_s=PROCESS_PROBE_INTERVAL_S if daemon.probe == "process" else 10,
            retries=3 if daemon.probe == "process" else 6,
        ),
    )


class SwiftStorageNode(pulumi.ComponentResource):
    """The daemons of one storage host (not rsyncd): the unit the tier rolls by. Another
    resource's depends_on this component waits for every one of its containers."""

    def __init__(self, host: HostNode, services: Sequence[KollaService], waits_on: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:swift:SwiftStorageNode", f"{host.spec.name}-swift-storage", None, opts)
        self.containers = [service_container(host, svc, parent=self, depends_on=waits_on) for svc in services]
        self.register_outputs({})


class SwiftStorage(pulumi.ComponentResource):
    def __init__(self, name: str, args: SwiftStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:swift:SwiftStorage", name, None, opts)
        swift = SwiftTunables.model_validate(dict(args.settings))
        storage_specs = [h.spec for h in args.storage]
        secrets = pulumi.Output.all(
            swift_hash_path_prefix=args.passwords.password("swift_hash_path_prefix", special=False),
            swift_hash_path_suffix=args.passwords.password("swift_hash_path_suffix", special=False),
        )
        files = {
            h.spec.name: secrets.apply(lambda s, node=h.spec: render_storage_files(
                storage_context(node, storage_specs, swift, args.memcached_servers, s)))
            for h in args.storage
        }
        rsyncd = next(d for d in STORAGE_DAEMONS if d.probe == "rsync")
        ring_readers = [d for d in STORAGE_DAEMONS if d is not rsyncd]

        def prepared(host: HostNode) -> list[pulumi.Resource]:
            return [host.prepared] if host.prepared is not None else []

        def rsync_member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            return service_container(host, daemon_service(rsyncd, host, files[host.spec.name], swift),
                                     parent=self, depends_on=[*waits_on, *prepared(host)])

        rsync_ready = roll(args.storage, rsync_member).ready

        first = args.storage[0]
        request = ring_request([h.spec.address for h in args.storage], swift,
                               peers=[h.spec.address for h in args.storage[1:]])
        self.ring_step = command.remote.Command(
            f"{first.spec.name}-swift_rings",
            connection=first.connection,
            create=first.image(IMAGE).image_id.apply(ring_step_script),
            stdin=ring_script(request),
            # stdout is the summary with every ring and builder in base64: kept in the
            # state, not printed; a refusal's reason is on stderr.
            logging="stderr",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[rsync_ready]),
        )
        summary = self.ring_step.stdout
        self.deferred = pulumi.Output.all(summary, self.ring_step.urn).apply(
            lambda a: [pulumi.log.warn(w) or w for w in deferred_warnings(a[0], a[1])])
        self.ring_md5s = summary.apply(ring_md5s)

        storage_names = {h.spec.name for h in args.storage}
        readers = {h.spec.name: h for h in [*args.storage, *args.proxies]}
        self.ring_files: dict[str, pulumi.Resource] = {
            name: command.remote.Command(
                f"{name}-swift_ring_files",
                connection=host.connection,
                create=write_ring_files_script(),
                delete=remove_ring_files_script(),
                stdin=summary.apply(lambda s, b=name in storage_names: ring_files_input(s, b)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ring_step, *prepared(host)]),
            )
            for name, host in readers.items()
        }

        def member(host: HostNode, waits_on: list[pulumi.Resource]) -> pulumi.Resource:
            services = [daemon_service(d, host, files[host.spec.name], swift) for d in ring_readers]
            return SwiftStorageNode(host, services, [*waits_on, self.ring_files[host.spec.name]],
                                    opts=pulumi.ResourceOptions(parent=self))

        self.nodes = roll(args.storage, member)
        self.ready: pulumi.Resource = self.nodes.ready
        # Registered, so the warnings are said before the deployment ends.
        self.register_outputs({"ring_md5s": self.ring_md5s, "deferred": self.deferred})
