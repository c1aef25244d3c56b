"""The stack configuration as a typed model, validated before any resource exists.

`parse_inventory` is pure: it takes the raw config values (as Pulumi hands them over,
already JSON-decoded) and either returns an `Inventory` or raises `InventoryError`
listing *every* problem at once, each naming the config key and the fix. The program
calls it before declaring a single resource, so bad input never half-deploys a cloud.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from components.catalog import CATALOG, DEFAULT_ENABLED
from components.defaults import TIER_DEFAULTS

NAMESPACE = "kolla-ha"

GROUPS = ("control", "database", "messaging", "loadbalancer", "memcached", "network", "storage")
REQUIRED_GROUPS = ("control", "database", "messaging", "loadbalancer", "memcached")
QUORUM_GROUPS = ("database", "messaging")

# Passwords an operator must choose; every other secret is generated and kept in state.
OPERATOR_SECRETS = ("keystone_admin_password",)

_HOSTNAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# registry[:port]/path/name:tag or @sha256:digest, as `docker pull` accepts it.
_IMAGE_REF = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)
# Config keys holding a secret: operator passwords and pinned generated values.
SECRET_KEY_PATTERN = re.compile(r"^[a-z0-9_]+(_password|_secret|_secret_key|_cookie|_key_[0-9]+|_hash_path_(suffix|prefix))$")
SETTING_KEYS = (
    "hosts", "groups", "internal_network", "internal_vip", "external_vip", "external_network",
    "vrrp_router_id", "images", "enabled_services",
)
_REGISTRY = re.compile(r"^[a-zA-Z0-9.-]+(?::[0-9]+)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class InventoryError(ValueError):
    """Every problem found in the stack configuration, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "kolla-ha: the stack configuration is invalid, nothing was deployed:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class SshAccess:
    user: str = "root"
    port: int = 22
    key_file: str | None = None


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    interface: str
    ssh: SshAccess
    docker_url: str
    external_interface: str


@dataclass(frozen=True)
class Images:
    registry: str
    namespace: str
    tag: str
    overrides: Mapping[str, str]

    def ref(self, image: str) -> str:
        """Full reference of an image name such as ``mariadb-server``."""
        if image in self.overrides:
            return self.overrides[image]
        prefix = f"{self.registry}/" if self.registry else ""
        return f"{prefix}{self.namespace}/{image}:{self.tag}"


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]]
    internal_network: ipaddress.IPv4Network
    internal_vip: str
    external_vip: str | None
    external_network: ipaddress.IPv4Network | None
    vrrp_router_id: int
    images: Images
    enabled_services: tuple[str, ...]
    tiers: Mapping[str, Mapping[str, Any]]
    warnings: tuple[str, ...] = field(default=())

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def group(self, group: str) -> tuple[Host, ...]:
        return tuple(self.host(n) for n in self.groups.get(group, ()))

    def tier(self, name: str) -> Mapping[str, Any]:
        return self.tiers[name]

    @property
    def internal_prefixlen(self) -> int:
        return self.internal_network.prefixlen


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _parse_ip(value: Any) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        return None


