"""components/inventory.py: every bad stack config is refused before a resource exists."""
from __future__ import annotations

import ipaddress

import pytest

from components import catalog
from components.defaults import TIER_DEFAULTS
from components.inventory import REQUIRED_GROUPS, Images, InventoryError, SshAccess, parse_inventory
from tests.unit.inventory_fixtures import make_config


def problems_of(raw, secret_keys=frozenset()):
    with pytest.raises(InventoryError) as excinfo:
        parse_inventory(raw, secret_keys)
    error = excinfo.value
    # the message shown to the operator carries every problem
    for problem in error.problems:
        assert problem in str(error)
    assert "nothing was deployed" in str(error)
    return error.problems


def assert_problem(problems, *fragments):
    """One problem line contains every fragment (the key, what is wrong, the fix)."""
    assert any(all(f in p for f in fragments) for p in problems), (
        f"no problem contains {fragments!r}; got:\n" + "\n".join(problems)
    )


# --- happy paths -----------------------------------------------------------------


@pytest.mark.parametrize("n_hosts", [3, 5])
def test_valid_inventory_is_parsed(n_hosts):
    raw, secrets = make_config(n_hosts)
    inv = parse_inventory(raw, secrets)
    assert [h.name for h in inv.hosts] == [f"ctl{i}" for i in range(1, n_hosts + 1)]
    assert [h.address for h in inv.hosts] == [f"10.0.0.{10 + i}" for i in range(1, n_hosts + 1)]
    assert all(h.interface == "eth0" and h.ssh.user == "root" and h.ssh.port == 22 for h in inv.hosts)
    assert inv.hosts[0].docker_url == "ssh://root@10.0.0.11:22"
    assert inv.hosts[0].external_interface == "eth0"
    for group in REQUIRED_GROUPS:
        assert [h.name for h in inv.group(group)] == [h.name for h in inv.hosts]
    assert inv.internal_network == ipaddress.IPv4Network("10.0.0.0/24")
    assert inv.internal_prefixlen == 24
    assert inv.internal_vip == "10.0.0.250"
    assert inv.external_vip is None and inv.external_network is None
    assert inv.vrrp_router_id == 51
    assert inv.warnings == ()


def test_external_vip_with_its_network_is_accepted():
    raw, secrets = make_config(external_vip="203.0.113.10", external_network="203.0.113.0/24")
    inv = parse_inventory(raw, secrets)
    assert inv.external_vip == "203.0.113.10"
    assert inv.external_network == ipaddress.IPv4Network("203.0.113.0/24")


def test_enabled_services_default_to_the_catalogue_default_list():
    raw, secrets = make_config()
    inv = parse_inventory(raw, secrets)
    assert inv.enabled_services == catalog.DEFAULT_ENABLED
    assert "swift-proxy-server" not in inv.enabled_services


def test_enabled_services_can_be_narrowed():
    raw, secrets = make_config(enabled_services=["keystone", "glance-api"])
    assert parse_inventory(raw, secrets).enabled_services == ("keystone", "glance-api")


def test_tier_defaults_are_merged_with_overrides():
    raw, secrets = make_config(galera={"gcache_size": "4G"}, haproxy={"maxconn": 1000})
    inv = parse_inventory(raw, secrets)
    assert inv.tier("galera")["gcache_size"] == "4G"
    assert inv.tier("galera")["max_connections"] == TIER_DEFAULTS["galera"]["max_connections"]
    assert inv.tier("haproxy")["maxconn"] == 1000
    assert inv.tier("haproxy")["check_fall"] == TIER_DEFAULTS["haproxy"]["check_fall"]
    assert dict(inv.tier("rabbitmq")) == TIER_DEFAULTS["rabbitmq"]
    assert set(inv.tiers) == set(TIER_DEFAULTS)
    # the shared defaults are not mutated by one stack's overrides
    assert TIER_DEFAULTS["galera"]["gcache_size"] == "1G"


@pytest.mark.parametrize("router_id", [1, 255])
def test_vrrp_router_id_bounds_are_accepted(router_id):
    raw, secrets = make_config(vrrp_router_id=router_id)
    assert parse_inventory(raw, secrets).vrrp_router_id == router_id


# --- Images.ref ------------------------------------------------------------------


def test_image_ref_with_registry():
    images = Images(registry="registry.example.com:5000", namespace="kolla-ha", tag="zed", overrides={})
    assert images.ref("keystone") == "registry.example.com:5000/kolla-ha/keystone:zed"


def test_image_ref_without_registry():
    images = Images(registry="", namespace="kolla-ha", tag="zed", overrides={})
    assert images.ref("mariadb-server") == "kolla-ha/mariadb-server:zed"


def test_image_ref_override_wins_for_that_image_only():
    override = "quay.io/openstack.kolla/keystone:2023.1-ubuntu-jammy"
    images = Images(registry="r.example.com", namespace="kolla-ha", tag="zed", overrides={"keystone": override})
    assert images.ref("keystone") == override
    assert images.ref("glance-api") == "r.example.com/kolla-ha/glance-api:zed"


def test_images_config_reaches_the_inventory():
    raw, secrets = make_config(
        images={"registry": "registry.example.com:5000", "tag": "2023.1", "overrides": {"horizon": "example/horizon:1"}}
    )
    images = parse_inventory(raw, secrets).images
    assert images.ref("keystone") == "registry.example.com:5000/kolla-ha/keystone:2023.1"
    assert images.ref("horizon") == "example/horizon:1"


