"""The OpenStack API services kolla-ha knows, as data.

Adding a service is adding an entry here plus its templates under configs/<name>/,
the way kolla-ansible keeps a `<service>_services` map per role. Components read
ports, health URLs, config files and one-shot steps from this table and never from
literals of their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from components.swift_settings import HOST_RING_DIR, RING_DIR


@dataclass(frozen=True)
class ConfigFile:
    """A template rendered into /var/lib/kolla/config_files/ and copied to `dest`."""

    template: str
    dest: str
    owner: str
    perm: str = "0600"
    # (tier, key, value): rendered only when that tunable has that value.
    when: tuple[str, str, Any] | None = None

    def wanted(self, tiers: Mapping[str, Mapping[str, Any]]) -> bool:
        if self.when is None:
            return True
        tier, key, value = self.when
        return tiers[tier][key] == value


@dataclass(frozen=True)
class GeneratedSecret:
    """A secret one service's templates read under its own name (the common ones, such as
    the database and keystone passwords, every service gets)."""

    name: str
    length: int = 32
    special: bool = True


@dataclass(frozen=True)
class KeyRepository:
    """A Fernet key repository every replica holds identically (components/key_repository.py).

    Its keys are the secrets `<service>_<name>_key_<n>`; the tier setting
    `<service>.<name>_rotation` is its rotation counter.
    """

    name: str
    path: str
    # staged + primary + secondaries, as keystone's max_active_keys counts them
    active_keys: int = 3
    # Run once every replica holds a new primary key: re-encrypts what the old one did,
    # so the next rotation may drop it.
    migrate: str | None = None


@dataclass(frozen=True)
class ApiSpec:
    name: str
    image: str
    port: int
    service_type: str | None  # keystone catalogue type; None: not registered (horizon)
    url_suffix: str = ""
    group: str = "control"
    database: str | None = None
    rabbitmq: bool = False
    keystone_user: bool = True
    health_path: str = "/"
    command: str = ""
    db_sync: str | None = None
    # Idempotent commands the bootstrap step runs after db_sync (glance's metadefs).
    after_db_sync: tuple[str, ...] = ()
    # The Swift container the service stores into when its back-end is Swift; the
    # program creates it (components/glance.py) before the service is ready.
    swift_container: str | None = None
    # Where its `file` back-end stores, in the container. `<service>.file_path` (a file
    # system every host of its group shares) is mounted there; without one, one
    # replica only (on the group's first host), as kolla-ansible does.
    file_store: str | None = None
    config_files: tuple[ConfigFile, ...] = ()
    depends_on: tuple[str, ...] = ()
    # Enabled services deployed before this one when they are enabled (ordering only:
    # glance's swift store needs the object-store endpoint).
    after: tuple[str, ...] = ()
    # Groups besides its own that must not be empty when it is enabled (its storage).
    needs_groups: tuple[str, ...] = ()
    # folders the service writes to, kept in named volumes across container replacement
    volumes: tuple[tuple[str, str], ...] = ()
    # (host folder, container path): read-only bind mounts of files the program keeps
    # on the host (Swift's rings), which change without replacing the container.
    host_dirs: tuple[tuple[str, str], ...] = ()
    owner: str = "root"
    # WSGI script served by uwsgi, for services run that way.
    wsgi: str | None = None
    # Further databases the service owns besides `database` (nova: api and cell0).
    extra_databases: tuple[str, ...] = ()
    # The one-shot step after the database exists: its schema (and, for keystone, the
    # admin user and identity endpoints).
    bootstrap_template: str = "openstack/db_sync.sh.j2"
    secrets: tuple[GeneratedSecret, ...] = ()
    key_repositories: tuple[KeyRepository, ...] = ()

    @property
    def short(self) -> str:
        """The project name: keystone, glance, nova... (user and database names)."""
        return self.name.split("-")[0]

    @property
    def container(self) -> str:
        return self.name.replace("-", "_")


def _uwsgi(service: str, owner: str) -> ConfigFile:
    return ConfigFile("uwsgi/uwsgi.ini.j2", f"/etc/{service}/{service}-uwsgi.ini", owner, "0640")


CATALOG: dict[str, ApiSpec] = {
    s.name: s
    for s in (
        ApiSpec(
            name="keystone",
            image="keystone",
            port=5000,
            service_type="identity",
            url_suffix="/v3",
            database="keystone",
            keystone_user=False,
            health_path="/v3",
            owner="keystone",
            wsgi="/usr/bin/keystone-wsgi-public",
            command="uwsgi --ini /etc/keystone/keystone-uwsgi.ini",
            db_sync="keystone-manage --config-file /etc/keystone/keystone.conf db_sync",
            config_files=(
                ConfigFile("keystone/keystone.conf.j2", "/etc/keystone/keystone.conf", "keystone", "0640"),
                _uwsgi("keystone", "keystone"),
            ),
            volumes=(("keystone_logs", "/var/log/keystone"),),
            bootstrap_template="keystone/keystone_bootstrap.sh.j2",
            key_repositories=(
                KeyRepository("fernet", "/etc/keystone/fernet-keys"),
                KeyRepository(
                    "credential",
                    "/etc/keystone/credential-keys",
                    migrate=("keystone-manage --config-file /etc/keystone/keystone.conf credential_migrate "
                             "--keystone-user keystone --keystone-group keystone"),
                ),
            ),
        ),
        ApiSpec(
            name="glance-api",
            image="glance-api",
            port=9292,
            service_type="image",
            database="glance",
            health_path="/healthcheck",
            owner="glance",
            command="glance-api --config-file /etc/glance/glance-api.conf",
            db_sync="glance-manage --config-file /etc/glance/glance-api.conf db_sync",
            # The metadata definitions (the image properties dashboards offer): a
            # namespace already loaded is skipped, so a re-run changes nothing.
            after_db_sync=("glance-manage --config-file /etc/glance/glance-api.conf db_load_metadefs",),
            config_files=(
                ConfigFile("glance/glance-api.conf.j2", "/etc/glance/glance-api.conf", "glance", "0640"),
                ConfigFile("glance/glance-swift.conf.j2", "/etc/glance/glance-swift.conf", "glance", "0640",
                           when=("glance", "backend", "swift")),
            ),
            depends_on=("keystone",),
            after=("swift-proxy-server",),
            swift_container="glance",
            file_store="/var/lib/glance/images",
            # The staging area of interoperable import and the file store's images.
            volumes=(("glance", "/var/lib/glance"),),
        ),
        ApiSpec(
            name="placement-api",
            image="placement-api",
            port=8778,
            service_type="placement",
            database="placement",
            owner="placement",
            wsgi="/usr/bin/placement-api",
            command="uwsgi --ini /etc/placement/placement-uwsgi.ini",
            db_sync="placement-manage --config-file /etc/placement/placement.conf db sync",
            config_files=(
                ConfigFile("placement/placement.conf.j2", "/etc/placement/placement.conf", "placement", "0640"),
                _uwsgi("placement", "placement"),
            ),
            depends_on=("keystone",),
        ),
        ApiSpec(
            name="nova-api",
            image="nova-api",
            port=8774,
            service_type="compute",
            url_suffix="/v2.1",
            database="nova",
            extra_databases=("nova_api", "nova_cell0"),
            rabbitmq=True,
            owner="nova",
            command="nova-api --config-file /etc/nova/nova.conf",
            db_sync="nova-manage --config-file /etc/nova/nova.conf api_db sync",
            config_files=(ConfigFile("nova/nova.conf.j2", "/etc/nova/nova.conf", "nova", "0640"),),
            depends_on=("keystone", "placement-api", "glance-api", "neutron-server"),
        ),
        ApiSpec(
            name="neutron-server",
            image="neutron-server",
            port=9696,
            service_type="network",
            database="neutron",
            rabbitmq=True,
            owner="neutron",
            command=(
                "neutron-server --config-file /etc/neutron/neutron.conf "
                "--config-file /etc/neutron/plugins/ml2/ml2_conf.ini"
            ),
            db_sync=(
                "neutron-db-manage --config-file /etc/neutron/neutron.conf "
                "--config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head"
            ),
            config_files=(
                ConfigFile("neutron/neutron.conf.j2", "/etc/neutron/neutron.conf", "neutron", "0640"),
                ConfigFile("neutron/ml2_conf.ini.j2", "/etc/neutron/plugins/ml2/ml2_conf.ini", "neutron", "0640"),
            ),
            depends_on=("keystone",),
        ),
        ApiSpec(
            name="cinder-api",
            image="cinder-api",
            port=8776,
            service_type="volumev3",
            url_suffix="/v3/%(project_id)s",
            database="cinder",
            rabbitmq=True,
            owner="cinder",
            wsgi="/usr/bin/cinder-wsgi",
            command="uwsgi --ini /etc/cinder/cinder-uwsgi.ini",
            db_sync="cinder-manage --config-file /etc/cinder/cinder.conf db sync",
            config_files=(
                ConfigFile("cinder/cinder.conf.j2", "/etc/cinder/cinder.conf", "cinder", "0640"),
                _uwsgi("cinder", "cinder"),
            ),
            depends_on=("keystone",),
            # cinder-volume and the Ceph OSDs it stores into (components/cinder.py, ceph.py).
            needs_groups=("storage",),
        ),
        ApiSpec(
            name="horizon",
            image="horizon",
            port=80,
            service_type=None,
            keystone_user=False,
            health_path="/auth/login/",
            owner="horizon",
            wsgi="/usr/share/openstack-dashboard/wsgi.py",
            command="uwsgi --ini /etc/openstack-dashboard/horizon-uwsgi.ini",
            config_files=(
                ConfigFile(
                    "horizon/local_settings.py.j2",
                    "/etc/openstack-dashboard/local_settings.py",
                    "horizon",
                    "0640",
                ),
                ConfigFile("uwsgi/uwsgi.ini.j2", "/etc/openstack-dashboard/horizon-uwsgi.ini", "horizon", "0640"),
            ),
            depends_on=("keystone",),
            secrets=(GeneratedSecret("horizon_secret_key", length=50),),
        ),
        ApiSpec(
            name="swift-proxy-server",
            image="swift-proxy",
            port=8080,
            service_type="object-store",
            url_suffix="/v1/AUTH_%(project_id)s",
            health_path="/healthcheck",
            owner="swift",
            # --verbose: its log lines on stderr (docker logs) as well as syslog.
            command="swift-proxy-server /etc/swift/proxy-server.conf --verbose",
            config_files=(
                ConfigFile("swift/proxy-server.conf.j2", "/etc/swift/proxy-server.conf", "swift", "0640"),
                ConfigFile("swift/swift.conf.j2", "/etc/swift/swift.conf", "swift", "0640"),
            ),
            depends_on=("keystone",),
            # Its storage servers (components/swift.py).
            needs_groups=("storage",),
            host_dirs=((HOST_RING_DIR, RING_DIR),),
            secrets=(
                GeneratedSecret("swift_hash_path_suffix", special=False),
                GeneratedSecret("swift_hash_path_prefix", special=False),
            ),
        ),
    )
}

# The identity service: every other service registers in its catalogue, with the
# openstack client its image carries.
IDENTITY = "keystone"
CLIENT_IMAGE = "keystone"

DEFAULT_ENABLED: tuple[str, ...] = (
    "keystone",
    "glance-api",
    "placement-api",
    "nova-api",
    "neutron-server",
    "cinder-api",
    "horizon",
)


def deploy_order(enabled: tuple[str, ...]) -> list[str]:
    """Enabled services ordered so that every service comes after its dependencies."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for dep in CATALOG[name].depends_on + CATALOG[name].after:
            if dep in enabled:
                visit(dep)
        ordered.append(name)

    for name in enabled:
        visit(name)
    return ordered


def replica_hosts(spec: ApiSpec, group: Sequence[Any], tiers: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """The hosts of `group` that run a replica of `spec`: all of them, but the first only
    for a file store that no shared file system backs (each replica would see other
    images)."""
    if spec.file_store is not None:
        tier = tiers[spec.short]
        if tier["backend"] == "file" and tier["file_path"] is None:
            return list(group[:1])
    return list(group)
