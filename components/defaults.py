"""Every port, interval and tunable default, in one place, as typed models.

Templates and components read numbers from here; an operator overrides the tunables
per stack (`kolla-ha:<tier>` objects). Values follow kolla-ansible's defaults where it
has one, so an operator moving over finds the same behaviour. Each tunable is checked
the way the daemon reading it checks it (HAProxy's duration syntax, MariaDB's sizes,
VRRP's ranges); values that must agree with each other or with the inventory are
checked in components/inventory.py.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from components.config_model import ConfigModel
from components.swift_settings import RSYNC_PORT, STORAGE_PORTS, SwiftTunables
from components.value_formats import BlockDevice, ConfigToken, HAProxyDuration, HostPath, Ratio, byte_size, mariadb_size

PORTS: dict[str, int] = {
    "mariadb": 3306,
    "galera_replication": 4567,
    "galera_ist": 4568,
    "galera_sst": 4444,
    "galera_clustercheck": 4569,
    "rabbitmq": 5672,
    "rabbitmq_management": 15672,
    "rabbitmq_dist": 25672,
    "epmd": 4369,
    "memcached": 11211,
    "haproxy_stats": 1984,
    # Ceph's monitors: msgr2 (what Pacific's daemons and clients speak) and the legacy v1.
    "ceph_mon": 3300,
    "ceph_mon_v1": 6789,
    **{f"swift_{ring}": port for ring, port in STORAGE_PORTS.items()},
    "swift_rsync": RSYNC_PORT,
}

Seconds = Annotated[int, Field(ge=1, le=86400)]
Count = Annotated[int, Field(ge=1)]

# The kernel's default fs.nr_open (1048576) caps a container's nofile limit, and
# HAProxy's is 2 x maxconn + 1024 (components/loadbalancer.py:haproxy_nofile).
HAPROXY_MAXCONN_MAX = (1048576 - 1024) // 2
GcacheSize = mariadb_size()
BufferPoolSize = mariadb_size(2 << 20, "2M")


class GaleraTunables(ConfigModel):
    gcache_size: GcacheSize = Field(
        "1G", description="write-set cache; larger lets a returning node catch up by IST instead of a full SST")
    innodb_buffer_pool_size: BufferPoolSize = Field(
        "1G", description="InnoDB buffer pool (MariaDB's minimum is 2M)")
    max_connections: Annotated[int, Field(ge=10, le=100000)] = Field(
        10000, description="client connections per node (MariaDB's range is 10-100000)")
    # mysqldump would need the SST user to log in over the network; it is local-only.
    sst_method: Literal["mariabackup", "rsync"] = Field(
        "mariabackup", description="state transfer method: mariabackup (non-blocking for the donor) or rsync")
    health_interval: Seconds = Field(10, description="seconds between health checks of a node")
    # Writes stall on every node until a vanished member is evicted from the view. A
    # shorter suspicion shortens that stall, but a member slowed down (a joiner's state
    # transfer on a busy host) is then suspected too: with 2 s the lab saw the two
    # healthy nodes drop to non-primary while the killed writer rejoined. Galera's own
    # 5 s is the default; README "Tuning for failover" has the figures.
    suspect_timeout_s: Annotated[int, Field(ge=1, le=60)] = Field(
        5, description="seconds without a message from a member before Galera suspects it "
                       "(evs.suspect_timeout); writes stall at most this long when a node vanishes")


def _l3_agents(value: int) -> int:
    if value == 1:
        raise ValueError("is refused by neutron: an HA router needs at least two L3 agents")
    return value


def _mirror_count(value: Any) -> Any:
    # "all" or a node count: one field, one message, instead of a union's two.
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 2):
        return value
    raise ValueError("is neither all nor a whole number of at least 2")


class RabbitMQTunables(ConfigModel):
    # quorum queues are the modern default (Raft; mirrored queues are gone in 4.0).
    queue_type: Literal["quorum", "mirrored"] = Field(
        "quorum", description="`quorum`, or `mirrored` for the classic HA policy (RabbitMQ 3.x only)")
    mirror_count: Annotated[Any, BeforeValidator(_mirror_count)] = Field(
        "all",
        description="with `mirrored`: `all` (ha-mode all) or a count N from 2 to the messaging "
                    "group's size (ha-mode exactly)",
        json_schema_extra={"expected": "all, or a whole number from 2 to the messaging group's size"},
    )
    # pause_minority: a node on the minority side of a partition stops serving, so
    # clients fail over instead of writing to a side that will be discarded.
    partition_handling: Literal["pause_minority", "autoheal", "ignore"] = Field(
        "pause_minority", description="what a node does on the minority side of a network partition")
    vm_memory_high_watermark: Ratio = Field(
        0.4, description="share of the host's memory after which publishers are blocked")


class HAProxyTunables(ConfigModel):
    # A dead backend costs clients until the checks notice: inter x fall (2 s here,
    # 10 s with kolla-ansible's 2000/5), measured in the lab's fault scenarios.
    check_inter_ms: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        1000, description="milliseconds between backend health checks")
    check_rise: Count = Field(2, description="passed checks before a backend takes traffic again")
    check_fall: Count = Field(2, description="failed checks before a backend is taken out")
    # A powered-off or cut-off backend never refuses a connection; every attempt waits
    # this long before HAProxy retries on another server (option redispatch 1).
    timeout_connect: HAProxyDuration = Field("2s", description="connecting to a backend (then retried on another)")
    timeout_client: HAProxyDuration = Field("1m", description="client inactivity")
    timeout_server: HAProxyDuration = Field("1m", description="backend inactivity")
    # A frozen backend accepts connections (the kernel does) but never answers: it is
    # taken out after about fall x (inter + timeout_check). A dead or cut-off one is
    # not waited for this long: its check connects within min(timeout_connect, inter).
    # Not shorter than 10 s (kolla-ansible's value too): a replica whose workers are busy
    # answers its check late, not never. With 2 s the lab's power-vip run saw HAProxy
    # take every keystone replica out on Layer7 timeouts while the rebooted host started
    # its containers, and then answer 503 to every client (README, "What the runs found").
    timeout_check: HAProxyDuration = Field("10s", description="a health check's answer, once connected")
    # long DB sessions (oslo.db pool) must not be cut by the proxy.
    db_timeout: HAProxyDuration = Field("3600s", description="client/server timeout of the database section")
    maxconn: Annotated[int, Field(ge=1, le=HAPROXY_MAXCONN_MAX)] = Field(
        40000, description="connections per HAProxy; the container's open-file limit is 2 x maxconn + 1024")


class KeepalivedTunables(ConfigModel):
    # VRRPv2 carries the advertisement interval in whole seconds, in 8 bits.
    advert_int: Annotated[int, Field(ge=1, le=255)] = Field(
        1, description="VRRP advertisement interval (s); the VIP moves after about 3 x advert_int")
    # 255 is reserved for the address owner; every kolla-ha host is a backup. High, because
    # a backup takes the VIP 3 x advert_int + (256 - priority) / 256 x advert_int after the
    # last advertisement (RFC 3768 skew time): 250 instead of 150 is ~0.4 s less downtime.
    priority_base: Annotated[int, Field(ge=1, le=254)] = Field(
        250, description="VRRP priority of the first loadbalancer host")
    priority_step: Annotated[int, Field(ge=1, le=253)] = Field(
        10, description="priority decrease per loadbalancer host, in host order; every host's "
                        "priority must stay within 1-254")
    # track script interval; a dead haproxy costs fall x interval before the VIP moves.
    check_interval: Annotated[int, Field(ge=1, le=3600)] = Field(1, description="seconds between HAProxy track-script runs")
    check_fall: Count = Field(2, description="failed track-script runs before the host gives up the VIP")


class MemcachedTunables(ConfigModel):
    memory_mb: Count = Field(1024, description="cache memory per host (MB)")
    connection_limit: Count = Field(5000, description="simultaneous connections per host")
    threads: Count = Field(4, description="worker threads per host")


class ApiTunables(ConfigModel):
    workers: Count = Field(2, description="worker processes per API replica")
    healthcheck_interval: Seconds = Field(10, description="seconds between a replica's health checks")
    healthcheck_retries: Count = Field(6, description="failed health checks before a replica is unhealthy")
    wait_timeout: Annotated[int, Field(ge=1, le=86400)] = Field(
        300, description="seconds a replica may take to become healthy before the deploy fails; "
                         "longer than healthcheck_interval")


class NeutronTunables(ConfigModel):
    l3_ha: bool = Field(True, description="routers on several L3 agents with VRRP between them")
    # neutron refuses 1 (an HA router needs two agents); 0 means every agent.
    max_l3_agents_per_router: Annotated[int, Field(ge=0), AfterValidator(_l3_agents)] = Field(
        3, description="L3 agents per HA router: 0 (every agent) or 2 up to the network group's size",
        json_schema_extra={"expected": "0 (every agent) or a whole number from 2 to the network group's size"})
    dhcp_agents_per_network: Count = Field(
        2, description="DHCP agents serving each network, at most the network group's size")


class CinderTunables(ConfigModel):
    # cinder-volume active/passive: one backend_host name shared by all cinder-volume
    # hosts, but only one running; see README "cinder-volume".
    backend_host: ConfigToken = Field(
        "cinder-volumes", description="the one `host` name shared by cinder-volume hosts")
    # LVM is not offered: it needs device-mapper, an iSCSI target and a privileged
    # cinder-volume on the host, none of which kolla-ha deploys.
    backend: Literal["rbd"] = Field(
        "rbd", description="volume back-end: `rbd`, Ceph RBD on the OSDs kolla-ha deploys on the storage group")


class GlanceTunables(ConfigModel):
    backend: Literal["file", "swift"] = Field(
        "file", description="image store: `file` (one glance-api unless `file_path` is shared by every control "
                            "host) or `swift` (needs swift-proxy-server)")
    file_path: HostPath | None = Field(
        None, description="with `file`: a shared file system mounted at this path on every control host "
                          "(NFS, CephFS...); glance-api then runs on every control host")


def _listed_once(devices: list[str]) -> list[str]:
    repeated = sorted({d for d in devices if devices.count(d) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} twice; name each device once")
    return devices


# Ceph's own minimum for osd_memory_target.
OSD_MEMORY_MIN = 896 << 20


class CephTunables(ConfigModel):
    # kolla-ansible's (and Ceph's) osd_pool_default_size: three copies, each on another host.
    pool_size: Annotated[int, Field(ge=1, le=10)] = Field(
        3, description="copies of every object of the RBD pools, each on another storage host; "
                       "at most the number of storage hosts")
    osd_devices: Annotated[list[BlockDevice], AfterValidator(_listed_once)] = Field(
        [], description="block devices each storage host gives Ceph, one OSD each (the same paths on every "
                        "host); empty: one OSD per host storing into a file of `osd_file_size` (labs)",
        json_schema_extra={"expected": "a list of block device paths (/dev/disk/by-id/... best)"})
    osd_file_size: byte_size("a Ceph size", 1 << 30, "1G", "10G") = Field(
        "10G", description="size of a file-backed OSD's store (a sparse file in its volume)")
    osd_memory_target: byte_size("a Ceph size", OSD_MEMORY_MIN, "896M", "4G") = Field(
        "4G", description="memory each OSD aims to use for its caches (Ceph's minimum is 896M)")


class KeystoneTunables(ConfigModel):
    # Counters, not schedules: raising one by one rolls a new key repository over the
    # replicas (README, Day-2 operations); a counter is never lowered.
    fernet_rotation: Annotated[int, Field(ge=0)] = Field(
        0, description="token key rotations so far; raise by one to rotate (at most once per token "
                       "lifetime, each `up` finished before the next), never lower")
    credential_rotation: Annotated[int, Field(ge=0)] = Field(
        0, description="credential key rotations so far; raise by one to rotate, never lower")


class PasswordsTunables(ConfigModel):
    rotations: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="generated secret -> rotations so far; raise a count by one to rotate that secret "
                    "(README, Day-2 operations, says which rotate without client errors)",
        json_schema_extra={"expected": "a mapping of generated secret names to whole numbers >= 0"},
    )


TIER_MODELS: dict[str, type[ConfigModel]] = {
    "galera": GaleraTunables,
    "rabbitmq": RabbitMQTunables,
    "haproxy": HAProxyTunables,
    "keepalived": KeepalivedTunables,
    "memcached": MemcachedTunables,
    "api": ApiTunables,
    "neutron": NeutronTunables,
    "cinder": CinderTunables,
    "glance": GlanceTunables,
    "swift": SwiftTunables,
    "ceph": CephTunables,
    "keystone": KeystoneTunables,
    "passwords": PasswordsTunables,
}

# The defaults as the plain mappings components and templates read.
TIER_DEFAULTS: dict[str, dict[str, Any]] = {name: model().model_dump() for name, model in TIER_MODELS.items()}
