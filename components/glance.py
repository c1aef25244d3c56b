"""glance-api's Swift store: the container its images go to, made by the program.

With `glance.backend: swift` glance is a single-tenant store: every image is an object of
one container in the service project's account, written as the glance user
(configs/glance/glance-swift.conf.j2). The container is made here, by a one-shot step
with the stock openstack client, rather than by glance on its first upload
(`swift_store_create_container_on_put`): an upload never races to create it, and the
deployment fails early, with the client's message, when Swift or the glance user cannot
make it.

The step needs the glance user (glance's `register` step) and the object-store
endpoint (swift-proxy-server's), so it runs after both tiers are ready. On the first
deployment glance is in the catalogue a few seconds before its container exists.
"""
from __future__ import annotations

from typing import Sequence

import pulumi

from components.catalog import CLIENT_IMAGE
from components.host import HostNode
from components.kolla import KollaFile
from components.one_shot import OneShot, one_shot_step
from components.rendering import render
from components.service_config import ServiceConfig


def store_container_step(
    config: ServiceConfig, first: HostNode, after: Sequence[pulumi.Resource], parent: pulumi.Resource,
) -> pulumi.Resource:
    """The one-shot step that makes the service's Swift container, on its first host."""
    spec = config.spec
    files = config.secrets.apply(lambda s: {
        name: render(f"glance/{name}.j2", **config.context(first.spec, s))
        for name in ("store_container.sh", "store_clouds.yaml")
    })
    return one_shot_step(
        first,
        OneShot(
            name=f"{spec.short}_store_container",
            image=CLIENT_IMAGE,
            command="/usr/local/bin/store_container.sh",
            files=[
                KollaFile("store_container.sh", "/usr/local/bin/store_container.sh", "root", "0700",
                          files.apply(lambda f: f["store_container.sh"])),
                # The password in a root-only file the client reads, not in its environment.
                KollaFile("store_clouds.yaml", "/etc/openstack/clouds.yaml", "root", "0600",
                          files.apply(lambda f: f["store_clouds.yaml"])),
            ],
        ),
        parent=parent,
        depends_on=after,
    )
