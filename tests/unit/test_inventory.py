"""components/inventory.py: every bad stack config is refused before a resource exists."""
from __future__ import annotations

import ipaddress

import pytest

from components import catalog
from components.defaults import TIER_DEFAULTS
from components.inventory import REQUIRED_GROUPS, Images, InventoryError, parse_inventory
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
    assert_problem(problems_of(raw, secrets), "horizon_secret", "plain text", "--secret horizon_secret")


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
