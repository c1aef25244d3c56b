"""The one-shot steps of an OpenStack API service, on its first control host.

Before the replicas roll, in this order: the databases and the user (through the DB
VIP), then the schema (`db sync`, or keystone's bootstrap). The replicas need nothing
else to start.
After the last replica is back in every HAProxy, and once keystone's tier is ready:
the keystone user and the catalogue endpoints. Clients find the service only when it
serves on every host, and a failed db sync never leaves endpoints for a service that
is not up. Then the key repositories' migrations (keystone re-encrypts its credentials
under the new primary credential key).

Every step is idempotent. It runs again whenever its inputs change: a new image, a
new config, a rotated password. The replicas only `depends_on` the steps, so a failed
step stops them, but a re-run never replaces them (components/one_shot.py).
"""
from __future__ import annotations

from typing import Sequence

import pulumi

from components.catalog import CLIENT_IMAGE
from components.defaults import PORTS
from components.host import HostNode
from components.kolla import KollaFile
from components.one_shot import OneShot, one_shot_step
from components.rendering import render
from components.service_config import ServiceConfig, endpoint_urls


def before_rollout_steps(
    config: ServiceConfig,
    first: HostNode,
    infrastructure: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """The steps the replicas wait for, in the order they run."""
    spec, inv = config.spec, config.inventory
    steps: list[pulumi.Resource] = []
    if spec.database:
        databases = (spec.database,) + spec.extra_databases
        kept = [config.db_user] + ([config.previous_db_user] if config.previous_db_user else [])
        db_files = pulumi.Output.all(config.secrets, config.root_password).apply(
            lambda a: {
                "db_create.sh": render("openstack/db_create.sh.j2", databases=databases, db_user=config.db_user,
                                       db_user_base=spec.short, db_users_kept=kept,
                                       db_password=a[0]["db_password"], service=spec.name),
                "db_root.cnf": render("openstack/db_root.cnf.j2", root_password=a[1], vip=inv.internal_vip,
                                      ports=PORTS),
            }
        )
        steps.append(one_shot_step(
            first,
            OneShot(
                name=f"{spec.short}_db_create",
                image="mariadb-server",
                command="/usr/local/bin/db_create.sh",
                files=[
                    KollaFile("db_create.sh", "/usr/local/bin/db_create.sh", "root", "0700",
                              db_files.apply(lambda f: f["db_create.sh"])),
                    KollaFile("db_root.cnf", "/etc/kolla-ha/db_root.cnf", "root", "0600",
                              db_files.apply(lambda f: f["db_root.cnf"])),
                ],
            ),
            parent=parent,
            depends_on=infrastructure,
        ))
        script = config.secrets.apply(
            lambda s: render(spec.bootstrap_template, db_sync=spec.db_sync, after_db_sync=spec.after_db_sync,
                             **config.context(first.spec, s))
        )
        steps.append(one_shot_step(
            first,
            OneShot(
                name=f"{spec.short}_bootstrap",
                image=spec.image,
                command="/usr/local/bin/kolla_ha_bootstrap.sh",
                files=config.config_files(first.spec)
                + [KollaFile("kolla_ha_bootstrap.sh", "/usr/local/bin/kolla_ha_bootstrap.sh", "root", "0700", script)]
                # keystone-manage bootstrap wants the key repositories in place too.
                + list(config.key_files),
                permissions=config.permissions(),
            ),
            parent=parent,
            depends_on=[steps[-1]],
        ))
    return steps


def after_rollout_steps(
    config: ServiceConfig,
    first: HostNode,
    rolled: pulumi.Resource,
    keystone: pulumi.Resource | None,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """The steps that need every replica up first, in the order they run."""
    spec, inv = config.spec, config.inventory
    steps: list[pulumi.Resource] = []
    if spec.keystone_user and spec.service_type:
        script = config.secrets.apply(
            lambda s: render("openstack/register.sh.j2", service_type=spec.service_type,
                             endpoints=endpoint_urls(spec, inv), **config.context(first.spec, s))
        )
        clouds = config.secrets.apply(
            lambda s: render("openstack/admin_clouds.yaml.j2", **config.context(first.spec, s)))
        steps.append(one_shot_step(
            first,
            OneShot(
                name=f"{spec.short}_register",
                image=CLIENT_IMAGE,
                command="/usr/local/bin/register.sh",
                files=[KollaFile("register.sh", "/usr/local/bin/register.sh", "root", "0700", script),
                       KollaFile("clouds.yaml", "/etc/openstack/clouds.yaml", "root", "0600", clouds)],
            ),
            parent=parent,
            # keystone's whole tier, so the catalogue is written through the VIP to
            # replicas that all hold the same keys.
            depends_on=[rolled, *([keystone] if keystone else [])],
        ))
    for repo in spec.key_repositories:
        if repo.migrate is None:
            continue
        steps.append(one_shot_step(
            first,
            OneShot(
                name=f"{spec.short}_{repo.name}_migrate",
                image=spec.image,
                command=repo.migrate,
                files=config.config_files(first.spec) + list(config.key_files),
                permissions=config.permissions(),
            ),
            parent=parent,
            # Every replica holds the new primary key by now: what one of them still
            # encrypted under the old key during the roll is re-encrypted too.
            depends_on=[steps[-1] if steps else rolled],
        ))
    return steps
