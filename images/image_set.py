"""The kolla-ha images as data: which folder, which parent, in build order."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

IMAGES_DIR = Path(__file__).resolve().parent
NAMESPACE = "kolla-ha"
TAG = "zed"
# What offline machines use as BASE_IMAGE; images/rootfs.py makes it with debootstrap.
OFFLINE_BASE_IMAGE = "kolla-ha/debian:bookworm"


@dataclass(frozen=True)
class ImageSpec:
    name: str
    context: Path
    parent: Optional[str]  # another ImageSpec's name; None for the base

    @property
    def local_ref(self) -> str:
        return f"{NAMESPACE}/{self.name}:{TAG}"

    def ref_in(self, registry: str) -> str:
        return f"{registry}/{NAMESPACE}/{self.name}:{TAG}"


def _image(name: str, parent: str) -> ImageSpec:
    return ImageSpec(name, IMAGES_DIR / name, parent)


# Infrastructure and storage daemons on the base; OpenStack's Python services on the
# shared openstack-base (their common libraries built and pushed once).
INFRA_NAMES = ("mariadb-server", "rabbitmq", "haproxy", "keepalived", "memcached", "swift-storage", "ceph")
OPENSTACK_NAMES = (
    "keystone", "glance-api", "placement-api", "nova-api", "neutron-server", "cinder-api",
    "horizon", "swift-proxy", "cinder-scheduler", "cinder-volume",
)
SERVICE_NAMES = INFRA_NAMES + OPENSTACK_NAMES
BASE = ImageSpec("base", IMAGES_DIR / "base", None)
OPENSTACK_BASE = ImageSpec("openstack-base", IMAGES_DIR / "openstack-base", "base")
KOLLA_IMAGES: tuple[ImageSpec, ...] = (
    BASE, *(_image(n, "base") for n in INFRA_NAMES), OPENSTACK_BASE, *(_image(n, "openstack-base") for n in OPENSTACK_NAMES),
)
