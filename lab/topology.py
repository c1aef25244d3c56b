"""Where everything in the lab lives: one source of truth for names and addresses."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from images.image_set import ImageSpec

LAB_DIR = Path(__file__).resolve().parent
STATE_DIR = LAB_DIR / ".state"

NETWORK = "kolla-ha-lab"
SUBNET = ipaddress.ip_network("10.199.0.0/24")
GATEWAY = "10.199.0.1"
SSH_HOST_PATTERN = "10.199.0.*"
REGISTRY_IP = "10.199.0.2"
REGISTRY_PORT = 5000
FIRST_HOST_OCTET = 11
# Kept free for the dev stack's keepalived VIP.
VIP = "10.199.0.250"
DOCKER_TCP_PORT = 2375
# Every object the lab makes carries this label, so `down` finds exactly those.
LAB_LABEL = "org.kolla-ha.lab"
CONTAINER_PREFIX = "kolla-ha-lab-"

HOST_IMAGE = ImageSpec("lab-host", LAB_DIR / "images" / "host", "base")
REGISTRY_IMAGE = ImageSpec("lab-registry", LAB_DIR / "images" / "registry", "base")


@dataclass(frozen=True)
class LabHost:
    """A simulated server: hostname ctlN, address 10.199.0.(10+N)."""
    index: int

    @property
    def name(self) -> str:
        return f"ctl{self.index}"

    @property
    def address(self) -> str:
        address = SUBNET.network_address + FIRST_HOST_OCTET - 1 + self.index
        if str(address) == VIP or address not in SUBNET:
            raise ValueError(f"host {self.index} would get {address}; use fewer hosts")
        return str(address)

    @property
    def container(self) -> str:
        return CONTAINER_PREFIX + self.name

    @property
    def volume(self) -> str:
        return f"{self.container}-docker"

    @property
    def ssh_url(self) -> str:
        return f"ssh://root@{self.address}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.address}:{DOCKER_TCP_PORT}"


def lab_hosts(count: int) -> list[LabHost]:
    if count < 1:
        raise ValueError(f"--hosts {count}: a lab needs at least one host")
    return [LabHost(i) for i in range(1, count + 1)]


REGISTRY_CONTAINER = CONTAINER_PREFIX + "registry"
REGISTRY_VOLUME = REGISTRY_CONTAINER + "-data"
# Hosts pull from the lab address; the outer engine pushes via the published loopback
# port because Docker trusts 127.0.0.1 registries without an insecure-registry flag.
REGISTRY_FOR_HOSTS = f"{REGISTRY_IP}:{REGISTRY_PORT}"
REGISTRY_FOR_PUSH = f"127.0.0.1:{REGISTRY_PORT}"
