"""An OpenStack API service: N replicas behind the VIP, plus its one-shot steps.

Per service, on the first control host and in this order: its databases and user
(through the DB VIP), its schema (`db sync`, with keystone's bootstrap), its keystone
user and endpoints. Then one replica per control host, each started only after the
previous one answers its health URL, all wired to the DB VIP, every RabbitMQ node and
every memcached server.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi

from components.catalog import ApiSpec
from components.defaults import PORTS
from components.host import HostNode
from components.inventory import Inventory
from components.kolla import HealthCheck, KollaFile, KollaService, one_shot_container, service_container
from components.lb_membership import lb_membership
from components.loadbalancer import Backend, ProxiedService
from components.passwords import Passwords
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


def haproxy_section(spec: ApiSpec, members: Sequence[Any]) -> ProxiedService:
    return ProxiedService(
        name=spec.container,
        port=spec.port,
        backend_port=spec.port,
        servers=tuple(Backend(m.name, m.address) for m in members),
        health_path=spec.health_path,
    )


def service_context(
    spec: ApiSpec, node: Any, inv: Inventory, memcached_servers: str, secrets: Mapping[str, str]
) -> dict[str, Any]:
    """Everything a service's templates may read, secrets already unwrapped."""
    internal, public = keystone_urls(inv)
    vip = inv.internal_vip
    urls = {
        db: database_url(spec.short, secrets["db_password"], vip, db)
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
        memcached_servers=memcached_servers,
        service_user=spec.short,
        rabbitmq=inv.tier("rabbitmq"),
        neutron=inv.tier("neutron"),
        cinder=inv.tier("cinder"),
        glance=inv.tier("glance"),
        **{k: v for k, v in secrets.items() if k != "transport_url"},
    )


def render_service_files(spec: ApiSpec, ctx: Mapping[str, Any]) -> dict[str, str]:
    """The service's own config files, keyed by their file name in config_files/."""
    return {_file_name(cf.dest): render(cf.template, **ctx) for cf in spec.config_files}


def _file_name(dest: str) -> str:
    return dest.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ApiServiceArgs:
    spec: ApiSpec
    members: Sequence[HostNode]
    inventory: Inventory
    passwords: Passwords
    memcached_servers: str
    transport_url: pulumi.Output[str] | None
    # What must be running before the one-shot steps: Galera, VIP, keystone...
    infrastructure: Sequence[pulumi.Resource]
    # What must be running before the replicas: RabbitMQ, memcached.
    runtime: Sequence[pulumi.Resource]
    keystone: Sequence[pulumi.Resource] = ()
    # Internal addresses of the HAProxy hosts, where replicas are drained before a stop.
    loadbalancers: Sequence[str] = ()


