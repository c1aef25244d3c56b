"""The stack configuration as a typed model, validated before any resource exists.

`parse_inventory` is pure: it takes the raw config values (as Pulumi hands them over,
already JSON-decoded) and either returns an `Inventory` or raises `InventoryError`
listing *every* problem at once, each naming the config key, what was wrong and what to
write instead. The program calls it before declaring a single resource, so bad input
never half-deploys a cloud.

Three layers, each reporting everything it finds:
- each key's value against its model (components/value_formats.py, defaults.py): types,
  formats and ranges as the consuming daemon checks them;
- values that must agree with each other (addresses in networks, groups naming hosts,
  VRRP priorities for every load balancer, counts that fit their group);
- secrets (components/secret_specs.py): only names the program uses, stored encrypted,
  pinned values fit for every file they land in.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Annotated, Any, Mapping

from pydantic import Field, TypeAdapter, ValidationError

from components.catalog import CATALOG, DEFAULT_ENABLED
from components.config_errors import did_you_mean, missing_problem, problems_from
from components.config_model import ConfigModel
from components.defaults import TIER_DEFAULTS, TIER_MODELS
from components.secret_specs import OPERATOR_SECRETS, SECRETS, check_secrets, used_secrets
from components.value_formats import (
    IMAGE_REFERENCE,
    DockerUrl,
    HostName,
    ImageReference,
    ImageTag,
    InterfaceName,
    IPv4Address,
    IPv4Network,
    KeyFile,
    Port,
    PosixUser,
    Registry,
    RepositoryPath,
)

__all__ = [
    "GROUPS", "REQUIRED_GROUPS", "QUORUM_GROUPS", "OPERATOR_SECRETS", "InventoryError", "SshAccess", "Host",
    "Images", "Inventory", "parse_inventory", "StackSettings", "TIER_DEFAULTS",
]

NAMESPACE = "kolla-ha"

GROUPS = ("control", "database", "messaging", "loadbalancer", "memcached", "network", "storage")
REQUIRED_GROUPS = ("control", "database", "messaging", "loadbalancer", "memcached")
QUORUM_GROUPS = ("database", "messaging")
# What an enabled service runs on a group it needs besides its own (catalog.needs_groups).
NEEDED_GROUP_USES = {
    ("cinder-api", "storage"): "cinder-volume and the Ceph OSDs its volumes live on",
    ("swift-proxy-server", "storage"): "Swift's account, container and object servers",
}
# Images the infrastructure and storage tiers run besides the catalogue's API images.
INFRASTRUCTURE_IMAGES = ("mariadb-server", "rabbitmq", "haproxy", "keepalived", "memcached",
                         "swift-storage", "ceph", "cinder-scheduler", "cinder-volume")
KNOWN_IMAGES = tuple(sorted({s.image for s in CATALOG.values()} | set(INFRASTRUCTURE_IMAGES)))


# --- the model of the stack file --------------------------------------------------


class SshConfig(ConfigModel):
    user: PosixUser = Field("root", description="user the program logs in as (host preparation, `ssh://`)")
    port: Port = Field(22, description="sshd port")
    key_file: KeyFile | None = Field(None, description="private key file; leave it out to use ssh-agent")


class HostConfig(ConfigModel):
    name: HostName = Field(description="short host name; also the RabbitMQ node name `rabbit@<name>`")
    address: IPv4Address = Field(description="IPv4 address on the internal network, unique")
    interface: InterfaceName = Field(description="NIC of the internal network (carries the internal VIP)")
    external_interface: InterfaceName | None = Field(
        None, description="NIC that carries the external VIP",
        json_schema_extra={"default_text": "`interface`"})
    ssh: SshConfig = Field(default_factory=SshConfig, description="SSH access for host preparation and `ssh://`")
    docker: DockerUrl | None = Field(
        None, description="the Docker daemon URL; `tcp://` and `unix://` for labs",
        json_schema_extra={"default_text": "`ssh://<user>@<address>:<port>`"})


def _members(description: str) -> Any:
    return Field([], description=description, json_schema_extra={
        "expected": "a list of host names from `hosts`", "example": "[ctl1, ctl2, ctl3]"})


class GroupsConfig(ConfigModel):
    control: list[str] = _members("API services (required)")
    database: list[str] = _members("Galera (required; 1, or 3 or more: 2 cannot keep quorum)")
    messaging: list[str] = _members("RabbitMQ (required; 1, or 3 or more: 2 cannot keep quorum)")
    loadbalancer: list[str] = _members("HAProxy and keepalived, holders of the VIP (required)")
    memcached: list[str] = _members("memcached pool (required)")
    network: list[str] = _members("neutron agents' hosts (optional; bounds the agent counts)")
    storage: list[str] = _members("storage hosts (optional)")


class ImagesConfig(ConfigModel):
    registry: Registry = Field("", description="registry host[:port] the hosts pull from")
    namespace: RepositoryPath = Field(NAMESPACE, description="repository path")
    tag: ImageTag = Field("zed", description="image tag; quote tags YAML would read as numbers (`\"2023.10\"`)")
    overrides: dict[str, ImageReference] = Field(
        {}, description="image name -> full reference, per image: " + ", ".join(KNOWN_IMAGES),
        json_schema_extra={"expected": "image name: image reference (registry[:port]/path/name:tag)"})


class StackSettings(ConfigModel):
    """Every `kolla-ha:` key except the tunables (defaults.TIER_MODELS) and the secrets."""

    hosts: Annotated[list[HostConfig], Field(min_length=1)] = Field(
        description="the hosts, each `{name, address, interface, external_interface, ssh, docker}`")
    groups: GroupsConfig = Field(description="role groups -> host names")
    internal_network: IPv4Network = Field(description="CIDR of the hosts' internal network")
    internal_vip: IPv4Address = Field(description="free address in `internal_network`, moved by VRRP")
    external_vip: IPv4Address | None = Field(None, description="optional public VIP; needs `external_network`")
    external_network: IPv4Network | None = Field(None, description="CIDR of the external network")
    vrrp_router_id: Annotated[int, Field(ge=1, le=255)] = Field(
        51, description="VRRP router id, unique among keepalived instances on the network")
    images: ImagesConfig = Field(default_factory=ImagesConfig, description="where images come from")
    enabled_services: list[str] = Field(
        list(DEFAULT_ENABLED),
        json_schema_extra={"expected": "a list of service names from the catalogue"},
        description="API services from the catalogue (" + ", ".join(CATALOG) + "); dependencies must be enabled")


# --- what the components read -------------------------------------------------------


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


# --- validation ------------------------------------------------------------------------

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    if annotation not in _ADAPTERS:
        _ADAPTERS[annotation] = TypeAdapter(annotation)
    return _ADAPTERS[annotation]


def _validate(annotation: Any, value: Any, loc: tuple[str | int, ...], problems: list[str]) -> Any:
    """`value` found at `loc` within StackSettings, validated as `annotation`; None
    after recording its problems."""
    try:
        return _adapter(annotation).validate_python(value, strict=True)
    except ValidationError as error:
        problems.extend(problems_from(error, StackSettings, loc=loc))
        return None


def _setting(raw: Mapping[str, Any], key: str, problems: list[str]) -> Any:
    spec = StackSettings.model_fields[key]
    value = raw.get(key)
    if value is None and not spec.is_required():
        # Absent or null (YAML `~`): the default.
        return spec.get_default(call_default_factory=True)
    if key not in raw:
        problems.append(missing_problem(StackSettings, (key,)) + f" (`kolla-ha:{key}` in Pulumi.<stack>.yaml)")
        return None
    annotation = Annotated[(spec.annotation, *spec.metadata)] if spec.metadata else spec.annotation
    return _validate(annotation, value, (key,), problems)


def _hosts(settings: Mapping[str, Any], problems: list[str]) -> dict[int, HostConfig]:
    """The valid hosts by their index; each host is validated on its own so the others
    still take part in the checks between keys."""
    raw = settings.get("hosts")
    if not isinstance(raw, list) or not raw:
        _setting(settings, "hosts", problems)
        return {}
    valid: dict[int, HostConfig] = {}
    for i, item in enumerate(raw):
        host = _validate(HostConfig, item, ("hosts", i), problems)
        if host is not None:
            valid[i] = host
    return valid


def _groups(settings: Mapping[str, Any], problems: list[str]) -> GroupsConfig | None:
    raw = settings.get("groups")
    groups = _setting(settings, "groups", problems)
    if groups is None and isinstance(raw, dict):
        # Keep the groups that are fine, so that one typo does not hide the checks
        # that need the others (quorum sizes, VRRP priorities, agent counts).
        valid = {}
        for name in GroupsConfig.model_fields:
            try:
                valid[name] = _adapter(list[str]).validate_python(raw.get(name) or [], strict=True)
            except ValidationError:
                # Reported already; None keeps the checks on it from saying it again.
                valid[name] = None
        groups = GroupsConfig.model_construct(**valid)
    return groups


def _tiers(raw: Mapping[str, Any], problems: list[str]) -> dict[str, ConfigModel | None]:
    tiers: dict[str, ConfigModel | None] = {}
    for name, model in TIER_MODELS.items():
        given = raw.get(name)
        if given is None:
            tiers[name] = model()
            continue
        try:
            tiers[name] = model.model_validate(given, strict=True)
        except ValidationError as error:
            problems.extend(problems_from(error, model, shown=(name,)))
            tiers[name] = None
    return tiers


def _check_hosts(hosts: dict[int, HostConfig], network: ipaddress.IPv4Network | None, problems: list[str]) -> None:
    names: dict[str, int] = {}
    addresses: dict[str, str] = {}
    for i, host in hosts.items():
        key = f"hosts[{i}]"
        if host.name in names:
            problems.append(
                f"{key}.name: duplicate host name {host.name!r} (also hosts[{names[host.name]}]); "
                "every host needs its own name"
            )
        else:
            names[host.name] = i
        if host.address in addresses:
            problems.append(
                f"{key}.address: {host.address} is already used by host {addresses[host.address]!r}; "
                "every host needs its own internal address"
            )
        else:
            addresses[host.address] = host.name
        ip = ipaddress.IPv4Address(host.address)
        if network is not None and ip not in network:
            problems.append(
                f"{key}.address: {host.address} of host {host.name!r} is outside internal_network "
                f"{network}; fix the address or the network"
            )
        elif network is not None and ip in (network.network_address, network.broadcast_address):
            problems.append(f"{key}.address: {ip} is the network or broadcast address of {network}")
        key_file = host.ssh.key_file
        if key_file is not None and not os.path.isfile(os.path.expanduser(key_file)):
            problems.append(
                f"{key}.ssh.key_file: {key_file} does not exist; create the key (for the lab: "
                "`python3 -m lab up`), fix the path, or leave key_file out to use ssh-agent"
            )


def _check_groups(
    groups: GroupsConfig | None, raw_hosts: Any, problems: list[str], warnings: list[str]
) -> dict[str, tuple[str, ...]]:
    if groups is None:
        return {}
    # Names as written, even of hosts that failed validation: that host's own error
    # says what is wrong, so its groups need not say it again.
    written = [str(h.get("name")) for h in raw_hosts if isinstance(h, dict)] if isinstance(raw_hosts, list) else []
    known = list(dict.fromkeys(written + [n.strip() for n in written]))
    result: dict[str, tuple[str, ...]] = {}
    unreadable = {g for g in GROUPS if getattr(groups, g) is None}
    for group in GROUPS:
        members = getattr(groups, group) or []
        for m in members:
            if m not in known:
                guess = did_you_mean(m, known)
                problems.append(
                    f"groups.{group}: names unknown host {m!r}; "
                    + (f"did you mean {guess!r}? " if guess else "")
                    + f"add it to `hosts` or remove it from the group (known hosts: {', '.join(sorted(known)) or 'none'})"
                )
        if len(set(members)) != len(members):
            problems.append(f"groups.{group}: lists a host twice; name each host once")
        if members:
            result[group] = tuple(members)
    for group in REQUIRED_GROUPS:
        if not result.get(group) and group not in unreadable:
            problems.append(f"groups.{group}: required and must name at least one host")
    for group in QUORUM_GROUPS:
        size = len(result.get(group, ()))
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
    return result


def _check_network(settings: dict[str, Any], raw: Mapping[str, Any], hosts: dict[int, HostConfig], problems: list[str]) -> None:
    net = settings.get("internal_network")
    vip = settings.get("internal_vip")
    owners = {h.address: h.name for h in hosts.values()}
    network = ipaddress.IPv4Network(net) if net else None
    if vip is not None:
        ip = ipaddress.IPv4Address(vip)
        if vip in owners:
            problems.append(
                f"internal_vip: {vip} is the address of host {owners[vip]!r}; the VIP must "
                "be a free address that no host owns"
            )
        elif network is not None and ip not in network:
            problems.append(
                f"internal_vip: {vip} is outside internal_network {network}; VRRP only moves "
                "an address within the hosts' own network"
            )
        elif network is not None and ip in (network.network_address, network.broadcast_address):
            problems.append(f"internal_vip: {vip} is the network or broadcast address of {network}; choose a host address")
    ext_vip, ext_net = settings.get("external_vip"), settings.get("external_network")
    if raw.get("external_vip") is not None and raw.get("external_network") is None:
        problems.append(
            "external_network: required with external_vip, the external network in CIDR "
            "form (e.g. 203.0.113.0/24)"
        )
    if raw.get("external_network") is not None and raw.get("external_vip") is None:
        problems.append("external_network: set, but external_vip is not; add external_vip or remove external_network")
    if ext_vip is not None:
        ip = ipaddress.IPv4Address(ext_vip)
        if ext_vip == vip:
            problems.append("external_vip: equals internal_vip; use a different address or leave it out")
        elif ext_vip in owners:
            problems.append(f"external_vip: {ext_vip} is the address of host {owners[ext_vip]!r}; choose a free address")
        elif ext_net is not None:
            external = ipaddress.IPv4Network(ext_net)
            if ip not in external:
                problems.append(f"external_vip: {ext_vip} is outside external_network {external}; fix either")
            elif ip in (external.network_address, external.broadcast_address):
                problems.append(f"external_vip: {ext_vip} is the network or broadcast address of {external}")


def _check_images(images: ImagesConfig | None, problems: list[str]) -> None:
    if images is None:
        return
    for name in images.overrides:
        if name not in KNOWN_IMAGES:
            guess = did_you_mean(name, KNOWN_IMAGES)
            problems.append(
                f"images.overrides.{name}: no image has this name; "
                + (f"did you mean {guess}? " if guess else "")
                + f"the images are {', '.join(KNOWN_IMAGES)}"
            )
    for image in KNOWN_IMAGES:
        ref = _images(images).ref(image)
        if not IMAGE_REFERENCE.fullmatch(ref):
            problems.append(f"images: the reference {ref!r} for {image} is malformed; check registry, namespace and tag")


def _check_services(enabled: list[str] | None, groups: dict[str, tuple[str, ...]], have_groups: bool, problems: list[str]) -> tuple[str, ...]:
    if enabled is None:
        return ()
    for svc in enabled:
        if svc not in CATALOG:
            guess = did_you_mean(svc, CATALOG)
            problems.append(
                f"enabled_services: unknown service {svc!r}; "
                + (f"did you mean {guess}? " if guess else "")
                + f"known: {', '.join(CATALOG)}"
            )
    if len(set(enabled)) != len(enabled):
        problems.append("enabled_services: lists a service twice; name each once")
    valid = tuple(dict.fromkeys(s for s in enabled if s in CATALOG))
    for svc in valid:
        for dep in CATALOG[svc].depends_on:
            if dep not in valid:
                problems.append(
                    f"enabled_services: {svc} needs {dep}, which is not enabled; add {dep} "
                    f"or remove {svc}"
                )
        group = CATALOG[svc].group
        if have_groups and group not in REQUIRED_GROUPS and not groups.get(group):
            problems.append(f"groups.{group}: {svc} is enabled and runs on this group, which is empty")
        for needed in CATALOG[svc].needs_groups:
            if have_groups and not groups.get(needed):
                problems.append(
                    f"groups.{needed}: {svc} is enabled and keeps its data on this group "
                    f"({NEEDED_GROUP_USES.get((svc, needed), 'its back-end')}), which is empty; "
                    f"name the hosts that hold the data, or remove {svc} from enabled_services")
    return valid


def _check_tiers(
    tiers: dict[str, Any], groups: dict[str, tuple[str, ...]], enabled: tuple[str, ...], problems: list[str],
    warnings: list[str],
) -> None:
    keepalived = tiers.get("keepalived")
    lb_count = len(groups.get("loadbalancer", ()))
    if keepalived is not None and lb_count:
        lowest = keepalived.priority_base - (lb_count - 1) * keepalived.priority_step
        if lowest < 1:
            problems.append(
                f"keepalived.priority_step: {keepalived.priority_step} from priority_base "
                f"{keepalived.priority_base} leaves the last of {lb_count} loadbalancer hosts at "
                f"priority {lowest}, below VRRP's 1-254; use priority_step <= "
                f"{(keepalived.priority_base - 1) // max(lb_count - 1, 1)} or a higher priority_base"
            )
    rabbit = tiers.get("rabbitmq")
    messaging = len(groups.get("messaging", ()))
    if rabbit is not None and isinstance(rabbit.mirror_count, int) and messaging and rabbit.mirror_count > messaging:
        problems.append(
            f"rabbitmq.mirror_count: {rabbit.mirror_count} is more than the {messaging} messaging "
            f"hosts; use all or a count from 2 to {messaging}"
        )
    neutron = tiers.get("neutron")
    network = len(groups.get("network", ()))
    if neutron is not None and network:
        if neutron.l3_ha and neutron.max_l3_agents_per_router > network:
            problems.append(
                f"neutron.max_l3_agents_per_router: {neutron.max_l3_agents_per_router} is more than the "
                f"{network} hosts of groups.network; use 0 (every agent) or 2 to {max(network, 2)}"
            )
        if neutron.dhcp_agents_per_network > network:
            problems.append(
                f"neutron.dhcp_agents_per_network: {neutron.dhcp_agents_per_network} is more than the "
                f"{network} hosts of groups.network; use 1 to {network}"
            )
    api = tiers.get("api")
    if api is not None and api.wait_timeout <= api.healthcheck_interval:
        problems.append(
            f"api.wait_timeout: {api.wait_timeout}s ends before the first health check "
            f"(healthcheck_interval {api.healthcheck_interval}s), so no replica could pass; "
            f"use more than {api.healthcheck_interval}"
        )
    _check_storage_tiers(tiers, groups, enabled, problems, warnings)


def _check_storage_tiers(
    tiers: dict[str, Any], groups: dict[str, tuple[str, ...]], enabled: tuple[str, ...],
    problems: list[str], warnings: list[str],
) -> None:
    glance = tiers.get("glance")
    if glance is not None and "glance-api" in enabled:
        control = groups.get("control", ())
        if glance.backend == "swift" and "swift-proxy-server" not in enabled:
            problems.append("glance.backend: swift needs swift-proxy-server in enabled_services; enable it or use file")
        if glance.backend != "file" and glance.file_path is not None:
            problems.append(f"glance.file_path: only the file back-end reads it, and glance.backend is "
                            f"{glance.backend}; remove file_path or use backend: file")
        if glance.backend == "file" and glance.file_path is None and len(control) > 1:
            # kolla-ansible's rule: a file store in each host's own volume would give every
            # replica different images, so only the first host runs glance-api.
            warnings.append(
                f"glance.backend: file without glance.file_path keeps images in {control[0]}'s own volume, so "
                f"glance-api runs on {control[0]} only, not on all {len(control)} control hosts (no HA); "
                "set glance.file_path to a file system shared by every control host, or use backend: swift")
    storage = groups.get("storage", ())
    ceph = tiers.get("ceph")
    if ceph is not None and "cinder-api" in enabled and storage and ceph.pool_size > len(storage):
        problems.append(
            f"ceph.pool_size: {ceph.pool_size} copies need {ceph.pool_size} storage hosts (Ceph puts each copy "
            f"on another host) but groups.storage has {len(storage)}; use a pool_size from 1 to {len(storage)} "
            "or add storage hosts")
    swift = tiers.get("swift")
    if swift is not None and "swift-proxy-server" in enabled and storage and swift.replicas > len(storage):
        warnings.append(
            f"swift.replicas: {swift.replicas} copies over {len(storage)} storage host(s): the rings hold at "
            f"most one copy per device, and copies on one host are lost together; add storage hosts")


def _unknown_keys(raw: Mapping[str, Any], secret_keys: frozenset[str], enabled: tuple[str, ...], problems: list[str]) -> None:
    settings = [*StackSettings.model_fields, *TIER_MODELS]
    secrets = list(used_secrets(enabled))
    for key in raw:
        if key in StackSettings.model_fields or key in TIER_MODELS or key in SECRETS:
            continue
        guess = did_you_mean(key, settings + secrets)
        line = f"{key}: unknown config key; "
        if guess is None:
            line += f"the settings are {', '.join(settings)}; the secrets are listed in README (Secrets)"
        elif guess in secrets:
            line += f"did you mean the secret {guess}? set it with `pulumi config set --secret {guess} <value>`"
        else:
            line += f"did you mean {guess}?"
        if raw.get(key) is not None and key not in secret_keys and _looks_secret(key):
            line += f"; the value is stored in plain text: remove it with `pulumi config rm {key}`"
        else:
            line += f" (remove it with `pulumi config rm {key}`)"
        problems.append(line)


def _looks_secret(key: str) -> bool:
    return key.endswith(("password", "secret", "_key", "cookie")) or "_key_" in key or "hash_path" in key


def _images(images: ImagesConfig) -> Images:
    return Images(registry=images.registry, namespace=images.namespace, tag=images.tag, overrides=dict(images.overrides))


def parse_inventory(raw: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> Inventory:
    """Validate the raw stack configuration and build the typed inventory.

    `raw` maps config keys without the ``kolla-ha:`` prefix to their decoded values;
    `secret_keys` names the keys that are stored encrypted (``pulumi config set --secret``).
    Secret values may be plain strings or `SecretValue`s; they are checked, never shown.
    """
    problems: list[str] = []
    warnings: list[str] = []
    hosts = _hosts(raw, problems)
    settings = {key: _setting(raw, key, problems) for key in StackSettings.model_fields if key not in ("hosts", "groups")}
    settings["groups"] = _groups(raw, problems)
    tiers = _tiers(raw, problems)
    _check_hosts(hosts, ipaddress.IPv4Network(settings["internal_network"]) if settings["internal_network"] else None, problems)
    groups = _check_groups(settings["groups"], raw.get("hosts"), problems, warnings)
    _check_network(settings, raw, hosts, problems)
    _check_images(settings["images"], problems)
    enabled = _check_services(settings["enabled_services"], groups, settings["groups"] is not None, problems)
    _check_tiers(tiers, groups, enabled, problems, warnings)
    _unknown_keys(raw, secret_keys, enabled, problems)
    problems += check_secrets(raw, secret_keys, enabled if settings["enabled_services"] is not None else tuple(CATALOG))
    if tiers.get("passwords") is not None:
        # Which secrets rotate, and how safely, is the passwords module's knowledge.
        from components.passwords import rotation_problems, rotation_warnings

        rotations = tiers["passwords"].rotations  # type: ignore[union-attr]
        problems += rotation_problems(rotations)
        warnings += rotation_warnings(rotations)
    if problems:
        raise InventoryError(problems)
    return Inventory(
        hosts=tuple(_host(h) for h in hosts.values()),
        groups=groups,
        internal_network=ipaddress.IPv4Network(settings["internal_network"]),
        internal_vip=settings["internal_vip"],
        external_vip=settings["external_vip"],
        external_network=ipaddress.IPv4Network(settings["external_network"]) if settings["external_network"] else None,
        vrrp_router_id=settings["vrrp_router_id"],
        images=_images(settings["images"]),
        enabled_services=enabled,
        tiers={name: model.model_dump() for name, model in tiers.items() if model is not None},
        warnings=tuple(warnings),
    )


def _host(config: HostConfig) -> Host:
    ssh = SshAccess(user=config.ssh.user, port=config.ssh.port, key_file=config.ssh.key_file)
    return Host(
        name=config.name,
        address=config.address,
        interface=config.interface,
        ssh=ssh,
        docker_url=config.docker or f"ssh://{ssh.user}@{config.address}:{ssh.port}",
        external_interface=config.external_interface or config.interface,
    )
