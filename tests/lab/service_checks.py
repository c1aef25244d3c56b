"""For each image: the smallest config that starts it, and how to tell it is healthy.

Each check is what a test writes into /var/lib/kolla/config_files (config.json plus
config files), extra `docker run` flags, and a command run with `docker exec` that
succeeds only when the service answers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

SRC = "/var/lib/kolla/config_files"


@dataclass(frozen=True)
class ServiceCheck:
    image: str
    command: str
    files: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name: (dest, perm, text)
    permissions: tuple[dict[str, object], ...] = ()
    probe: str = "true"
    run_flags: tuple[str, ...] = ()
    timeout: float = 60.0
    file_owner: str = "root"

    def config_json(self) -> str:
        return json.dumps({
            "command": self.command,
            "config_files": [{"source": f"{SRC}/{name}", "dest": dest, "owner": self.file_owner,
                              "perm": perm} for name, (dest, perm, _) in self.files.items()],
            "permissions": list(self.permissions),
        }, indent=1)


def _http(url: str) -> str:
    # curl -f fails on 4xx/5xx; a 300 version document counts as answering.
    return f"curl -fsS -o /dev/null --max-time 5 {url}"


def _sqlite(section: str, path: str) -> str:
    return f"[{section}]\nconnection = sqlite:///{path}\n"


HAPROXY_CFG = """global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend health
    bind 127.0.0.1:8404
    monitor-uri /healthz
"""

KEEPALIVED_CONF = """global_defs {
    router_id lab_probe
}
vrrp_instance probe {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass probe
    }
    virtual_ipaddress {
        192.0.2.10/32 dev eth0
    }
}
"""

APACHE_KEYSTONE = """Listen 5000
<VirtualHost *:5000>
    WSGIDaemonProcess keystone-public processes=1 threads=4 user=keystone group=keystone
    WSGIProcessGroup keystone-public
    WSGIScriptAlias / /usr/bin/keystone-wsgi-public
    WSGIApplicationGroup %{GLOBAL}
    WSGIPassAuthorization On
    ErrorLog /dev/stderr
    <Directory /usr/bin>
        Require all granted
    </Directory>