def _parse_hosts(raw: Any, problems: list[str]) -> list[Host]:
    if not isinstance(raw, list) or not raw:
        problems.append(
            "hosts: required, a list of {name, address, interface, ssh} objects; "
            "set it in Pulumi.<stack>.yaml under `kolla-ha:hosts`"
        )
        return []
    hosts: list[Host] = []
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, str] = {}
    for i, item in enumerate(raw):
        key = f"hosts[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{key}: must be an object with name, address and interface")
            continue
        name = str(item.get("name", ""))
        if not _HOSTNAME.match(name):
            problems.append(
                f"{key}.name: {name!r} is not a valid short host name; use lower-case "
                "letters, digits and '-', starting with a letter (it is also the "
                "RabbitMQ node name)"
            )
        elif name in seen_names:
            problems.append(
                f"{key}.name: duplicate host name {name!r} (also hosts[{seen_names[name]}]); "
                "every host needs its own name"
            )
        else:
            seen_names[name] = i
        address = item.get("address")
        ip = _parse_ip(address)
        if ip is None:
            problems.append(f"{key}.address: {address!r} is not an IPv4 address; write e.g. 10.0.0.11")
        elif str(ip) in seen_addresses:
            problems.append(
                f"{key}.address: {ip} is already used by host {seen_addresses[str(ip)]!r}; "
                "every host needs its own internal address"
            )
        else:
            seen_addresses[str(ip)] = name
        interface = item.get("interface")
        if not isinstance(interface, str) or not interface:
            problems.append(f"{key}.interface: required, the internal network interface (e.g. eth0)")
            interface = ""
        ssh_raw = item.get("ssh", {}) or {}
        if not isinstance(ssh_raw, dict):
            problems.append(f"{key}.ssh: must be an object {{user, port, key_file}}")
            ssh_raw = {}
        port = ssh_raw.get("port", 22)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"{key}.ssh.port: {port!r} is not a TCP port (1-65535)")
            port = 22
        ssh = SshAccess(
            user=str(ssh_raw.get("user", "root")), port=port, key_file=ssh_raw.get("key_file")
        )
        if ssh.key_file is not None and not os.path.isfile(os.path.expanduser(str(ssh.key_file))):
            problems.append(
                f"{key}.ssh.key_file: {ssh.key_file} does not exist; create the key (for the lab: "
                "`python3 -m lab up`), fix the path, or leave key_file out to use ssh-agent"
            )
        docker_url = item.get("docker", f"ssh://{ssh.user}@{address}:{ssh.port}")
        if not isinstance(docker_url, str) or not re.match(r"^(ssh|tcp|unix)://\S+$", docker_url):
            problems.append(
                f"{key}.docker: {docker_url!r} is not a Docker daemon URL; use "
                "ssh://user@host[:port] (production), tcp://host:2375 or unix:///path (labs)"
            )
        hosts.append(
            Host(
                name=name,
                address=str(ip) if ip else str(address),
                interface=interface,
                ssh=ssh,
                docker_url=str(docker_url),
                external_interface=str(item.get("external_interface", interface)),
            )
        )
    return hosts


