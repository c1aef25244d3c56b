"""The kolla container contract, in one place.

Every service container kolla-ha runs is made here: host networking, config files and a
`config.json` uploaded into /var/lib/kolla/config_files/ (kolla_start copies them with
their owner and mode), KOLLA_CONFIG_STRATEGY=COPY_ALWAYS, named volumes, a restart
policy, a health check, and `wait` so a container only counts as created once healthy.
That last point is what makes a depends_on chain of containers a rolling update gated
on health (components/rolling.py). Steps run to completion are components/one_shot.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_docker as docker

from components.host import HostNode

CONFIG_DIR = "/var/lib/kolla/config_files"
LOG_OPTS = {"max-size": "50m", "max-file": "5"}
# CPU weight of the tiers every OpenStack service waits on (database, message queue,
# load balancer, cache): four times Docker's default 1024. It only matters while the
# host's CPUs are all busy, which is exactly a boot after a power loss, when every
# service on the host starts at once; the services then find their database and broker
# up instead of retrying against them. Measured: README, "Tuning for failover".
INFRASTRUCTURE_CPU_SHARES = 4096


@dataclass(frozen=True)
class KollaFile:
    """One config file: rendered content, where kolla_start copies it, owner and mode."""

    name: str
    dest: str
    owner: str
    perm: str
    content: pulumi.Input[str] | None
    # Where kolla_start reads it, when not uploaded with the container: a file on a host
    # folder mounted into the container, which can change without replacing it.
    source: str | None = None


@dataclass(frozen=True)
class HealthCheck:
    test: str
    interval_s: int = 10
    timeout_s: int = 10
    retries: int = 6
    start_period_s: int = 10


def tcp_probe(address: str, port: int) -> str:
    """Healthy while something accepts TCP connections on address:port. Docker runs a
    CMD-SHELL test with /bin/sh (dash), which has no /dev/tcp; bash has. A connection
    closed before any byte is sent is logged by neither socat nor RabbitMQ."""
    return f"bash -c '</dev/tcp/{address}/{port}'"


@dataclass(frozen=True)
class KollaService:
    """What a tier asks of one container on one host."""

    name: str
    image: str
    command: str
    files: Sequence[KollaFile] = ()
    volumes: Sequence[tuple[str, str]] = ()
    # (host folder, container path) bind mounts, read-only
    host_dirs: Sequence[tuple[str, str]] = ()
    # (host folder, container path) bind mounts, read-write: data that lives on the host
    # itself (Swift's devices, a shared image store), outside any Docker volume.
    data_dirs: Sequence[tuple[str, str]] = ()
    # Block devices of the host handed to the container at the same path (Ceph OSDs).
    devices: Sequence[str] = ()
    permissions: Sequence[dict[str, object]] = ()
    healthcheck: HealthCheck | None = None
    capabilities: Sequence[str] = ()
    hosts: Sequence[tuple[str, str]] = ()
    # (name, soft, hard) resource limits, e.g. ("nofile", 81024, 81024)
    ulimits: Sequence[tuple[str, int, int]] = ()
    wait_timeout_s: int = 300
    stop_grace_s: int = 30
    labels: dict[str, str] = field(default_factory=dict)
    # Relative CPU weight (Docker's --cpu-shares); None keeps Docker's default, 1024.
    cpu_shares: int | None = None


def config_json(command: str, files: Sequence[KollaFile], permissions: Sequence[dict[str, object]]) -> str:
    """The config.json kolla_start reads: what to copy where, then what to exec."""
    return json.dumps(
        {
            "command": command,
            "config_files": [
                {"source": f.source or f"{CONFIG_DIR}/{f.name}", "dest": f.dest, "owner": f.owner, "perm": f.perm}
                for f in files
            ],
            "permissions": list(permissions),
        },
        indent=2,
        sort_keys=True,
    )


def _uploads(svc: KollaService) -> list[docker.ContainerUploadArgs]:
    # Uploads land root-only: they may hold passwords until kolla_start re-owns the copy.
    uploads = [
        docker.ContainerUploadArgs(
            file=f"{CONFIG_DIR}/config.json",
            content=config_json(svc.command, svc.files, svc.permissions),
            permissions="0600",
        )
    ]
    uploads += [
        docker.ContainerUploadArgs(file=f"{CONFIG_DIR}/{f.name}", content=f.content, permissions="0600")
        for f in svc.files
        if f.source is None
    ]
    return uploads


def _base_args(host: HostNode, svc: KollaService) -> dict[str, object]:
    image = host.image(svc.image)
    # The volume's name as a plain string (the volume resource is in depends_on): an
    # input fed from a delete-before-replace resource would let the engine delete this
    # container, and every other one using the volume, before the volume.
    volumes = [
        docker.ContainerVolumeArgs(volume_name=vol, container_path=path)
        for vol, path in svc.volumes
    ] + [
        docker.ContainerVolumeArgs(host_path=src, container_path=path, read_only=True)
        for src, path in svc.host_dirs
    ] + [
        docker.ContainerVolumeArgs(host_path=src, container_path=path)
        for src, path in svc.data_dirs
    ]
    labels = {"kolla-ha.service": svc.name, "kolla-ha.host": host.spec.name, **svc.labels}
    return dict(
        name=svc.name,
        image=image.image_id,
        network_mode="host",
        envs=["KOLLA_CONFIG_STRATEGY=COPY_ALWAYS", f"KOLLA_SERVICE_NAME={svc.name}"],
        uploads=_uploads(svc),
        volumes=volumes,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
        hosts=[docker.ContainerHostArgs(host=n, ip=ip) for n, ip in svc.hosts] or None,
        capabilities=docker.ContainerCapabilitiesArgs(adds=list(svc.capabilities)) if svc.capabilities else None,
        ulimits=[docker.ContainerUlimitArgs(name=n, soft=soft, hard=hard) for n, soft, hard in svc.ulimits] or None,
        devices=[docker.ContainerDeviceArgs(host_path=d, container_path=d, permissions="rwm") for d in svc.devices]
        or None,
        log_driver="json-file",
        log_opts=LOG_OPTS,
        # Changed in place (`docker update`), no restart (PULUMI-ENGINE.md §1).
        cpu_shares=svc.cpu_shares,
    )


def _options(
    host: HostNode, svc: KollaService, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource]
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(
        parent=parent,
        provider=host.provider,
        depends_on=[*depends_on, *(host.volume(vol) for vol, _ in svc.volumes)],
        # Names are fixed (kolla style), so the old container must go before the new one.
        delete_before_replace=True,
        # A healthcheck edit is applied in place by the provider but never reaches the
        # running container; replacing is the only way it takes effect.
        replace_on_changes=["healthcheck"],
    )


def service_container(
    host: HostNode,
    svc: KollaService,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> docker.Container:
    """A long-running kolla container that counts as created only once healthy."""
    hc = svc.healthcheck
    health = (
        docker.ContainerHealthcheckArgs(
            tests=["CMD-SHELL", hc.test],
            interval=f"{hc.interval_s}s",
            timeout=f"{hc.timeout_s}s",
            retries=hc.retries,
            start_period=f"{hc.start_period_s}s",
        )
        if hc
        else None
    )
    return docker.Container(
        f"{host.spec.name}-{svc.name}",
        **_base_args(host, svc),
        restart="unless-stopped",
        must_run=True,
        healthcheck=health,
        wait=hc is not None,
        wait_timeout=svc.wait_timeout_s,
        destroy_grace_seconds=svc.stop_grace_s,
        opts=_options(host, svc, parent, depends_on),
    )
