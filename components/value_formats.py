"""The kinds of value an operator writes in the stack file, each checked as its consumer checks it.

A format is an annotated type for the config model: what it must look like (for error
messages and the README, from one `Format`), and a validator that refuses anything the
daemon, kernel or tool reading it would refuse or misread. Patterns are matched whole
(`re.fullmatch`): `$` would accept a trailing newline, which then splits a config line.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable

from pydantic import AfterValidator, Field, PlainSerializer


@dataclass(frozen=True)
class Format:
    """A value's shape in words: `noun` for "is not <noun>", `expected` for "write <expected>"."""

    noun: str
    expected: str
    example: str


class FormatError(ValueError):
    """Why a value is not of its format (the part after "is not <noun>")."""


def _checked(check: Callable[[str], str | None]) -> Callable[[str], str]:
    def validate(value: str) -> str:
        reason = check(value)
        if reason is not None:
            raise FormatError(reason)
        return value

    return validate


def _pattern(regex: str, flags: int = 0) -> Callable[[str], str | None]:
    compiled = re.compile(regex, flags)
    return lambda value: None if compiled.fullmatch(value) else ""


def formatted(fmt: Format, check: Callable[[str], str | None]) -> Any:
    """A string type of format `fmt`; `check` returns None when valid, else the reason
    ("" when "is not <noun>" says it all)."""
    return Annotated[str, fmt, AfterValidator(_checked(check))]


def format_of(metadata: list[Any]) -> Format | None:
    return next((m for m in metadata if isinstance(m, Format)), None)


# --- hosts -------------------------------------------------------------------------

def _host_name(value: str) -> str | None:
    # RFC 1123 label. Lower case only: it is also the Erlang node name rabbit@<name>,
    # which is case-sensitive and must equal what `hostname -s` resolves.
    return None if re.fullmatch(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", value) else ""


HostName = formatted(
    Format(
        "a valid short host name",
        "an RFC 1123 label: lower-case letters, digits and '-', starting with a letter, not "
        "ending with '-', at most 63 characters (also the RabbitMQ node name rabbit@<name>)",
        "ctl1",
    ),
    _host_name,
)


def _interface(value: str) -> str | None:
    # The kernel's dev_valid_name(): shorter than IFNAMSIZ (16), not "." or "..", no '/',
    # ':' or whitespace. The name is also a token of keepalived.conf, whose parser reads
    # '#', '!', quotes and braces itself, so only the characters real names use pass.
    if value in (".", "..") or not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", value):
        return ""
    return None


InterfaceName = formatted(
    Format(
        "a Linux interface name",
        "1-15 characters of letters, digits, '.', '-' and '_' (the kernel allows no '/', ':' "
        "or whitespace; write the name itself, not ip's name@parent)",
        "eth0",
    ),
    _interface,
)


PosixUser = formatted(
    Format(
        "a POSIX user name",
        "up to 32 characters from the portable set (letters, digits, '.', '_', '-'), "
        "starting with a letter or '_'",
        "root",
    ),
    _pattern(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}"),
)


def _key_file(value: str) -> str | None:
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return ": a path cannot be empty or hold control characters"
    return None


KeyFile = formatted(
    Format("a file path", "the path of the private key ('~' allowed)", "~/.ssh/kolla-ha"),
    _key_file,
)


_DNS_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
_PORT = r"(?:[1-9][0-9]{0,4})"


def _port_ok(text: str | None) -> bool:
    return text is None or 1 <= int(text) <= 65535


def _docker_url(value: str) -> str | None:
    ssh = re.fullmatch(rf"ssh://(?:[A-Za-z_][A-Za-z0-9_.-]{{0,31}}@)?{_DNS_NAME}(?::({_PORT}))?", value)
    tcp = re.fullmatch(rf"tcp://{_DNS_NAME}(?::({_PORT}))?", value)
    if ssh or tcp:
        return None if _port_ok((ssh or tcp).group(1)) else ": the port is outside 1-65535"  # type: ignore[union-attr]
    if re.fullmatch(r"unix:///[A-Za-z0-9_./-]+", value):
        return None
    return ""


DockerUrl = formatted(
    Format(
        "a Docker daemon URL",
        "ssh://[user@]host[:port] (production), tcp://host[:port] or unix:///path (labs)",
        "ssh://root@10.0.0.11:22",
    ),
    _docker_url,
)


def _ipv4(value: str) -> str | None:
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        return ""
    # Leading zeros or other spellings would reach configs as written.
    return None if str(ip) == value else f": write it as {ip}"


IPv4Address = formatted(Format("an IPv4 address", "an IPv4 address in dotted decimal", "10.0.0.11"), _ipv4)


def _ipv4_network(value: str) -> str | None:
    if "/" not in value:
        return ": the prefix length is missing"
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return ""
    if str(net) != value:
        return f": host bits are set or it is spelled unusually; the network is {net}"
    return None


IPv4Network = formatted(
    Format("an IPv4 network in CIDR form", "a network address with its prefix length", "10.0.0.0/24"),
    _ipv4_network,
)


Port = Annotated[int, Field(ge=1, le=65535)]


# --- images ------------------------------------------------------------------------

def _registry(value: str) -> str | None:
    if value == "":
        return None
    match = re.fullmatch(rf"{_DNS_NAME}(?::({_PORT}))?", value)
    if not match:
        return ""
    if not _port_ok(match.group(1)):
        return ": the port is outside 1-65535"
    # Docker reads the first path component as a registry only when it holds a '.' or a
    # ':' or is localhost; a bare name becomes a Docker Hub namespace instead.
    if "." not in value and ":" not in value and value != "localhost":
        return ": Docker would read a bare name as a Docker Hub namespace, not a registry"
    return None


Registry = formatted(
    Format(
        "a registry host[:port]",
        'host[:port] with a "." or ":" (or localhost), or "" for Docker Hub',
        "registry.example.com:5000",
    ),
    _registry,
)

_PATH_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"

RepositoryPath = formatted(
    Format(
        "a valid repository path",
        "lower-case path components of letters and digits joined by '.', '_' or '-', separated by '/'",
        "kolla-ha",
    ),
    _pattern(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"),
)

_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

ImageTag = formatted(
    Format(
        "a valid image tag",
        "up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        "zed",
    ),
    _pattern(_TAG),
)

IMAGE_REFERENCE = re.compile(
    rf"(?:{_DNS_NAME}(?::{_PORT})?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    rf"(?::{_TAG})?(?:@sha256:[0-9a-f]{{64}})?"
)

ImageReference = formatted(
    Format(
        "an image reference",
        "registry[:port]/path/name:tag (or @sha256:<digest>)",
        "quay.io/openstack.kolla/keystone:2023.1-ubuntu-jammy",
    ),
    lambda value: None if IMAGE_REFERENCE.fullmatch(value) else "",
)


# --- daemon tunables ---------------------------------------------------------------

_HAPROXY_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# HAProxy keeps timers as signed 32-bit milliseconds and refuses longer ones.
_HAPROXY_MAX_MS = 2**31 - 1


def _haproxy_duration(value: str) -> str | None:
    match = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)", value)
    if not match:
        if re.fullmatch(r"[0-9]+", value):
            return ": the unit is missing (HAProxy would read a bare number as milliseconds)"
        return ""
    ms = int(match.group(1)) * _HAPROXY_UNITS_MS[match.group(2)]
    if ms <= 0:
        return ": it must be longer than zero"
    if ms > _HAPROXY_MAX_MS:
        return ": HAProxy refuses timers longer than 2147483647ms (about 24 days)"
    return None


HAProxyDuration = formatted(
    Format(
        "a HAProxy duration",
        "a whole number and its unit: us, ms, s, m, h or d",
        "10s",
    ),
    _haproxy_duration,
)


def haproxy_duration_ms(value: str) -> float:
    match = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)", value)
    assert match, value
    return int(match.group(1)) * _HAPROXY_UNITS_MS[match.group(2)]