def test_images_default_to_no_registry_kolla_ha_namespace_and_zed():
    raw, secrets = make_config()
    assert parse_inventory(raw, secrets).images.ref("keystone") == "kolla-ha/keystone:zed"


def test_images_null_values_fall_back_to_defaults():
    # YAML `registry: ~` must not become a registry literally called "None"
    raw, secrets = make_config(images={"registry": None, "namespace": None, "tag": None})
    assert parse_inventory(raw, secrets).images.ref("keystone") == "kolla-ha/keystone:zed"


# --- catalogue ordering ----------------------------------------------------------


def test_deploy_order_puts_dependencies_first():
    enabled = ("nova-api", "horizon", "neutron-server", "glance-api", "placement-api", "keystone")
    order = catalog.deploy_order(enabled)
    assert sorted(order) == sorted(enabled)
    assert order[0] == "keystone"
    for svc in order:
        for dep in catalog.CATALOG[svc].depends_on:
            assert order.index(dep) < order.index(svc), f"{dep} must come before {svc}"


def test_deploy_order_ignores_disabled_dependencies():
    assert catalog.deploy_order(("glance-api",)) == ["glance-api"]


# --- hosts -----------------------------------------------------------------------


def test_duplicate_host_name_is_refused():
    raw, secrets = make_config()
    raw["hosts"][2]["name"] = "ctl1"
    assert_problem(problems_of(raw, secrets), "hosts[2].name", "duplicate host name 'ctl1'", "hosts[0]", "own name")


def test_duplicate_host_address_is_refused():
    raw, secrets = make_config()
    raw["hosts"][1]["address"] = "10.0.0.11"
    assert_problem(problems_of(raw, secrets), "hosts[1].address", "10.0.0.11", "'ctl1'", "own internal address")


def test_host_address_outside_internal_network_is_refused():
    raw, secrets = make_config()
    raw["hosts"][2]["address"] = "10.0.1.13"
    assert_problem(
        problems_of(raw, secrets), "hosts", "10.0.1.13", "'ctl3'", "outside internal_network 10.0.0.0/24",
        "fix the address or the network",
    )


def test_host_address_that_is_not_an_ip_is_refused():
    raw, secrets = make_config()
    raw["hosts"][0]["address"] = "ctl1.example.com"
    assert_problem(problems_of(raw, secrets), "hosts[0].address", "not an IPv4 address", "e.g. 10.0.0.11")


# --- VIPs and networks -----------------------------------------------------------


def test_vip_equal_to_a_host_address_is_refused():
    raw, secrets = make_config(internal_vip="10.0.0.12")
    assert_problem(problems_of(raw, secrets), "internal_vip", "10.0.0.12", "'ctl2'", "free address that no host owns")


def test_vip_outside_internal_network_is_refused():
    raw, secrets = make_config(internal_vip="10.0.1.250")
    assert_problem(problems_of(raw, secrets), "internal_vip", "10.0.1.250", "outside internal_network 10.0.0.0/24")


def test_external_vip_without_external_network_is_refused():
    raw, secrets = make_config(external_vip="203.0.113.10")
    assert_problem(problems_of(raw, secrets), "external_network", "required with external_vip", "CIDR")


@pytest.mark.parametrize("router_id", [0, 256])
def test_vrrp_router_id_out_of_range_is_refused(router_id):
    raw, secrets = make_config(vrrp_router_id=router_id)
    assert_problem(problems_of(raw, secrets), "vrrp_router_id", repr(router_id), "outside 1-255", "default 51")


# --- groups ----------------------------------------------------------------------


def test_group_naming_an_unknown_host_is_refused():
    raw, secrets = make_config()
    raw["groups"]["database"] = ["ctl1", "ctl2", "db9"]
    assert_problem(problems_of(raw, secrets), "groups.database", "unknown host 'db9'", "add it to `hosts`")


@pytest.mark.parametrize("group", ["control", "database", "messaging", "loadbalancer", "memcached"])
def test_empty_required_group_is_refused(group):
    raw, secrets = make_config()
    raw["groups"][group] = []
    assert_problem(problems_of(raw, secrets), f"groups.{group}", "required and must name at least one host")


@pytest.mark.parametrize("group", ["control", "database", "messaging", "loadbalancer", "memcached"])
def test_missing_required_group_is_refused(group):
    raw, secrets = make_config()
    del raw["groups"][group]
    assert_problem(problems_of(raw, secrets), f"groups.{group}", "required and must name at least one host")


@pytest.mark.parametrize("group", ["database", "messaging"])
def test_two_node_quorum_group_is_refused(group):
    raw, secrets = make_config()
    raw["groups"][group] = ["ctl1", "ctl2"]
    assert_problem(problems_of(raw, secrets), f"groups.{group}", "2 members cannot keep quorum", "3 or more")


@pytest.mark.parametrize("group", ["database", "messaging"])
def test_one_node_quorum_group_is_accepted_for_labs(group):
    raw, secrets = make_config()
    raw["groups"][group] = ["ctl1"]
    assert parse_inventory(raw, secrets).warnings == ()


@pytest.mark.parametrize("group", ["database", "messaging"])
def test_four_node_quorum_group_is_accepted_with_a_warning(group):
    raw, secrets = make_config(5)
    raw["groups"][group] = ["ctl1", "ctl2", "ctl3", "ctl4"]
    inv = parse_inventory(raw, secrets)
    assert len(inv.group(group)) == 4
    assert len(inv.warnings) == 1
    assert f"groups.{group}" in inv.warnings[0]
    assert "even number" in inv.warnings[0]
    assert "3 or 5" in inv.warnings[0]


