"""What an OpenStack service's replicas and one-shot steps are made of: its secrets, its
template context, its rendered config files, its key repositories.

Per service, not per host; the replicas (components/api.py) and the steps
(components/service_steps.py) take their files from here, so a step renders exactly the
config the replicas run with.
"""
from __future__ import annotations

import urllib.parse

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi

from components.catalog import ApiSpec, ConfigFile
from components.ceph_config import CINDER, VOLUMES_POOL
from components.defaults import PORTS
from components.inventory import Inventory
from components.key_repository import generation_secret, made_as_bytes, repository_layout
from components.kolla import KollaFile
from components.passwords import Passwords, database_user
from components.rendering import render

REGION = "RegionOne"
KEYSTONE_PORT = 5000


def keystone_urls(inv: Inventory) -> tuple[str, str]:
    """(internal, public) identity URLs: always through a VIP, never a single host."""
    public_vip = inv.external_vip or inv.internal_vip
    return (
        f"http://{inv.internal_vip}:{KEYSTONE_PORT}/v3",
        f"http://{public_vip}:{KEYSTONE_PORT}/v3",
    )


def endpoint_urls(spec: ApiSpec, inv: Inventory) -> dict[str, str]:
    public_vip = inv.external_vip or inv.internal_vip
    return {
        "internal": f"http://{inv.internal_vip}:{spec.port}{spec.url_suffix}",
        "admin": f"http://{inv.internal_vip}:{spec.port}{spec.url_suffix}",
        "public": f"http://{public_vip}:{spec.port}{spec.url_suffix}",
    }


def database_url(user: str, password: str, vip: str, database: str) -> str:
    # Quoted, though validation lets only URL-unreserved characters (and `+`) into a
    # database password: keystone's migrations cannot read a percent-escape (see
    # secret_specs.DATABASE_URL), so no escape may ever be needed.
    quoted = urllib.parse.quote(password, safe="-._~+")
    return f"mysql+pymysql://{user}:{quoted}@{vip}:{PORTS['mariadb']}/{database}"


def file_name(dest: str) -> str:
    """The name a config file has in /var/lib/kolla/config_files/."""
    return dest.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ServiceConfig:
    """Everything per service (not per host) that its replicas and steps are made of."""

    spec: ApiSpec
    inventory: Inventory
    memcached_servers: str
    # Every secret the templates read, already combined into one Output.
    secrets: pulumi.Output[dict[str, str]]
    # MariaDB's root password, for the step that creates the service's database.
    root_password: pulumi.Output[str]
    # The database user the replicas log in as, and the one before the last password
    # rotation (still in use by replicas not yet rolled).
    db_user: str
    previous_db_user: str | None
    # The key repositories' files, identical for every replica and step.
    key_files: tuple[KollaFile, ...]

    def context(self, node: Any, secrets: Mapping[str, str]) -> dict[str, Any]:
        """Everything a service's templates may read, secrets already unwrapped."""
        spec, inv = self.spec, self.inventory
        internal, public = keystone_urls(inv)
        vip = inv.internal_vip
        urls = {
            db: database_url(self.db_user, secrets["db_password"], vip, db)
            for db in ((spec.database,) + spec.extra_databases if spec.database else ())
        }
        return dict(
            node=node,
            service=spec.name,
            service_owner=spec.owner,
            port=spec.port,
            workers=inv.tier("api")["workers"],
            wsgi_file=spec.wsgi or "",
            vip=vip,
            region=REGION,
            keystone_internal_url=internal,
            keystone_public_url=public,
            database_url=urls.get(spec.database or "", ""),
            database_urls=urls,
            transport_url=secrets.get("transport_url", ""),
            memcached_servers=self.memcached_servers,
            service_user=spec.short,
            key_repositories={r.name: r for r in spec.key_repositories},
            rabbitmq=inv.tier("rabbitmq"),
            neutron=inv.tier("neutron"),
            cinder=inv.tier("cinder"),
            glance=inv.tier("glance"),
            swift_container=spec.swift_container or "",
            rbd={"pool": VOLUMES_POOL, "user": CINDER.user},
            **{k: v for k, v in secrets.items() if k != "transport_url"},
        )

    def wanted_files(self) -> list[ConfigFile]:
        """The service's config files this inventory asks for (glance's swift store
        reference only with the swift back-end)."""
        return [cf for cf in self.spec.config_files if cf.wanted(self.inventory.tiers)]

    def config_files(self, node: Any) -> list[KollaFile]:
        """The service's own config files for `node`, rendered in one pass."""
        wanted = self.wanted_files()
        rendered = self.secrets.apply(
            lambda s: {file_name(cf.dest): render(cf.template, **self.context(node, s)) for cf in wanted}
        )
        return [
            KollaFile(file_name(cf.dest), cf.dest, cf.owner, cf.perm,
                      rendered.apply(lambda r, n=file_name(cf.dest): r[n]))
            for cf in wanted
        ]

    def shared_store(self) -> tuple[str, str] | None:
        """(host path, container path) of the shared file system the file store is on."""
        spec = self.spec
        if spec.file_store is None:
            return None
        path = self.inventory.tier(spec.short).get("file_path")
        return (path, spec.file_store) if path else None

    def permissions(self) -> list[dict[str, object]]:
        spec = self.spec
        owner = f"{spec.owner}:{spec.owner}"
        shared = self.shared_store()
        # Never a recursive chown through a shared file system: it walks every image at
        # every start on every host (and fails where the server squashes root).
        home = {"path": f"/var/lib/{spec.short}", "owner": owner, "recurse": shared is None}
        return [home] + ([{"path": shared[1], "owner": owner}] if shared else []) + [
            {"path": repo.path, "owner": owner, "perm": "0700"} for repo in spec.key_repositories
        ]


