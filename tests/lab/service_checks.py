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

CHECKS: dict[str, ServiceCheck] = {c.image: c for c in (
    ServiceCheck(
        "base", "sleep infinity",
        files={"probe.txt": ("/etc/kolla-ha/probe.txt", "0640", "copied\n")},
        probe='test "$(stat -c %a /etc/kolla-ha/probe.txt)" = 640 && grep -q copied /etc/kolla-ha/probe.txt'),
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
        probe=_http("http://127.0.0.1:9292/")),
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
)}
