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


def _service(name: str) -> ImageSpec:
    return ImageSpec(name, IMAGES_DIR / name, "base")


SERVICE_NAMES = (
    "mariadb-server", "rabbitmq", "haproxy", "keepalived", "memcached", "keystone",
    "glance-api", "placement-api", "nova-api", "neutron-server", "cinder-api",
    "horizon", "swift-proxy", "swift-storage", "cinder-scheduler", "cinder-volume", "ceph",
)
BASE = ImageSpec("base", IMAGES_DIR / "base", None)
KOLLA_IMAGES: tuple[ImageSpec, ...] = (BASE, *(_service(n) for n in SERVICE_NAMES))