# --- images ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "fragments"),
    [
        ({"registry": "registry example.com"}, ("images.registry", "'registry example.com'", "host[:port]")),
        ({"registry": "https://registry.example.com"}, ("images.registry", "host[:port]")),
        ({"tag": "zed latest"}, ("images.tag", "'zed latest'", "not a valid image tag")),
        ({"tag": ":zed"}, ("images.tag", "not a valid image tag")),
        ({"namespace": "Kolla HA"}, ("images.namespace", "not a valid repository path")),
        (
            {"overrides": {"keystone": "Quay.io/Kolla/Keystone:zed"}},
            ("images.overrides.keystone", "not an image reference", "registry[:port]/path/name:tag"),
        ),
        ({"overrides": {"keystone": "kolla/keystone:"}}, ("images.overrides.keystone", "not an image reference")),
        ({"overrides": {"keystone": 5}}, ("images.overrides.keystone", "not an image reference")),
    ],
)
def test_malformed_image_reference_is_refused(images, fragments):
    raw, secrets = make_config(images=images)
    assert_problem(problems_of(raw, secrets), *fragments)


# --- services --------------------------------------------------------------------


def test_service_with_disabled_dependency_is_refused():
    enabled = [s for s in catalog.DEFAULT_ENABLED if s != "placement-api"]
    raw, secrets = make_config(enabled_services=enabled)
    assert_problem(
        problems_of(raw, secrets), "enabled_services", "nova-api needs placement-api",
        "add placement-api or remove nova-api",
    )


def test_unknown_service_is_refused():
    raw, secrets = make_config(enabled_services=["keystone", "octavia-api"])
    assert_problem(problems_of(raw, secrets), "enabled_services", "unknown service 'octavia-api'", "known: keystone")


# --- secrets ---------------------------------------------------------------------


def test_missing_keystone_admin_password_is_refused():
    raw, secrets = make_config()
    del raw["keystone_admin_password"]
    assert_problem(
        problems_of(raw, secrets), "keystone_admin_password", "missing",
        "pulumi config set --secret keystone_admin_password",
    )


def test_plain_text_password_is_refused():
    raw, _ = make_config(database_password="hunter2")
    problems = problems_of(raw, frozenset({"keystone_admin_password"}))
    assert_problem(problems, "database_password", "plain text", "pulumi config set --secret database_password")
    assert len(problems) == 1  # keystone_admin_password is a secret and not reported


def test_plain_text_secret_suffix_is_refused():
    raw, secrets = make_config()
    raw["horizon_secret"] = "abc"
    # Not a secret the program uses: the line says which one was meant, and that the
    # value sits in the stack file in plain text.
    assert_problem(problems_of(raw, secrets), "horizon_secret", "did you mean the secret horizon_secret_key",
                   "--secret horizon_secret_key", "plain text", "pulumi config rm horizon_secret")


# --- tiers -----------------------------------------------------------------------


def test_unknown_tier_key_is_refused():
    raw, secrets = make_config(galera={"gcach_size": "2G"})
    assert_problem(problems_of(raw, secrets), "galera.gcach_size", "unknown key", "gcache_size")


def test_invalid_rabbitmq_queue_type_is_refused():
    raw, secrets = make_config(rabbitmq={"queue_type": "classic"})
    assert_problem(problems_of(raw, secrets), "rabbitmq.queue_type", "'classic'", "use quorum (default) or mirrored")


def test_tier_number_of_the_wrong_type_is_refused():
    raw, secrets = make_config(haproxy={"maxconn": "lots"}, neutron={"l3_ha": "yes"})
    problems = problems_of(raw, secrets)
    assert_problem(problems, "haproxy.maxconn", "whole number")
    assert_problem(problems, "neutron.l3_ha", "true or false")


# --- every problem at once -------------------------------------------------------


def test_all_problems_are_reported_at_once():
    raw, _ = make_config(
        internal_vip="10.0.1.250",
        vrrp_router_id=0,
        enabled_services=["keystone", "octavia-api"],
        rabbitmq={"queue_type": "classic"},
        galera={"gcach_size": "2G"},
        database_password="hunter2",
    )
    raw["hosts"].append({"name": "ctl1", "address": "10.0.0.14", "interface": "eth0"})
    raw["hosts"][2]["address"] = "10.0.0.11"
    raw["groups"]["memcached"] = []
    del raw["keystone_admin_password"]
    problems = problems_of(raw, frozenset())
    expected = [
        "hosts[3].name: duplicate host name 'ctl1'",
        "hosts[2].address: 10.0.0.11 is already used",
        "groups.memcached",
        "internal_vip",
        "vrrp_router_id",
        "enabled_services: unknown service 'octavia-api'",
        "rabbitmq.queue_type",
        "galera.gcach_size",
        "keystone_admin_password: missing",
        "database_password: stored in plain text",
    ]
    for fragment in expected:
        assert_problem(problems, fragment)
    assert len(problems) == len(expected)


def test_missing_ssh_key_file_is_refused_before_anything_is_declared(tmp_path) -> None:
    raw, secret_keys = make_config(3)
    raw["hosts"][1]["ssh"]["key_file"] = str(tmp_path / "absent")
    with pytest.raises(InventoryError) as err:
        parse_inventory(raw, secret_keys)
    assert any(
        p.startswith("hosts[1].ssh.key_file:") and "does not exist" in p and "ssh-agent" in p
        for p in err.value.problems
    )
    present = tmp_path / "id_ed25519"
    present.write_text("key")
    raw["hosts"][1]["ssh"]["key_file"] = str(present)
    assert parse_inventory(raw, secret_keys).hosts[1].ssh.key_file == str(present)