class ApiService(pulumi.ComponentResource):
    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kolla-ha:api:ApiService", name, None, opts)
        spec, inv, pw = args.spec, args.inventory, args.passwords
        secret_inputs: dict[str, pulumi.Input[str]] = {
            "memcache_secret_key": pw.password("memcache_secret_key"),
            "admin_password": pw.password("keystone_admin_password"),
        }
        if spec.database:
            secret_inputs["db_password"] = pw.password(f"{spec.short}_database_password")
        if spec.keystone_user:
            secret_inputs["service_password"] = pw.password(f"{spec.short}_keystone_password")
        if args.transport_url is not None:
            secret_inputs["transport_url"] = args.transport_url
        if spec.name == "horizon":
            secret_inputs["horizon_secret_key"] = pw.password("horizon_secret_key", length=50)
        if spec.name == "swift-proxy-server":
            secret_inputs["swift_hash_path_suffix"] = pw.password("swift_hash_path_suffix", special=False)
            secret_inputs["swift_hash_path_prefix"] = pw.password("swift_hash_path_prefix", special=False)
        secrets = pulumi.Output.all(**secret_inputs)
        first = args.members[0]
        checks: list[pulumi.Output[Any]] = []
        steps = self._one_shots(args, secrets, first, checks)

        self.containers: list[pulumi.Resource] = []
        self.members: list[pulumi.Resource] = []
        previous: pulumi.Resource | None = None
        for host in args.members:
            ctx = secrets.apply(
                lambda s, node=host.spec: service_context(spec, node, inv, args.memcached_servers, s)
            )
            rendered = ctx.apply(lambda c: render_service_files(spec, c))
            files = [
                KollaFile(_file_name(cf.dest), cf.dest, cf.owner, cf.perm,
                          rendered.apply(lambda r, n=_file_name(cf.dest): r[n]))
                for cf in spec.config_files
            ] + self._extra_files(spec, pw)
            api = inv.tier("api")
            container = service_container(
                host,
                KollaService(
                    name=spec.container,
                    image=spec.image,
                    command=spec.command,
                    files=files,
                    volumes=list(spec.volumes),
                    permissions=_permissions(spec),
                    healthcheck=HealthCheck(
                        test=f"curl -sf -o /dev/null --max-time 5 http://{host.spec.address}:{spec.port}{spec.health_path}",
                        interval_s=int(api["healthcheck_interval"]),
                        retries=int(api["healthcheck_retries"]),
                        start_period_s=20,
                    ),
                    wait_timeout_s=int(api["wait_timeout"]),
                ),
                parent=self,
                depends_on=[*steps, *args.runtime, *([previous] if previous else [])],
                gates=checks,
            )
            self.containers.append(container)
            # The next replica is replaced only once this one is back in every HAProxy.
            previous = lb_membership(host, spec.container, container, args.loadbalancers,
                                     pw.password("haproxy_stats_password"), parent=self)
            self.members.append(previous)
        self.ready: list[pulumi.Resource] = list(self.members)
        self.endpoints = endpoint_urls(spec, inv)
        self.register_outputs({"endpoints": self.endpoints, "checks": checks})

    def _one_shots(
        self, args: ApiServiceArgs, secrets: pulumi.Output[dict[str, str]], first: HostNode,
        checks: list[pulumi.Output[Any]],
    ) -> list[pulumi.Resource]:
        spec, inv, pw = args.spec, args.inventory, args.passwords
        steps: list[pulumi.Resource] = []
        after: list[pulumi.Resource] = list(args.infrastructure)
        ctx = secrets.apply(lambda s: service_context(spec, first.spec, inv, args.memcached_servers, s))
        if spec.database:
            databases = (spec.database,) + spec.extra_databases
            db_files = pulumi.Output.all(ctx, pw.password("database_password")).apply(
                lambda a: {
                    "db_create.sh": render("openstack/db_create.sh.j2", databases=databases, db_user=spec.short,
                                           db_password=a[0]["db_password"], service=spec.name),
                    "db_root.cnf": render("openstack/db_root.cnf.j2", root_password=a[1], vip=inv.internal_vip,
                                          ports=PORTS),
                }
            )
            create = one_shot_container(
                first,
                KollaService(
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
                parent=self,
                depends_on=after,
            )
            checks.append(create.checked_exit)  # type: ignore[attr-defined]
            steps.append(create)
            sync_script = (
                ctx.apply(lambda c: render("keystone/keystone_bootstrap.sh.j2", **c))
                if spec.name == "keystone"
                else ctx.apply(lambda c: render("openstack/db_sync.sh.j2", db_sync=spec.db_sync, **c))
            )
            rendered = ctx.apply(lambda c: render_service_files(spec, c))
            sync = one_shot_container(
                first,
                KollaService(
                    name=f"{spec.short}_bootstrap",
                    image=spec.image,
                    command="/usr/local/bin/kolla_ha_bootstrap.sh",
                    files=[
                        KollaFile(_file_name(cf.dest), cf.dest, cf.owner, cf.perm,
                                  rendered.apply(lambda r, n=_file_name(cf.dest): r[n]))
                        for cf in spec.config_files
                    ]
                    + [KollaFile("kolla_ha_bootstrap.sh", "/usr/local/bin/kolla_ha_bootstrap.sh", "root", "0700",
                                 sync_script)]
                    # keystone-manage bootstrap wants the key repositories in place too.
                    + self._extra_files(spec, pw),
                    permissions=_permissions(spec),
                ),
                parent=self,
                depends_on=[create],
                gates=[create.checked_exit],  # type: ignore[attr-defined]
            )
            checks.append(sync.checked_exit)  # type: ignore[attr-defined]
            steps.append(sync)
        if spec.keystone_user and spec.service_type:
            script = ctx.apply(
                lambda c: render("openstack/register.sh.j2", service_type=spec.service_type,
                                 endpoints=endpoint_urls(spec, inv), **c)
            )
            register = one_shot_container(
                first,
                KollaService(
                    name=f"{spec.short}_register",
                    image="keystone",
                    command="/usr/local/bin/register.sh",
                    files=[KollaFile("register.sh", "/usr/local/bin/register.sh", "root", "0700", script)],
                ),
                parent=self,
                # After the schema: a failed db sync must not leave endpoints in the
                # catalogue for a service that never comes up.
                depends_on=[*after, *args.keystone, *steps],
                gates=[c.checked_exit for c in steps],  # type: ignore[attr-defined]
            )
            checks.append(register.checked_exit)  # type: ignore[attr-defined]
            steps.append(register)
        return steps

    @staticmethod
    def _extra_files(spec: ApiSpec, pw: Passwords) -> list[KollaFile]:
        if spec.name != "keystone":
            return []
        # Identical key repositories on every replica: tokens validate anywhere.
        return [
            KollaFile(f"fernet-{i}", f"/etc/keystone/fernet-keys/{i}", "keystone", "0600",
                      pw.fernet_key(f"keystone_fernet_key_{i}"))
            for i in (0, 1)
        ] + [
            KollaFile(f"credential-{i}", f"/etc/keystone/credential-keys/{i}", "keystone", "0600",
                      pw.fernet_key(f"keystone_credential_key_{i}"))
            for i in (0, 1)
        ]


def _permissions(spec: ApiSpec) -> list[dict[str, object]]:
    perms: list[dict[str, object]] = [
        {"path": f"/var/lib/{spec.short}", "owner": f"{spec.owner}:{spec.owner}", "recurse": True},
    ]
    if spec.name == "keystone":
        perms += [
            {"path": "/etc/keystone/fernet-keys", "owner": "keystone:keystone", "perm": "0700"},
            {"path": "/etc/keystone/credential-keys", "owner": "keystone:keystone", "perm": "0700"},
        ]
    return perms
