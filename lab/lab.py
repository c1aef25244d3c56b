"""The lab as one object: `Lab(hosts=3).up()`, `.status()`, `.down()`.

End-to-end tests use this API; `python3 -m lab` is a thin CLI over it. Every step
checks what exists first, so `up` on a lab that is already up changes nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from images.build import build_images
from images.docker_cli import docker, exists, output
from images.image_set import KOLLA_IMAGES, OFFLINE_BASE_IMAGE, ImageSpec
from lab import topology as t
from lab.docker_engine import ensure_engine
from lab.hosts import HostHealth, ensure_host, ensure_volume, health, wait_until_answering
from lab.registry import ensure_registry, push_images, registry_answers
from lab.ssh_access import SshAccess
from images.file_lock import exclusive
from lab.topology import LabHost, lab_hosts

DEFAULT_HOSTS = 3


@dataclass(frozen=True)
class LabStatus:
    registry_ok: bool
    hosts: list[HostHealth]

    @property
    def healthy(self) -> bool:
        return self.registry_ok and bool(self.hosts) and all(
            h.ssh_ok and h.tcp_ok for h in self.hosts)


class Lab:
    network = t.NETWORK
    vip = t.VIP
    registry = t.REGISTRY_FOR_HOSTS          # what hosts (and the program) pull from
    push_registry = t.REGISTRY_FOR_PUSH      # what the outer engine pushes to

    def __init__(self, hosts: Optional[int] = None, state_dir: Path = t.STATE_DIR,
                 base_image: str = OFFLINE_BASE_IMAGE) -> None:
        # None means "as many as already run, else the default", so `status` and
        # `down` work without being told the size the lab was created with.
        self._count = hosts
        self.state_dir = state_dir
        self.base_image = base_image
        self.ssh = SshAccess(state_dir, host_pattern=t.SSH_HOST_PATTERN)

    # -- what exists ---------------------------------------------------------------
    @staticmethod
    def existing_hosts() -> list[LabHost]:
        names = output(["ps", "-a", "--filter", f"label={t.LAB_LABEL}=host",
                        "--format", "{{.Names}}"], check=False).split()
        return sorted((LabHost(int(n.removeprefix(t.CONTAINER_PREFIX + "ctl"))) for n in names
                       if n.startswith(t.CONTAINER_PREFIX + "ctl")), key=lambda h: h.index)

    @property
    def hosts(self) -> list[LabHost]:
        if self._count is not None:
            return lab_hosts(self._count)
        return self.existing_hosts() or lab_hosts(DEFAULT_HOSTS)

    @property
    def key_path(self) -> Path:
        return self.ssh.private_key

    @property
    def ssh_config_path(self) -> Path:
        return self.ssh.ssh_config

    def image_ref(self, name: str) -> str:
        """How lab hosts name a kolla-ha image, e.g. 10.199.0.2:5000/kolla-ha/haproxy:zed."""
        return {s.name: s for s in KOLLA_IMAGES}[name].ref_in(self.registry)

    def exists(self) -> bool:
        return bool(self.existing_hosts()) or exists("container", t.REGISTRY_CONTAINER)

    # -- lifecycle -----------------------------------------------------------------
    def up(self, images: Sequence[ImageSpec] = KOLLA_IMAGES, log: Callable[[str], None] = print) -> LabStatus:
        with exclusive(self.state_dir / "lock"):
            return self._up(images, log)

    def down(self) -> None:
        with exclusive(self.state_dir / "lock"):
            self._down()

    def _up(self, images: Sequence[ImageSpec], log: Callable[[str], None]) -> LabStatus:
        started = time.monotonic()
        if ensure_engine(self.state_dir):
            log(f"started dockerd (log {self.state_dir / 'dockerd.log'})")
        built = build_images([*images, t.HOST_IMAGE, t.REGISTRY_IMAGE], self.base_image, log=log)
        public_key = self.ssh.ensure_key()
        self.ssh.install_config()
        self._ensure_network()
        ensure_registry(built[t.REGISTRY_IMAGE.name].image_id)
        push_images(images, log)
        wanted = self.hosts
        for extra in set(self.existing_hosts()) - set(wanted):
            self._remove_host(extra)
        for host in wanted:
            ensure_volume(host)
            ensure_host(host, built[t.HOST_IMAGE.name].image_id, public_key)
        for host in wanted:
            wait_until_answering(host)
        log(f"lab up: {len(wanted)} hosts in {time.monotonic() - started:.1f}s")
        return self.status()

    def status(self) -> LabStatus:
        return LabStatus(registry_answers(), [health(h) for h in self.existing_hosts()])

    def _down(self) -> None:
        for host in self.existing_hosts():
            self._remove_host(host)
        if exists("container", t.REGISTRY_CONTAINER):
            docker(["rm", "-f", "-v", t.REGISTRY_CONTAINER])
        volumes = output(["volume", "ls", "-q", "--filter", f"label={t.LAB_LABEL}"], check=False)
        for volume in {*volumes.split(), t.REGISTRY_VOLUME}:
            if exists("volume", volume):
                docker(["volume", "rm", volume])
        if exists("network", t.NETWORK):
            docker(["network", "rm", t.NETWORK])
        # Tags pointing at the loopback registry are meaningless once it is gone.
        for spec in KOLLA_IMAGES:
            docker(["rmi", spec.ref_in(t.REGISTRY_FOR_PUSH)], check=False)
        self.ssh.remove()
        # Deployments lived in these hosts: executor state that still listed their
        # resources would plan them as unchanged against hosts that no longer exist.
        for state in [*self.state_dir.glob("engine-*.json"), *self.state_dir.glob("hosts-*.json")]:
            state.unlink()

    # -- steps ---------------------------------------------------------------------
    def _ensure_network(self) -> None:
        if exists("network", t.NETWORK):
            return
        docker(["network", "create", "--driver", "bridge", "--label", f"{t.LAB_LABEL}=network",
                "--subnet", str(t.SUBNET), "--gateway", t.GATEWAY,
                # Docker names the bridge after the network id; a fixed name makes the
                # lab easy to find with `ip link`.
                "-o", "com.docker.network.bridge.name=kolla-ha-lab", t.NETWORK])

    @staticmethod
    def _remove_host(host: LabHost) -> None:
        if exists("container", host.container):
            docker(["rm", "-f", host.container])
        if exists("volume", host.volume):
            docker(["volume", "rm", host.volume])