def key_repository_files(spec: ApiSpec, pw: Passwords, rotations: Mapping[str, int]) -> list[KollaFile]:
    """The files of each of the service's key repositories, identical on every replica
    (a token issued by one replica validates on every other)."""
    files: list[KollaFile] = []
    for repo in spec.key_repositories:
        layout = repository_layout(rotations[repo.name], repo.active_keys)
        files += [
            KollaFile(f"{repo.name}-{index}", f"{repo.path}/{index}", spec.owner, "0600",
                      pw.fernet_key(generation_secret(f"{spec.short}_{repo.name}_key", generation),
                                    as_bytes=made_as_bytes(generation)))
            for index, generation in sorted(layout.items())
        ]
    return files


def service_config(
    spec: ApiSpec,
    inv: Inventory,
    pw: Passwords,
    memcached_servers: str,
    transport_url: pulumi.Output[str] | None,
) -> ServiceConfig:
    secret_inputs: dict[str, pulumi.Input[str]] = {
        "memcache_secret_key": pw.password("memcache_secret_key"),
        "admin_password": pw.password("keystone_admin_password"),
    }
    db_generation = 0
    if spec.database:
        secret_inputs["db_password"] = pw.password(f"{spec.short}_database_password")
        db_generation = pw.generation(f"{spec.short}_database_password")
    if spec.keystone_user:
        secret_inputs["service_password"] = pw.password(f"{spec.short}_keystone_password")
    if transport_url is not None:
        secret_inputs["transport_url"] = transport_url
    for extra in spec.secrets:
        secret_inputs[extra.name] = pw.password(extra.name, length=extra.length, special=extra.special)
    # keystone.fernet_rotation, keystone.credential_rotation: see README, Day-2 operations.
    rotations = {
        repo.name: int(inv.tier(spec.short)[f"{repo.name}_rotation"])
        for repo in spec.key_repositories
    }
    return ServiceConfig(
        spec=spec,
        inventory=inv,
        memcached_servers=memcached_servers,
        secrets=pulumi.Output.all(**secret_inputs),
        root_password=pw.password("database_password"),
        db_user=database_user(spec.short, db_generation),
        previous_db_user=database_user(spec.short, db_generation - 1) if db_generation else None,
        key_files=tuple(key_repository_files(spec, pw, rotations)),
    )