def _parse_groups(raw: Any, hosts: list[Host], problems: list[str], warnings: list[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        problems.append(
            "groups: required, an object mapping role groups "
            f"({', '.join(GROUPS)}) to lists of host names"
        )
        return {}
    known = {h.name for h in hosts}
    groups: dict[str, tuple[str, ...]] = {}
    for group, members in raw.items():
        if group not in GROUPS:
            problems.append(f"groups.{group}: unknown group; the groups are {', '.join(GROUPS)}")
            continue
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            problems.append(f"groups.{group}: must be a list of host names")
            continue
        for m in members:
            if m not in known:
                problems.append(
                    f"groups.{group}: names unknown host {m!r}; add it to `hosts` or remove it "
                    f"from the group (known hosts: {', '.join(sorted(known)) or 'none'})"
                )
        if len(set(members)) != len(members):
            problems.append(f"groups.{group}: lists a host twice; name each host once")
        groups[group] = tuple(members)
    for group in REQUIRED_GROUPS:
        if not groups.get(group):
            problems.append(f"groups.{group}: required and must name at least one host")
    for group in QUORUM_GROUPS:
        size = len(groups.get(group, ()))
        if size == 2:
            problems.append(
                f"groups.{group}: 2 members cannot keep quorum when one fails (each half is "
                "a minority); use 1 for a lab or 3 or more for HA"
            )
        elif size > 2 and size % 2 == 0:
            warnings.append(
                f"groups.{group}: {size} members is an even number; a network split into two "
                f"halves stops both. {size - 1} or {size + 1} tolerate as many failures"
            )
    return groups


def _parse_network(raw: Mapping[str, Any], hosts: list[Host], problems: list[str]) -> tuple[Any, Any, Any, Any]:
    internal_net = None
    try:
        internal_net = ipaddress.IPv4Network(str(raw.get("internal_network")), strict=True)
    except ValueError:
        problems.append(
            f"internal_network: {raw.get('internal_network')!r} is not an IPv4 network in CIDR "
            "form; write the hosts' internal network, e.g. 10.0.0.0/24"
        )
    host_ips = {h.address: h.name for h in hosts}
    if internal_net is not None:
        for h in hosts:
            ip = _parse_ip(h.address)
            if ip is not None and ip not in internal_net:
                problems.append(
                    f"hosts: address {h.address} of host {h.name!r} is outside internal_network "
                    f"{internal_net}; fix the address or the network"
                )
    vip = _parse_ip(raw.get("internal_vip"))
    if vip is None:
        problems.append(
            f"internal_vip: {raw.get('internal_vip')!r} is not an IPv4 address; choose a free "
            "address in internal_network for the VRRP virtual IP"
        )
    elif str(vip) in host_ips:
        problems.append(
            f"internal_vip: {vip} is the address of host {host_ips[str(vip)]!r}; the VIP must "
            "be a free address that no host owns"
        )
    elif internal_net is not None and vip not in internal_net:
        problems.append(
            f"internal_vip: {vip} is outside internal_network {internal_net}; VRRP only moves "
            "an address within the hosts' own network"
        )
    elif internal_net is not None and vip in (internal_net.network_address, internal_net.broadcast_address):
        problems.append(f"internal_vip: {vip} is the network or broadcast address of {internal_net}")
    ext_vip = None
    ext_net = None
    if raw.get("external_vip") is not None:
        ext_vip = _parse_ip(raw.get("external_vip"))
        try:
            ext_net = ipaddress.IPv4Network(str(raw.get("external_network")), strict=True)
        except ValueError:
            problems.append(
                "external_network: required with external_vip, the external network in CIDR "
                "form (e.g. 203.0.113.0/24)"
            )
        if ext_vip is None:
            problems.append(f"external_vip: {raw.get('external_vip')!r} is not an IPv4 address")
        elif vip is not None and ext_vip == vip:
            problems.append("external_vip: equals internal_vip; use a different address or leave it out")
        elif str(ext_vip) in host_ips:
            problems.append(f"external_vip: {ext_vip} is the address of host {host_ips[str(ext_vip)]!r}")
        elif ext_net is not None and ext_vip not in ext_net:
            problems.append(f"external_vip: {ext_vip} is outside external_network {ext_net}")
    return internal_net, str(vip) if vip else None, str(ext_vip) if ext_vip else None, ext_net


def _parse_images(raw: Any, problems: list[str]) -> Images:
    raw = raw or {}
    if not isinstance(raw, dict):
        problems.append("images: must be an object {registry, namespace, tag, overrides}")
        raw = {}
    # an explicit null (YAML `~`) means the default, not the string "None"
    registry = str(raw.get("registry") if raw.get("registry") is not None else "")
    namespace = str(raw.get("namespace") if raw.get("namespace") is not None else NAMESPACE)
    tag = str(raw.get("tag") if raw.get("tag") is not None else "zed")
    overrides = raw.get("overrides", {}) or {}
    if registry and not _REGISTRY.match(registry):
        problems.append(f"images.registry: {registry!r} is not a registry host[:port]; e.g. registry.example.com:5000")
    if not re.match(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$", namespace):
        problems.append(f"images.namespace: {namespace!r} is not a valid repository path; e.g. kolla-ha")
    if not _TAG.match(tag):
        problems.append(f"images.tag: {tag!r} is not a valid image tag; letters, digits, '_', '.', '-'")
    if not isinstance(overrides, dict):
        problems.append("images.overrides: must map image names (e.g. keystone) to full references")
        overrides = {}
    for image, ref in overrides.items():
        if not isinstance(ref, str) or not _IMAGE_REF.match(ref):
            problems.append(
                f"images.overrides.{image}: {ref!r} is not an image reference; write "
                "registry[:port]/path/name:tag"
            )
    images = Images(registry=registry, namespace=namespace, tag=tag, overrides=dict(overrides))
    if not problems:
        for image in sorted({s.image for s in CATALOG.values()} | {"mariadb-server", "rabbitmq", "haproxy", "keepalived", "memcached"}):
            if not _IMAGE_REF.match(images.ref(image)):
                problems.append(f"images: the reference {images.ref(image)!r} for {image} is malformed")
    return images


def _parse_services(raw: Any, groups: Mapping[str, tuple[str, ...]], problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        raw = list(DEFAULT_ENABLED)
    if not isinstance(raw, list):
        problems.append("enabled_services: must be a list of service names")
        return ()
    for svc in raw:
        if svc not in CATALOG:
            problems.append(f"enabled_services: unknown service {svc!r}; known: {', '.join(CATALOG)}")
    enabled = tuple(s for s in raw if s in CATALOG)
    for svc in enabled:
        for dep in CATALOG[svc].depends_on:
            if dep not in enabled:
                problems.append(
                    f"enabled_services: {svc} needs {dep}, which is not enabled; add {dep} "
                    f"or remove {svc}"
                )
        group = CATALOG[svc].group
        if not groups.get(group):
            problems.append(f"groups.{group}: {svc} is enabled and runs on this group, which is empty")
    return enabled


def _parse_tiers(raw: Mapping[str, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    tiers: dict[str, dict[str, Any]] = {}
    for tier, defaults in TIER_DEFAULTS.items():
        given = raw.get(tier) or {}
        if not isinstance(given, dict):
            problems.append(f"{tier}: must be an object; see README for its keys")
            given = {}
        for key in given:
            if key not in defaults:
                problems.append(f"{tier}.{key}: unknown key; the keys of {tier} are {', '.join(defaults)}")
        merged = {**defaults, **{k: v for k, v in given.items() if k in defaults}}
        for key, default in defaults.items():
            value = merged[key]
            if isinstance(default, bool) and not isinstance(value, bool):
                problems.append(f"{tier}.{key}: {value!r} must be true or false")
            elif isinstance(default, int) and not isinstance(default, bool) and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                problems.append(f"{tier}.{key}: {value!r} must be a whole number >= 0")
        tiers[tier] = merged
    rabbit = tiers["rabbitmq"]
    if rabbit["queue_type"] not in ("quorum", "mirrored"):
        problems.append(
            f"rabbitmq.queue_type: {rabbit['queue_type']!r}; use quorum (default) or mirrored "
            "(classic mirrored queues, RabbitMQ 3.x only)"
        )
    if rabbit["partition_handling"] not in ("pause_minority", "autoheal", "ignore"):
        problems.append(
            f"rabbitmq.partition_handling: {rabbit['partition_handling']!r}; use pause_minority, "
            "autoheal or ignore"
        )
    mirror = rabbit["mirror_count"]
    if mirror != "all" and not (isinstance(mirror, int) and not isinstance(mirror, bool) and mirror >= 2):
        problems.append(f"rabbitmq.mirror_count: {mirror!r}; use \"all\" or a whole number >= 2")
    if tiers["glance"]["backend"] not in ("file", "swift", "rbd"):
        problems.append(f"glance.backend: {tiers['glance']['backend']!r}; use file, swift or rbd")
    return tiers


def parse_inventory(raw: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> Inventory:
    """Validate the raw stack configuration and build the typed inventory.

    `raw` maps config keys without the ``kolla-ha:`` prefix to their decoded values;
    `secret_keys` names the keys that are stored encrypted (``pulumi config set --secret``).
    """
    problems: list[str] = []
    warnings: list[str] = []
    hosts = _parse_hosts(raw.get("hosts"), problems)
    groups = _parse_groups(raw.get("groups"), hosts, problems, warnings)
    internal_net, vip, ext_vip, ext_net = _parse_network(raw, hosts, problems)
    router_id = raw.get("vrrp_router_id", 51)
    if not isinstance(router_id, int) or isinstance(router_id, bool) or not 1 <= router_id <= 255:
        problems.append(
            f"vrrp_router_id: {router_id!r} is outside 1-255; pick a VRRP router id no other "
            "keepalived on this network uses (default 51)"
        )
    images = _parse_images(raw.get("images"), problems)
    enabled = _parse_services(raw.get("enabled_services"), groups, problems)
    tiers = _parse_tiers(raw, problems)
    for secret in OPERATOR_SECRETS:
        if raw.get(secret) is None:
            problems.append(
                f"{secret}: missing; set it with `pulumi config set --secret {secret} <value>`"
            )
    for key in raw:
        if key not in SETTING_KEYS and key not in TIER_DEFAULTS and not SECRET_KEY_PATTERN.match(key):
            problems.append(
                f"{key}: unknown config key; the settings are {', '.join(SETTING_KEYS + tuple(TIER_DEFAULTS))} "
                "plus secrets named *_password (see README); check the spelling"
            )
    for key, value in raw.items():
        if SECRET_KEY_PATTERN.match(key) and value is not None and key not in secret_keys:
            problems.append(
                f"{key}: stored in plain text; store it encrypted with "
                f"`pulumi config set --secret {key} <value>`"
            )
    if problems:
        raise InventoryError(problems)
    return Inventory(
        hosts=tuple(hosts),
        groups=groups,
        internal_network=internal_net,
        internal_vip=vip,
        external_vip=ext_vip,
        external_network=ext_net,
        vrrp_router_id=router_id,
        images=images,
        enabled_services=enabled,
        tiers=tiers,
        warnings=tuple(warnings),
    )