# --- every key's format, range and meaning (issue 11) ----------------------------------
#
# Each case: where the bad value goes, the value, and fragments one problem line must
# contain: the key path, what was wrong, and what to write instead.


def _set(raw, path, value):
    """Put `value` at a dotted path (`hosts.1.ssh.user`) of the raw config."""
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = raw
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


BAD_VALUES = [
    # the issue's cases
    ("hosts.0.name", "ctl1\n", ("hosts[0].name", "'ctl1\\n'", "not a valid short host name", "RFC 1123", "e.g. ctl1")),
    ("images.tag", "zed\n", ("images.tag", "'zed\\n'", "not a valid image tag", "e.g. zed")),
    ("haproxy.timeout_client", "1m\n    option httpclose", ("haproxy.timeout_client", "not a HAProxy duration", "us, ms, s, m, h or d")),
    ("images.tag", 2023.1, ("images.tag", "2023.1", "YAML read an unquoted number", 'tag: "2023.1"', "2023.10")),
    # host names (also RabbitMQ node names)
    ("hosts.0.name", "Ctl1", ("hosts[0].name", "lower-case")),
    ("hosts.0.name", "1ctl", ("hosts[0].name", "starting with a letter")),
    ("hosts.0.name", "ctl-", ("hosts[0].name", "not ending with '-'")),
    ("hosts.0.name", "c" * 64, ("hosts[0].name", "at most 63")),
    ("hosts.0.name", "ctl1.example.com", ("hosts[0].name", "not a valid short host name")),
    ("hosts.0.name", None, ("hosts[0].name", "is null, and this key has no default")),
    ("hosts.0.address", "10.0.0.11\n", ("hosts[0].address", "not an IPv4 address", "e.g. 10.0.0.11")),
    ("hosts.0.address", 11, ("hosts[0].address", "not an IPv4 address", "quotes")),
    # interface names as the kernel takes them, and keepalived.conf can carry them
    ("hosts.0.interface", "", ("hosts[0].interface", "not a Linux interface name", "1-15 characters")),
    ("hosts.0.interface", "eth0/1", ("hosts[0].interface", "not a Linux interface name")),
    ("hosts.0.interface", "eth0:1", ("hosts[0].interface", "not a Linux interface name")),
    ("hosts.0.interface", "eth 0", ("hosts[0].interface", "not a Linux interface name")),
    ("hosts.0.interface", "e" * 16, ("hosts[0].interface", "1-15 characters")),
    ("hosts.0.interface", "..", ("hosts[0].interface", "not a Linux interface name")),
    ("hosts.0.interface", "eth0.100@eth0", ("hosts[0].interface", "not ip's name@parent")),
    ("hosts.0.external_interface", "eth1#x", ("hosts[0].external_interface", "not a Linux interface name")),
    # ssh
    ("hosts.0.ssh.user", "-root", ("hosts[0].ssh.user", "not a POSIX user name", "e.g. root")),
    ("hosts.0.ssh.user", "ro ot", ("hosts[0].ssh.user", "not a POSIX user name")),
    ("hosts.0.ssh.user", "root\n", ("hosts[0].ssh.user", "not a POSIX user name")),
    ("hosts.0.ssh.user", "u" * 33, ("hosts[0].ssh.user", "up to 32")),
    ("hosts.0.ssh.port", 0, ("hosts[0].ssh.port", "outside 1-65535", "default 22")),
    ("hosts.0.ssh.port", 65536, ("hosts[0].ssh.port", "outside 1-65535")),
    ("hosts.0.ssh.port", True, ("hosts[0].ssh.port", "not a whole number")),
    ("hosts.0.ssh.port", "22", ("hosts[0].ssh.port", "not a whole number")),
    ("hosts.0.ssh.key_file", "", ("hosts[0].ssh.key_file", "cannot be empty")),
    ("hosts.0.docker", "http://10.0.0.11:2375", ("hosts[0].docker", "not a Docker daemon URL", "ssh://[user@]host[:port]")),
    ("hosts.0.docker", "ssh://root@10.0.0.11:0", ("hosts[0].docker", "not a Docker daemon URL")),
    ("hosts.0.docker", "tcp://10.0.0.11:65536", ("hosts[0].docker", "outside 1-65535")),
    ("hosts.0.docker", "ssh://root@10.0.0.11/x", ("hosts[0].docker", "not a Docker daemon URL")),
    ("hosts.0.docker", "unix://relative.sock", ("hosts[0].docker", "not a Docker daemon URL")),
    # networks and addresses
    ("internal_network", "10.0.0.1/24", ("internal_network", "host bits", "10.0.0.0/24")),
    ("internal_network", "10.0.0.0", ("internal_network", "prefix length is missing")),
    ("internal_network", "10.0.0.0/33", ("internal_network", "not an IPv4 network")),
    ("internal_vip", "10.0.0.0", ("internal_vip", "network or broadcast address")),
    ("internal_vip", "10.0.0.255", ("internal_vip", "network or broadcast address")),
    ("external_network", "203.0.113.0/24", ("external_network", "external_vip is not", "add external_vip or remove")),
    ("vrrp_router_id", True, ("vrrp_router_id", "not a whole number")),
    # images
    ("images.registry", "myregistry", ("images.registry", "Docker Hub namespace", "host[:port]")),
    ("images.registry", "registry.example.com:99999", ("images.registry", "not a registry", "outside 1-65535")),
    ("images.overrides", {"keystne": "example/keystone:1"}, ("images.overrides.keystne", "did you mean keystone")),
    ("images.overrides", "example/keystone:1", ("images.overrides", "must be image name: image reference")),
    ("enabled_services", "keystone", ("enabled_services", "must be a list of service names")),
    ("enabled_services", ["keystone", "glance"], ("enabled_services", "unknown service 'glance'", "did you mean glance-api")),
    ("enabled_services", ["keystone", "keystone"], ("enabled_services", "lists a service twice")),
    # groups
    ("groups.database", "ctl1", ("groups.database", "must be a list of host names", "e.g. [ctl1, ctl2, ctl3]")),
    ("groups.database", ["ctl1", "ctl2", "ctl4"], ("groups.database", "unknown host 'ctl4'", "did you mean 'ctl", "add it to `hosts`")),
    ("groups.contrl", ["ctl1"], ("groups.contrl", "unknown key", "did you mean control")),
    # galera: MariaDB's size syntax and ranges
    ("galera.gcache_size", "1GB", ("galera.gcache_size", "not a MariaDB size", "K, M, G or T", "e.g. 1G")),
    ("galera.gcache_size", 1024, ("galera.gcache_size", "not a MariaDB size", "quotes")),
    ("galera.gcache_size", "0", ("galera.gcache_size", "below the minimum")),
    ("galera.innodb_buffer_pool_size", "1M", ("galera.innodb_buffer_pool_size", "below the minimum of 2M")),
    ("galera.max_connections", 5, ("galera.max_connections", "outside 10-100000", "default 10000")),
    ("galera.max_connections", 100001, ("galera.max_connections", "outside 10-100000")),
    ("galera.sst_method", "mysqldump", ("galera.sst_method", "'mysqldump'", "use mariabackup (default) or rsync")),
    ("galera.health_interval", 0, ("galera.health_interval", "outside 1-86400")),
    # rabbitmq
    ("rabbitmq.vm_memory_high_watermark", 0, ("rabbitmq.vm_memory_high_watermark", "below 0", "above 0 and at most 1")),
    ("rabbitmq.vm_memory_high_watermark", 1.5, ("rabbitmq.vm_memory_high_watermark", "too large", "at most 1")),
    ("rabbitmq.vm_memory_high_watermark", "0.4", ("rabbitmq.vm_memory_high_watermark", "not a number", "without quotes")),
    ("rabbitmq.mirror_count", 1, ("rabbitmq.mirror_count", "neither all nor", "at least 2")),
    ("rabbitmq.mirror_count", "two", ("rabbitmq.mirror_count", "neither all nor")),
    ("rabbitmq.mirror_count", 4, ("rabbitmq.mirror_count", "more than the 3 messaging hosts", "from 2 to 3")),
    ("rabbitmq.partition_handling", "pause-minority", ("rabbitmq.partition_handling", "use pause_minority (default), autoheal or ignore")),
    # haproxy: its duration syntax, nofile headroom
    ("haproxy.timeout_connect", "10", ("haproxy.timeout_connect", "unit is missing", "milliseconds")),
    ("haproxy.timeout_connect", 10, ("haproxy.timeout_connect", "not a HAProxy duration", "quotes")),
    ("haproxy.timeout_server", "10 s", ("haproxy.timeout_server", "not a HAProxy duration")),
    ("haproxy.timeout_check", "0s", ("haproxy.timeout_check", "longer than zero")),
    ("haproxy.db_timeout", "25d", ("haproxy.db_timeout", "24 days")),
    ("haproxy.maxconn", 0, ("haproxy.maxconn", "outside 1-523776")),
    ("haproxy.maxconn", 600000, ("haproxy.maxconn", "outside 1-523776")),
    ("haproxy.check_rise", 0, ("haproxy.check_rise", "below 1")),
    ("haproxy.check_fall", 0, ("haproxy.check_fall", "below 1")),
    ("haproxy.check_inter_ms", 0, ("haproxy.check_inter_ms", "outside 1-2147483647")),
    # keepalived: VRRP's ranges
    ("keepalived.advert_int", 0, ("keepalived.advert_int", "outside 1-255")),
    ("keepalived.advert_int", 256, ("keepalived.advert_int", "outside 1-255")),
    ("keepalived.priority_base", 255, ("keepalived.priority_base", "outside 1-254")),
    ("keepalived.priority_step", 0, ("keepalived.priority_step", "outside 1-253")),
    ("keepalived.check_interval", 0, ("keepalived.check_interval", "outside 1-3600")),
    ("keepalived.check_fall", 0, ("keepalived.check_fall", "below 1")),
    # counts that must be >= 1
    ("memcached.memory_mb", 0, ("memcached.memory_mb", "below 1", "default 1024")),
    ("memcached.connection_limit", 0, ("memcached.connection_limit", "below 1")),
    ("memcached.threads", 0, ("memcached.threads", "below 1")),
    ("api.workers", 0, ("api.workers", "below 1")),
    ("api.healthcheck_retries", 0, ("api.healthcheck_retries", "below 1")),
    ("api.wait_timeout", 10, ("api.wait_timeout", "before the first health check", "more than 10")),
    # neutron
    ("neutron.max_l3_agents_per_router", 1, ("neutron.max_l3_agents_per_router", "refused by neutron", "0 (every agent)")),
    ("neutron.dhcp_agents_per_network", 0, ("neutron.dhcp_agents_per_network", "below 1")),
    ("neutron.l3_ha", "yes", ("neutron.l3_ha", "must be true or false")),
    ("neutron.l3_ha", 1, ("neutron.l3_ha", "must be true or false")),
    # cinder, glance
    ("cinder.backend_host", "cinder volumes", ("cinder.backend_host", "not a valid name", "e.g. cinder-volumes")),
    ("cinder.backend_host", "cinder\n", ("cinder.backend_host", "not a valid name")),
    ("glance.backend", "rbd", ("glance.backend", "use file (default) or swift")),
    ("glance.backend", "swift", ("glance.backend", "needs swift-proxy-server")),
    ("glance.file_path", "srv/images", ("glance.file_path", "not an absolute host path", "below /")),
    ("glance.file_path", "/srv/../etc", ("glance.file_path", "no `.` or `..` components")),
    ("glance.file_path", "/srv/my images", ("glance.file_path", "not an absolute host path")),
    ("cinder.backend", "lvm", ("cinder.backend", "use rbd (default)")),
    # ceph: its own minimum memory target, devices under /dev
    ("ceph.pool_size", 0, ("ceph.pool_size", "outside 1-10", "default 3")),
    ("ceph.osd_memory_target", "512M", ("ceph.osd_memory_target", "below the minimum of 896M")),
    ("ceph.osd_memory_target", 4096, ("ceph.osd_memory_target", "not a Ceph size", "quotes")),
    ("ceph.osd_file_size", "10GB", ("ceph.osd_file_size", "not a Ceph size", "K, M, G or T")),
    ("ceph.osd_devices", ["/srv/disk"], ("ceph.osd_devices[0]", "not a block device path", "under /dev/")),
    ("ceph.osd_devices", ["/dev/sdb", "/dev/sdb"], ("ceph.osd_devices", "lists /dev/sdb twice", "name each device once")),
    # swift: what the ring builder accepts
    ("swift.part_power", 33, ("swift.part_power", "outside 1-32")),
    ("swift.devices", [], ("swift.devices", "must not be empty")),
    ("swift.devices", [{"name": "../x"}], ("swift.devices[0].name", "not a valid name")),
    ("swift.mount_check", "no", ("swift.mount_check", "must be true or false")),
    ("swift.devices", [{"name": "d1"}, {"name": "d1"}], ("swift.devices", "lists d1 twice", "name each device once")),
    # unknown keys at every level, with a guess where one is close
    ("images.regsitry", "r.example.com", ("images.regsitry", "unknown key", "did you mean registry")),
    ("hosts.1.external_interfce", "eth1", ("hosts[1].external_interfce", "unknown key", "did you mean external_interface")),
    ("hosts.2.ssh.keyfile", "~/.ssh/id", ("hosts[2].ssh.keyfile", "unknown key", "did you mean key_file")),
    ("haproxy.timeout_clinet", "1m", ("haproxy.timeout_clinet", "unknown key", "did you mean timeout_client")),
    ("keepalived", {"priority": 100}, ("keepalived.priority", "unknown key", "did you mean priority_")),
    ("internal_vipp", "10.0.0.250", ("internal_vipp", "unknown config key", "did you mean internal_vip")),
    ("rabitmq", {}, ("rabitmq", "unknown config key", "did you mean rabbitmq")),
]