</VirtualHost>
"""

SWIFT_RINGS = " && ".join(
    f"swift-ring-builder /etc/swift/{ring}.builder create 4 1 1 && "
    f"swift-ring-builder /etc/swift/{ring}.builder add r1z1-127.0.0.1:{port}/d1 1 && "
    f"swift-ring-builder /etc/swift/{ring}.builder rebalance"
    for ring, port in (("account", 6202), ("container", 6201), ("object", 6200)))

SWIFT_CONF = "[swift-hash]\nswift_hash_path_suffix = lab\nswift_hash_path_prefix = lab\n"

# The storage image's own pieces: an object server (forked workers, as deployed) on a
# one-device ring, and the rsync daemon replication goes through.
SWIFT_OBJECT_SERVER = (
    "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = 6200\nworkers = 1\nuser = swift\n"
    "devices = /srv/node\nmount_check = false\nlog_udp_host = 127.0.0.1\nlog_udp_port = 514\n"
    "[pipeline:main]\npipeline = healthcheck object-server\n"
    "[app:object-server]\nuse = egg:swift#object\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n")
SWIFT_RSYNCD = ("uid = swift\ngid = swift\naddress = 127.0.0.1\nport = 10873\nuse chroot = no\n"
                "pid file = /run/rsyncd.pid\n[object]\npath = /srv/node\nread only = false\n")
SWIFT_STORAGE_BINARIES = " ".join(
    f"swift-{ring}-{role}" for ring, roles in (
        ("account", ("server", "replicator", "auditor", "reaper")),
        ("container", ("server", "replicator", "updater", "auditor")),
        ("object", ("server", "replicator", "updater", "auditor", "expirer"))) for role in roles)

CINDER_SQLITE = "[DEFAULT]\ntransport_url = fake://\nstate_path = /var/lib/cinder\n" + _sqlite(
    "database", "/var/lib/cinder/cinder.db")


def _cinder_service_up(topic: str) -> str:
    """A probe: the service has written its heartbeat row into the database."""
    return ("python3 -c \"import sqlite3, sys; db = sqlite3.connect('/var/lib/cinder/cinder.db'); "
            f"sys.exit(0 if db.execute(\\\"select count(*) from services where topic = '{topic}' "
            "and updated_at is not null\\\").fetchone()[0] else 1)\"")


# One mon and one OSD on BlueStore in a plain file (no block device: that is the point
# of this back-end here), then a pool and an RBD image through librbd.
CEPH_ALL_IN_ONE = """#!/bin/sh
set -e
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
mkdir -p /etc/ceph /var/run/ceph /var/lib/ceph/mon/ceph-lab /var/lib/ceph/osd/ceph-0
cat > /etc/ceph/ceph.conf <<CONF
[global]
fsid = $fsid
mon_host = 127.0.0.1
mon_initial_members = lab
auth_allow_insecure_global_id_reclaim = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
bluestore_block_size = 1073741824
osd_memory_target = 939524096
CONF
cd /tmp
ceph-authtool --create-keyring mon.keyring --gen-key -n mon. --cap mon 'allow *'
ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key -n client.admin \\
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *'
ceph-authtool mon.keyring --import-keyring /etc/ceph/ceph.client.admin.keyring
monmaptool --create --add lab 127.0.0.1 --fsid $fsid monmap
chown -R ceph:ceph /var/lib/ceph /var/run/ceph mon.keyring
ceph-mon --mkfs -i lab --monmap monmap --keyring mon.keyring --setuser ceph --setgroup ceph
ceph-mon -i lab --setuser ceph --setgroup ceph
uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
key=$(ceph-authtool --gen-print-key)
id=$(printf '{"cephx_secret": "%s"}' "$key" | ceph osd new $uuid -i -)
ceph-authtool --create-keyring /var/lib/ceph/osd/ceph-$id/keyring --name osd.$id --add-key "$key"
chown -R ceph:ceph /var/lib/ceph/osd
ceph-osd -i $id --mkfs --osd-uuid $uuid --setuser ceph --setgroup ceph
exec ceph-osd -f -i $id --setuser ceph --setgroup ceph
"""

# librados waits for ever on a placement group that is not active yet: every step is
# bounded, so a probe that comes too early fails and the next one tries again.
CEPH_RBD_PROBE = (
    "ceph --connect-timeout 5 osd stat | grep -q '1 up' "
    "&& (ceph --connect-timeout 5 osd pool ls | grep -qx volumes "
    "|| timeout 30 ceph --connect-timeout 5 osd pool create volumes 8) "
    "&& timeout 30 python3 -c \"import rados, rbd; "
    "c = rados.Rados(conffile='/etc/ceph/ceph.conf', conf={'rados_osd_op_timeout': '10', "
    "'rados_mon_op_timeout': '10'}); c.connect(timeout=5); io = c.open_ioctx('volumes'); "
    "'lab' in rbd.RBD().list(io) or rbd.RBD().create(io, 'lab', 1 << 30); "
    "assert 'lab' in rbd.RBD().list(io)\" && command -v ceph-mgr >/dev/null")

CHECKS: dict[str, ServiceCheck] = {c.image: c for c in (
    ServiceCheck(
        "base", "sleep infinity",
        files={"probe.txt": ("/etc/kolla-ha/probe.txt", "0640", "copied\n")},
        probe='test "$(stat -c %a /etc/kolla-ha/probe.txt)" = 640 && grep -q copied /etc/kolla-ha/probe.txt'),
    ServiceCheck(
        # The shared parent of the OpenStack images: its libraries import, and the
        # openstack client runs.
        "openstack-base", "sleep infinity",
        probe="python3 -c 'import keystonemiddleware, oslo_db, oslo_messaging, oslo_cache, pymysql, memcache, "
              "pymemcache, keystoneauth1, swiftclient, os_brick' && openstack --version >/dev/null"),
    ServiceCheck(
        # The image ships an empty datadir (the Galera bootstrap initialises it), so this
        # check initialises one the same way before starting the server.
        "mariadb-server", "/usr/local/bin/lab-mariadb-start",
        files={"99-lab.cnf": ("/etc/mysql/mariadb.conf.d/99-lab.cnf", "0644",
                              "[mysqld]\nbind-address = 127.0.0.1\nport = 3306\n"),
               "lab-mariadb-start": ("/usr/local/bin/lab-mariadb-start", "0755",
                                     "#!/bin/sh\nset -e\n"
                                     "mysql_install_db --user=mysql --datadir=/var/lib/mysql "
                                     "--skip-test-db >/dev/null\n"
                                     "exec /usr/sbin/mariadbd --user=mysql\n")},
        permissions=({"path": "/var/lib/mysql", "owner": "mysql:mysql", "recurse": True},
                     {"path": "/run/mysqld", "owner": "mysql:mysql"}),
        probe="mariadb -uroot -e 'SELECT 1'"),
    ServiceCheck(
        "rabbitmq", "/usr/sbin/rabbitmq-server",
        files={"rabbitmq.conf": ("/etc/rabbitmq/rabbitmq.conf", "0644",
                                 "listeners.tcp.default = 5672\n")},
        permissions=({"path": "/var/lib/rabbitmq", "owner": "rabbitmq:rabbitmq", "recurse": True},),
        probe="rabbitmq-diagnostics -q check_running", timeout=120),
    ServiceCheck(
        "haproxy", "/usr/sbin/haproxy -W -db -f /etc/haproxy/haproxy.cfg",
        files={"haproxy.cfg": ("/etc/haproxy/haproxy.cfg", "0600", HAPROXY_CFG)},
        probe=_http("http://127.0.0.1:8404/healthz")),
    ServiceCheck(
        "keepalived", "/usr/sbin/keepalived -n -l -D -f /etc/keepalived/keepalived.conf",
        files={"keepalived.conf": ("/etc/keepalived/keepalived.conf", "0600", KEEPALIVED_CONF)},
        run_flags=("--cap-add", "NET_ADMIN", "--cap-add", "NET_BROADCAST", "--cap-add", "NET_RAW"),
        probe="ip -4 addr show dev eth0 | grep -q 192.0.2.10/32"),
    ServiceCheck(
        "memcached", "/usr/bin/memcached -u memcache -l 127.0.0.1 -p 11211 -m 16",
        probe="python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', 11211)); "
              "s.sendall(b'version\\r\\n'); assert s.recv(64).startswith(b'VERSION')\""),
    ServiceCheck(
        "keystone",
        # Tokens need fernet keys even for the version document's middleware chain.
        "sh -c 'keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone"
        " && exec /usr/sbin/apache2ctl -DFOREGROUND'",
        file_owner="keystone",
        files={"keystone.conf": ("/etc/keystone/keystone.conf", "0640",
                                 _sqlite("database", "/var/lib/keystone/keystone.db")),
               "wsgi-keystone.conf": ("/etc/apache2/sites-enabled/wsgi-keystone.conf", "0644",
                                      APACHE_KEYSTONE)},
        permissions=({"path": "/var/run/apache2", "owner": "root"},),
        probe=_http("http://127.0.0.1:5000/v3") + " && openstack --version"),
    ServiceCheck(
        "glance-api", "/usr/bin/glance-api --config-file /etc/glance/glance-api.conf",
        files={"glance-api.conf": ("/etc/glance/glance-api.conf", "0640",
                                   "[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = 9292\n"
                                   + _sqlite("database", "/var/lib/glance/glance.db")
                                   + "[paste_deploy]\nflavor =\n[glance_store]\nstores = file\n"
                                   "default_store = file\nfilesystem_store_datadir = /var/lib/glance/images/\n")},
        # glance.backend: swift needs glance_store's swift driver and swiftclient (a
        # dependency of Debian's python3-glance-store): both must import.
        probe=_http("http://127.0.0.1:9292/")
        + " && python3 -c 'import swiftclient, glance_store._drivers.swift.store'"),
    ServiceCheck(
        "placement-api",
        "sh -c 'placement-manage db sync && exec placement-api --port 8778'",
        files={"placement.conf": ("/etc/placement/placement.conf", "0640",
                                  _sqlite("placement_database", "/var/lib/placement/placement.db")
                                  + "[api]\nauth_strategy = noauth2\n")},
        permissions=({"path": "/var/lib/placement", "owner": "root"},),
        probe=_http("http://127.0.0.1:8778/"), timeout=120),
    ServiceCheck(
        "nova-api",
        "sh -c 'nova-manage api_db sync && nova-manage db sync && exec nova-api'",
        files={"nova.conf": ("/etc/nova/nova.conf", "0640",
                             "[DEFAULT]\nenabled_apis = osapi_compute\nosapi_compute_listen = 127.0.0.1\n"
                             "transport_url = fake://\n[api]\nauth_strategy = noauth2\n"
                             + _sqlite("api_database", "/var/lib/nova/nova_api.db")
                             + _sqlite("database", "/var/lib/nova/nova.db"))},
        probe=_http("http://127.0.0.1:8774/"), timeout=240),
    ServiceCheck(
        "neutron-server",
        # neutron's migrations refuse SQLite; the API answers its version document
        # without tables, which is all this check asks.
        "neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini",
        files={"neutron.conf": ("/etc/neutron/neutron.conf", "0640",
                                "[DEFAULT]\nbind_host = 127.0.0.1\ncore_plugin = ml2\nservice_plugins =\n"
                                "auth_strategy = noauth\ntransport_url = fake://\n"
                                + _sqlite("database", "/var/lib/neutron/neutron.db")),
               "ml2_conf.ini": ("/etc/neutron/plugins/ml2/ml2_conf.ini", "0640",
                                "[ml2]\ntype_drivers = flat\ntenant_network_types =\nmechanism_drivers =\n")},
        probe=_http("http://127.0.0.1:9696/"), timeout=300),
    ServiceCheck(
        "cinder-api",
        "sh -c 'cinder-manage db sync && exec cinder-api --config-file /etc/cinder/cinder.conf'",
        files={"cinder.conf": ("/etc/cinder/cinder.conf", "0640",
                               "[DEFAULT]\nosapi_volume_listen = 127.0.0.1\nauth_strategy = noauth\n"
                               "transport_url = fake://\n"
                               + _sqlite("database", "/var/lib/cinder/cinder.db"))},
        probe=_http("http://127.0.0.1:8776/"), timeout=120),
    ServiceCheck(
        "horizon", "/usr/sbin/apache2ctl -DFOREGROUND",
        # Django refuses Host headers it does not know; the probe asks for 127.0.0.1.
        files={"_90_lab.py": ("/etc/openstack-dashboard/local_settings.d/_90_lab.py", "0644",
                              "ALLOWED_HOSTS = ['*']\n")},
        permissions=({"path": "/var/run/apache2", "owner": "root"},),
        probe=_http("http://127.0.0.1/horizon/auth/login/"), timeout=120),
    ServiceCheck(
        "swift-proxy",
        f"sh -c '{SWIFT_RINGS} && exec swift-proxy-server /etc/swift/proxy-server.conf'",
        files={"swift.conf": ("/etc/swift/swift.conf", "0640",
                              "[swift-hash]\nswift_hash_path_suffix = lab\nswift_hash_path_prefix = lab\n"),
               "proxy-server.conf": ("/etc/swift/proxy-server.conf", "0640",
                                     "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = 8080\nworkers = 0\n"
                                     # workers = 0 serves from the parent process: with
                                     # forked workers the proxy exited with "worker did
                                     # not start normally" here (cause not yet known).
                                     # No syslog socket in a container; UDP to
                                     # loopback keeps swift's logger from failing.
                                     "log_udp_host = 127.0.0.1\nlog_udp_port = 514\n"
                                     "[pipeline:main]\npipeline = healthcheck proxy-server\n"
                                     "[app:proxy-server]\nuse = egg:swift#proxy\n"
                                     "[filter:healthcheck]\nuse = egg:swift#healthcheck\n")},
        probe=_http("http://127.0.0.1:8080/healthcheck"), timeout=120),
    ServiceCheck(
        "swift-storage",
        "sh -c 'rsync --daemon --config=/etc/rsyncd.conf && swift-ring-builder /etc/swift/object.builder create 4 1 1 "
        "&& swift-ring-builder /etc/swift/object.builder add r1z1-127.0.0.1:6200/d1 1 "
        "&& swift-ring-builder /etc/swift/object.builder rebalance "
        "&& exec swift-object-server /etc/swift/object-server.conf --verbose'",
        files={"swift.conf": ("/etc/swift/swift.conf", "0640", SWIFT_CONF),
               "object-server.conf": ("/etc/swift/object-server.conf", "0640", SWIFT_OBJECT_SERVER),
               "rsyncd.conf": ("/etc/rsyncd.conf", "0640", SWIFT_RSYNCD)},
        permissions=({"path": "/srv/node/d1", "owner": "swift:swift"},),
        # Swift's forked workers load the config after dropping to `user`: it must be
        # readable by swift (root-owned 0640 fails with "worker did not start normally").
        file_owner="swift",
        probe=_http("http://127.0.0.1:6200/healthcheck")
        + " && rsync rsync://127.0.0.1:10873/ | grep -qw object"
        + f" && command -v {SWIFT_STORAGE_BINARIES} >/dev/null && python3 -c 'import swiftclient'",
        timeout=120),
    ServiceCheck(
        "cinder-scheduler",
        "sh -c 'cinder-manage db sync && exec cinder-scheduler --config-file /etc/cinder/cinder.conf'",
        files={"cinder.conf": ("/etc/cinder/cinder.conf", "0640", CINDER_SQLITE)},
        permissions=({"path": "/var/lib/cinder", "owner": "root"},),
        probe=_cinder_service_up("cinder-scheduler"), timeout=120),
    ServiceCheck(
        # No Ceph here: the RBD back-end cannot connect, and cinder-volume runs on and
        # reports its service anyway (the driver is retried); the probe also loads the
        # driver and librbd, what the Ceph-backed deployment needs of this image.
        "cinder-volume",
        "sh -c 'cinder-manage db sync && exec cinder-volume --config-file /etc/cinder/cinder.conf'",
        files={"cinder.conf": ("/etc/cinder/cinder.conf", "0640", CINDER_SQLITE
                               + "[DEFAULT]\nenabled_backends = rbd-1\nhost = cinder-volumes\n"
                               "[rbd-1]\nvolume_driver = cinder.volume.drivers.rbd.RBDDriver\n"
                               "volume_backend_name = rbd-1\nrbd_pool = volumes\nrados_connect_timeout = 1\n")},
        permissions=({"path": "/var/lib/cinder", "owner": "root"},),
        probe=_cinder_service_up("cinder-volume")
        + " && python3 -c 'import rbd, rados, cinder.volume.drivers.rbd' && command -v rbd",
        timeout=120),
    ServiceCheck(
        "ceph", "/usr/local/bin/ceph-lab-all-in-one",
        files={"ceph-lab-all-in-one": ("/usr/local/bin/ceph-lab-all-in-one", "0755", CEPH_ALL_IN_ONE)},
        probe=CEPH_RBD_PROBE, timeout=180),
)}
