"""Every port, interval and tunable default, in one place.

Templates and components read numbers from here; an operator overrides the tunables
per stack (`kolla-ha:<tier>` objects). Values follow kolla-ansible's defaults where it
has one, so an operator moving over finds the same behaviour.
"""
from __future__ import annotations

from typing import Any

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
}

TIER_DEFAULTS: dict[str, dict[str, Any]] = {
    "galera": {
        "gcache_size": "1G",
        "innodb_buffer_pool_size": "1G",
        "max_connections": 10000,
        # seconds the health check tolerates a Donor before reporting it unhealthy;
        # HAProxy never routes to a Donor in any case.
        "sst_method": "mariabackup",
        "health_interval": 10,
    },
    "rabbitmq": {
        # quorum queues are the modern default (Raft; mirrored queues are gone in 4.0).
        "queue_type": "quorum",
        # mirrored (classic HA) policy: "all" or a node count, automatic sync.
        "mirror_count": "all",
        # pause_minority: a node on the minority side of a partition stops serving, so
        # clients fail over instead of writing to a side that will be discarded.
        "partition_handling": "pause_minority",
        "vm_memory_high_watermark": "0.4",
    },
    "haproxy": {
        "check_inter_ms": 2000,
        "check_rise": 2,
        "check_fall": 5,
        "timeout_connect": "10s",
        "timeout_client": "1m",
        "timeout_server": "1m",
        "timeout_check": "10s",
        # long DB sessions (oslo.db pool) must not be cut by the proxy.
        "db_timeout": "3600s",
        "maxconn": 40000,
    },
    "keepalived": {
        "advert_int": 1,
        # highest priority for the first loadbalancer host, then falling by this step.
        "priority_base": 150,
        "priority_step": 10,
        # track script interval; a dead haproxy costs fall x interval before the VIP moves.
        "check_interval": 2,
        "check_fall": 2,
    },
    "memcached": {
        "memory_mb": 1024,
        "connection_limit": 5000,
        "threads": 4,
    },
    "api": {
        "workers": 2,
        "healthcheck_interval": 10,
        "healthcheck_retries": 6,
        "wait_timeout": 300,
    },
    "neutron": {
        "l3_ha": True,
        "max_l3_agents_per_router": 3,
        "dhcp_agents_per_network": 2,
    },
    "cinder": {
        # cinder-volume active/passive: one backend_host name shared by all cinder-volume
        # hosts, but only one running; see README "cinder-volume".
        "backend_host": "cinder-volumes",
    },
    "glance": {
        "backend": "file",
    },
}