@pytest.mark.parametrize(("path", "value", "fragments"), BAD_VALUES, ids=[f"{p}={v!r}" for p, v, _ in BAD_VALUES])
def test_bad_value_is_refused_with_key_problem_and_fix(path, value, fragments):
    raw, secrets = make_config(groups={g: ["ctl1", "ctl2", "ctl3"] for g in ("control", "database", "messaging", "loadbalancer", "memcached")})
    _set(raw, path, value)
    assert_problem(problems_of(raw, secrets), *fragments)


GOOD_VALUES = [
    ("hosts.0.name", "c"),
    ("hosts.0.name", "ctl-1"),
    ("hosts.0.name", "c" * 63),
    ("hosts.0.interface", "bond0.100"),
    ("hosts.0.interface", "enp3s0f1"),
    ("hosts.0.interface", "e" * 15),
    ("hosts.0.ssh.user", "deploy"),
    ("hosts.0.ssh.user", "_svc"),
    ("hosts.0.ssh.user", "kolla.ops"),
    ("hosts.0.ssh.port", 2222),
    ("hosts.0.docker", "tcp://10.0.0.11:2375"),
    ("hosts.0.docker", "unix:///var/run/docker.sock"),
    ("hosts.0.docker", "ssh://deploy@ctl1.example.com"),
    ("images.registry", "localhost:5000"),
    ("images.registry", "registry.example.com"),
    ("images.tag", "2023.10"),
    ("galera.gcache_size", "512M"),
    ("galera.gcache_size", "2g"),
    ("galera.innodb_buffer_pool_size", "2M"),
    ("galera.sst_method", "rsync"),
    ("rabbitmq.vm_memory_high_watermark", 1),
    ("rabbitmq.mirror_count", 2),
    ("rabbitmq.mirror_count", 3),
    ("haproxy.timeout_client", "500ms"),
    ("haproxy.timeout_client", "100us"),
    ("haproxy.db_timeout", "24d"),
    ("keepalived.priority_base", 254),
    ("neutron.max_l3_agents_per_router", 0),
    ("neutron.l3_ha", False),
    ("glance.backend", "file"),
    ("glance.file_path", "/srv/glance-images"),
    ("glance.file_path", "/mnt/nfs/glance"),
    ("ceph.osd_devices", ["/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "/dev/sdc"]),
    ("ceph.osd_memory_target", "896M"),
    ("ceph.pool_size", 3),
    ("swift.devices", [{"name": "sdb", "weight": 200}, {"name": "sdc"}]),
    ("swift.min_part_hours", 0),
]


@pytest.mark.parametrize(("path", "value"), GOOD_VALUES, ids=[f"{p}={v!r}" for p, v in GOOD_VALUES])
def test_good_value_is_accepted(path, value):
    raw, secrets = make_config()
    _set(raw, path, value)
    if path == "hosts.0.name":
        raw["groups"] = {g: [value if m == "ctl1" else m for m in ms] for g, ms in raw["groups"].items()}
    parse_inventory(raw, secrets)


def test_null_means_the_default_where_there_is_one():
    raw, secrets = make_config()
    raw["hosts"][0]["external_interface"] = None
    raw["hosts"][0]["ssh"] = {"user": None, "port": None, "key_file": None}
    raw["hosts"][0]["docker"] = None
    raw["galera"] = {"gcache_size": None}
    raw["enabled_services"] = None
    raw["vrrp_router_id"] = None
    inv = parse_inventory(raw, secrets)
    host = inv.hosts[0]
    assert host.external_interface == "eth0"  # the interface, never the text "None"
    assert host.ssh == SshAccess(user="root", port=22, key_file=None)
    assert host.docker_url == "ssh://root@10.0.0.11:22"
    assert inv.tier("galera")["gcache_size"] == "1G"
    assert inv.enabled_services == catalog.DEFAULT_ENABLED
    assert inv.vrrp_router_id == 51


@pytest.mark.parametrize("path", ["internal_vip", "hosts.0.interface", "hosts.0.address", "groups"])
def test_null_where_there_is_no_default_is_an_error(path):
    raw, secrets = make_config()
    _set(raw, path, None)
    assert_problem(problems_of(raw, secrets), path.replace(".0.", "[0]."), "null", "no default", "write")


def test_external_interface_reaches_the_host():
    raw, secrets = make_config(external_vip="203.0.113.10", external_network="203.0.113.0/24")
    raw["hosts"][1]["external_interface"] = "bond1"
    inv = parse_inventory(raw, secrets)
    assert [h.external_interface for h in inv.hosts] == ["eth0", "bond1", "eth0"]


@pytest.mark.parametrize(("base", "step", "lb_hosts", "ok"), [
    (150, 10, 3, True),
    (21, 10, 3, True),  # 21, 11, 1
    (20, 10, 3, False),  # 20, 10, 0
    (30, 20, 3, False),
    (254, 253, 2, True),  # 254, 1
    (10, 10, 1, True),  # a single LB host only needs priority_base
])
def test_vrrp_priority_of_every_loadbalancer_host_stays_within_1_to_254(base, step, lb_hosts, ok):
    raw, secrets = make_config(keepalived={"priority_base": base, "priority_step": step})
    raw["groups"]["loadbalancer"] = [f"ctl{i}" for i in range(1, lb_hosts + 1)]
    if ok:
        parse_inventory(raw, secrets)
    else:
        assert_problem(problems_of(raw, secrets), "keepalived.priority_step", f"last of {lb_hosts} loadbalancer hosts",
                       "below VRRP's 1-254", "use priority_step <=")


@pytest.mark.parametrize(("neutron", "fragments"), [
    ({"max_l3_agents_per_router": 4}, ("neutron.max_l3_agents_per_router", "more than the 3 hosts of groups.network")),
    ({"dhcp_agents_per_network": 4}, ("neutron.dhcp_agents_per_network", "more than the 3 hosts of groups.network", "1 to 3")),
])
def test_neutron_agent_counts_fit_the_network_group(neutron, fragments):
    raw, secrets = make_config(neutron=neutron)
    raw["groups"]["network"] = ["ctl1", "ctl2", "ctl3"]
    assert_problem(problems_of(raw, secrets), *fragments)
    del raw["groups"]["network"]  # no network group: the program deploys no agents to count
    parse_inventory(raw, secrets)


def test_ratio_reaches_rabbitmq_conf_as_a_decimal():
    # cuttlefish's float type refuses "1" and "1e-05"
    for given, rendered in ((1, "1.0"), (0.75, "0.75"), (0.00001, "0.00001"), (0.4, "0.4")):
        raw, secrets = make_config(rabbitmq={"vm_memory_high_watermark": given})
        assert parse_inventory(raw, secrets).tier("rabbitmq")["vm_memory_high_watermark"] == rendered


def test_one_typo_in_groups_does_not_hide_the_checks_that_need_the_others():
    raw, secrets = make_config(keepalived={"priority_base": 30, "priority_step": 20})
    raw["groups"]["contrl"] = ["ctl1"]
    problems = problems_of(raw, secrets)
    assert_problem(problems, "groups.contrl", "did you mean control")
    assert_problem(problems, "keepalived.priority_step", "below VRRP's 1-254")


def test_a_group_that_is_not_a_list_is_reported_once():
    raw, secrets = make_config()
    raw["groups"]["database"] = "ctl1"
    assert [p for p in problems_of(raw, secrets) if p.startswith("groups.database")] == [
        "groups.database: must be a list of host names from `hosts`, e.g. [ctl1, ctl2, ctl3]"]


def test_an_invalid_host_does_not_hide_the_checks_on_the_others():
    raw, secrets = make_config()
    raw["hosts"][0]["name"] = "CTL1"
    raw["hosts"][2]["address"] = "10.0.0.12"
    problems = problems_of(raw, secrets)
    assert_problem(problems, "hosts[0].name", "not a valid short host name")
    assert_problem(problems, "hosts[2].address", "already used by host 'ctl2'")


def test_the_issues_cases_are_all_reported_at_once():
    raw, secrets = make_config(
        images={"tag": 2023.1, "regsitry": "registry.example.com"},
        haproxy={"timeout_client": "1m\n    option httpclose"},
    )
    raw["hosts"][0]["name"] = "ctl1\n"
    raw["hosts"][1]["external_interfce"] = "eth1"
    raw["hosts"][2]["ssh"] = {"keyfile": "~/.ssh/id"}
    raw["nova_db_password"] = "secret"
    problems = problems_of(raw, secrets | {"nova_db_password"})
    expected = [
        ("hosts[0].name", "'ctl1\\n'"),
        ("hosts[1].external_interfce", "did you mean external_interface"),
        ("hosts[2].ssh.keyfile", "did you mean key_file"),
        ("images.tag", "2023.1", "quotes"),
        ("images.regsitry", "did you mean registry"),
        ("haproxy.timeout_client", "not a HAProxy duration"),
        ("nova_db_password", "did you mean the secret nova_database_password"),
    ]
    for fragments in expected:
        assert_problem(problems, *fragments)
    # groups naming the invalid host ctl1 are not reported again
    assert len(problems) == len(expected), "\n".join(problems)


def test_every_line_names_a_key_path_and_says_what_to_write():
    raw, secrets = make_config(haproxy={"maxconn": "lots", "timeout_check": "5"}, galera={"gcache_size": "big"})
    raw["hosts"][0]["ssh"] = {"port": 0}
    for problem in problems_of(raw, secrets):
        key, _, rest = problem.partition(": ")
        assert key and " " not in key, problem
        assert "write" in rest, problem


# --- the storage tier ----------------------------------------------------------------


@pytest.mark.parametrize(("service", "what"), [
    ("cinder-api", "cinder-volume and the Ceph OSDs its volumes live on"),
    ("swift-proxy-server", "Swift's account, container and object servers"),
])
def test_a_service_that_stores_data_needs_storage_hosts(service, what):
    raw, secrets = make_config(enabled_services=["keystone", service])
    del raw["groups"]["storage"]
    assert_problem(problems_of(raw, secrets), "groups.storage", f"{service} is enabled", what, "which is empty")
    raw["groups"]["storage"] = ["ctl2"]
    raw["ceph"] = {"pool_size": 1}
    parse_inventory(raw, secrets)


def test_ceph_keeps_each_copy_on_another_storage_host():
    raw, secrets = make_config()
    raw["groups"]["storage"] = ["ctl1", "ctl2"]
    assert_problem(problems_of(raw, secrets), "ceph.pool_size", "3 copies need 3 storage hosts",
                   "groups.storage has 2", "from 1 to 2")
    raw["ceph"] = {"pool_size": 2}
    parse_inventory(raw, secrets)
    # without cinder there is no Ceph to size
    raw["ceph"] = {"pool_size": 3}
    raw["enabled_services"] = ["keystone", "glance-api"]
    parse_inventory(raw, secrets)


def test_glance_on_swift_needs_the_proxies_and_the_file_path_only_fits_the_file_store():
    raw, secrets = make_config(enabled_services=["keystone", "glance-api", "swift-proxy-server"],
                               glance={"backend": "swift"})
    assert parse_inventory(raw, secrets).tier("glance")["backend"] == "swift"
    raw["glance"] = {"backend": "swift", "file_path": "/srv/glance"}
    assert_problem(problems_of(raw, secrets), "glance.file_path", "only the file back-end reads it",
                   "remove file_path or use backend: file")
    raw["enabled_services"] = ["keystone", "glance-api"]
    raw["glance"] = {"backend": "swift"}
    assert_problem(problems_of(raw, secrets), "glance.backend", "needs swift-proxy-server")


@pytest.mark.parametrize(("control", "file_path", "warned"), [
    (["ctl1", "ctl2", "ctl3"], None, True),
    (["ctl1", "ctl2", "ctl3"], "/srv/glance-images", False),
    (["ctl2"], None, False),
])
def test_a_file_store_without_a_shared_file_system_is_said_to_run_one_glance_api(control, file_path, warned):
    raw, secrets = make_config(glance={"backend": "file", "file_path": file_path})
    raw["groups"]["control"] = control
    warnings = [w for w in parse_inventory(raw, secrets).warnings if w.startswith("glance.backend")]
    assert bool(warnings) == warned
    if warned:
        assert "glance-api runs on ctl1 only, not on all 3 control hosts" in warnings[0]
        assert "set glance.file_path" in warnings[0] and "backend: swift" in warnings[0]


def test_more_swift_replicas_than_storage_hosts_is_warned():
    raw, secrets = make_config(enabled_services=["keystone", "swift-proxy-server"])
    raw["groups"]["storage"] = ["ctl1"]
    warnings = parse_inventory(raw, secrets).warnings
    assert any(w.startswith("swift.replicas: 3 copies over 1 storage host(s)") for w in warnings)


def test_a_pinned_ceph_key_must_be_a_cephx_key():
    raw, secrets = make_config()
    raw["ceph_cinder_key"] = "not-a-key"
    assert_problem(problems_of(raw, secrets | {"ceph_cinder_key"}), "ceph_cinder_key",
                   "cephx key as `ceph-authtool --gen-print-key` prints one", "value not shown")
    raw["ceph_cinder_key"] = "AQAAAAAAAAAAABAA+b8bwDYGiL3jSsRpRshqXg=="
    parse_inventory(raw, secrets | {"ceph_cinder_key"})