_SIZE_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}


def size_bytes(value: str) -> int:
    match = re.fullmatch(r"([0-9]+)([KMGTkmgt]?)", value)
    assert match, value
    return int(match.group(1)) << _SIZE_SHIFT[match.group(2).upper()]


def mariadb_size(minimum: int = 1, minimum_text: str = "") -> Any:
    """A size in the syntax both MariaDB options and Galera provider options read:
    a whole number with an optional K, M, G or T suffix (powers of 1024)."""
    return byte_size("a MariaDB size", minimum, minimum_text)


def byte_size(noun: str, minimum: int = 1, minimum_text: str = "", example: str = "1G") -> Any:
    """A size as MariaDB, Galera and Ceph options read one (and as kolla-ha converts it to
    bytes): a whole number with an optional K, M, G or T suffix (powers of 1024)."""

    def check(value: str) -> str | None:
        if not re.fullmatch(r"[0-9]+[KMGTkmgt]?", value):
            return ""
        if size_bytes(value) < minimum:
            return f": it is below the minimum of {minimum_text or minimum}"
        return None

    expected = "a whole number of bytes with an optional K, M, G or T suffix"
    if minimum_text:
        expected += f", at least {minimum_text}"
    return formatted(Format(noun, expected, example), check)


def _host_path(value: str) -> str | None:
    # Written into container mounts and shell commands: absolute, no `..`, and only the
    # characters file systems and mount points are usually named with.
    if not value.startswith("/") or value == "/":
        return ": it must be an absolute path below /"
    if not re.fullmatch(r"(?:/[A-Za-z0-9_.+@-]+)+", value) or "/../" in value + "/" or "/./" in value + "/":
        return ": use letters, digits and _ . + @ - in each component, no `.` or `..` components"
    return None


HostPath = formatted(
    Format("an absolute host path", "an absolute path of letters, digits and _ . + @ - components",
           "/srv/glance-images"),
    _host_path,
)


def _block_device(value: str) -> str | None:
    reason = _host_path(value)
    if reason is not None:
        return reason
    return None if value.startswith("/dev/") else ": a block device lives under /dev/"


BlockDevice = formatted(
    Format("a block device path", "a path under /dev/, best a stable one (/dev/disk/by-id/...)",
           "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"),
    _block_device,
)


def _ratio_text(value: float) -> str:
    # rabbitmq.conf is parsed by cuttlefish, whose float type needs a decimal point
    # ("1" and "1e-05" are refused): always write a plain decimal.
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


Ratio = Annotated[
    float,
    Field(gt=0, le=1),
    Format("a ratio", "a number above 0 and at most 1", "0.4"),
    PlainSerializer(_ratio_text, return_type=str),
]


ConfigToken = formatted(
    Format(
        "a valid name",
        "letters, digits, '.', '-' and '_', starting with a letter or digit, at most 255 characters",
        "cinder-volumes",
    ),
    _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"),
)
