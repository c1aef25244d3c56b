"""Every secret the program uses, where each lands, and what a pinned value may contain.

The components ask `Passwords` for secrets by name; this table knows the same names
(tests/unit/test_secret_specs.py checks both against a real program run), which
services use them, and every file or command a value ends up in. A value the operator
pins with `pulumi config set --secret` is checked against each of those places, because
a character that one of them reads specially (a `#` in a MariaDB option file, a `$` in
an oslo.config file, a `%` in a paste.deploy file) breaks that service at run time, far
from the cause. Generated values (32 characters of letters, digits and `-_.+`) pass
everywhere; URLs quote whatever they carry.

Errors name the key and the rule, never the value.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from components.catalog import CATALOG, ApiSpec


class SecretValue:
    """A secret's plain value, held for validation only; it prints as <secret>."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@dataclass(frozen=True)
class Landing:
    """A kind of place a secret is written to, and the characters it reads specially."""

    name: str
    forbidden: str = ""
    no_whitespace: bool = False
    # When set, every character must be one of these (an allow-list, as a regex class).
    only: str = ""
    only_words: str = ""


SQL = Landing("SQL string literals (quoted)")
SHELL = Landing("shell words (quoted)")
URL = Landing("URLs (percent-quoted)")
# Database URLs are percent-quoted too, but the schema migrations of keystone (alembic,
# since Zed) hand the URL to configparser, where a percent-escape is a syntax error
# ("invalid interpolation syntax", seen in the lab): a database password must need no
# quoting at all, i.e. hold only URL-unreserved characters (and `+`).
DATABASE_URL = Landing("database URLs read by schema migrations", only="A-Za-z0-9._~+-",
                       only_words="letters, digits and - . _ ~ +")
PYTHON = Landing("Python settings (JSON-quoted)")
# MariaDB option files read `#` as a comment anywhere, `\` as an escape and quotes
# as quoting; values are trimmed.
MARIADB_OPTION_FILE = Landing("MariaDB option files", "#\\'\"", no_whitespace=True)
# oslo.config substitutes `$name` in every value.
OSLO_CONFIG = Landing("oslo.config files", "$")
# paste.deploy and swift read their files with configparser's `%` interpolation.
PASTE_INI = Landing("paste.deploy/swift ini files", "%")
# glance_store reads its Swift reference file (glance-swift.conf) with configparser's `%`
# interpolation and strips a value's surrounding quotes (SwiftConfigParser).
SWIFT_STORE_REFERENCE = Landing("glance_store's Swift reference file", "%\"'")
# cuttlefish (rabbitmq.conf) ends a value at `#`.
RABBITMQ_CONF = Landing("rabbitmq.conf", "#")
# haproxy.cfg splits words at blanks, reads `#` as a comment and `\`, quotes itself;
# lb_membership passes the same value inside a double-quoted curl config string.
HAPROXY_CFG = Landing("haproxy.cfg and curl config", "#\\'\"", no_whitespace=True)


@dataclass(frozen=True)
class SecretSpec:
    name: str
    landings: tuple[Landing, ...]
    purpose: str
    # Services whose being enabled makes the program use it; empty: always used.
    services: tuple[str, ...] = ()
    # A rule of its own instead of the landings' characters (keys, cookies, VRRP).
    pattern: str | None = None
    rule: str = ""
    operator: bool = False
    fernet: bool = False
    ceph_key: bool = False

    def problem(self, value: str) -> str | None:
        """Why `value` cannot be used, or None. Never includes the value."""
        if self.fernet:
            return None if _is_fernet_key(value) else self.rule
        if self.ceph_key:
            from components.passwords import is_ceph_key

            return None if is_ceph_key(value) else self.rule
        if self.pattern is not None:
            return None if re.fullmatch(self.pattern, value) else self.rule
        if not value:
            return "is empty; choose a value"
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            return "holds a control character (a newline or tab); every place it is written to is line-based"
        if value != value.strip():
            return "starts or ends with a blank, which config files trim away"
        for landing in self.landings:
            if landing.no_whitespace and any(c.isspace() for c in value):
                return f"holds a blank, which {landing.name} cannot carry; leave blanks out"
            if landing.only and not re.fullmatch(f"[{landing.only}]+", value):
                return (f"may only hold {landing.only_words}: {landing.name} cannot carry a "
                        "percent-escape; choose a value of those characters")
            if any(c in landing.forbidden for c in value):
                return (
                    f"holds one of {' '.join(landing.forbidden)}, which {landing.name} read specially; "
                    "choose a value without them"
                )
        return None

    def allowed(self) -> str:
        """The rule in words, for the README."""
        if self.rule:
            return self.rule.removeprefix("must be ")
        forbidden = "".join(sorted({c for landing in self.landings for c in landing.forbidden}))
        blanks = any(landing.no_whitespace for landing in self.landings)
        only = [landing.only_words for landing in self.landings if landing.only]
        if only:
            return "only " + only[0]
        text = "printable, no control characters"
        if forbidden:
            text += ", none of " + " ".join(f"`{c}`" for c in forbidden)
        if blanks:
            text += ", no blanks"
        return text


def _is_fernet_key(value: str) -> bool:
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}=", value):
        return False
    try:
        return len(base64.urlsafe_b64decode(value)) == 32
    except (binascii.Error, ValueError):
        return False


_FERNET_RULE = "must be a Fernet key: 32 random bytes in url-safe base64 (44 characters ending in '=')"
_CEPH_KEY_RULE = "must be a cephx key as `ceph-authtool --gen-print-key` prints one (40 base64 characters)"


def _services(uses: Callable[[ApiSpec], object]) -> dict[str, tuple[str, ...]]:
    """Per service project name (keystone, nova...), the catalogue services that `uses` it."""
    users: dict[str, list[str]] = {}
    for spec in CATALOG.values():
        if uses(spec):
            users.setdefault(spec.short, []).append(spec.name)
    return {short: tuple(names) for short, names in users.items()}


def _catalogue() -> dict[str, SecretSpec]:
    every_api = tuple(CATALOG)
    specs = [
        SecretSpec("keystone_admin_password", (SHELL,), "the cloud's admin password", operator=True),
        SecretSpec("database_password", (SQL, MARIADB_OPTION_FILE), "MariaDB root"),
        SecretSpec("galera_sst_password", (SQL, MARIADB_OPTION_FILE), "Galera state transfers"),
        SecretSpec("galera_monitor_password", (SQL, MARIADB_OPTION_FILE), "Galera health checks"),
        SecretSpec("rabbitmq_admin_password", (RABBITMQ_CONF,), "RabbitMQ administrator"),
        SecretSpec(
            "rabbitmq_erlang_cookie", (), "Erlang distribution between RabbitMQ nodes",
            pattern=r"[A-Za-z0-9]{1,255}", rule="must be 1-255 letters and digits (an Erlang cookie)",
        ),
        SecretSpec(
            "keepalived_password", (), "VRRP authentication",
            # VRRP PASS authentication carries 8 characters; keepalived would cut a
            # longer one silently, and its parser reads quotes, `#`, `!` and `$`.
            pattern=r"[A-Za-z0-9]{1,8}", rule="must be 1-8 letters and digits (VRRP carries 8 characters)",
        ),
        SecretSpec("haproxy_stats_password", (HAPROXY_CFG,), "HAProxy stats page and drain actions"),
        SecretSpec("memcache_secret_key", (OSLO_CONFIG,), "keystonemiddleware's memcached encryption",
                   services=every_api),
        SecretSpec("horizon_secret_key", (PYTHON,), "Django's SECRET_KEY", services=("horizon",)),
        SecretSpec("swift_hash_path_suffix", (PASTE_INI,), "Swift's object placement hash",
                   services=("swift-proxy-server",)),
        SecretSpec("swift_hash_path_prefix", (PASTE_INI,), "Swift's object placement hash",
                   services=("swift-proxy-server",)),
    ]
    # Ceph is deployed for cinder's volumes (components/ceph.py).
    ceph_users = ("cinder-api",)
    specs.append(SecretSpec(
        "ceph_fsid", (), "Ceph's cluster id (an identifier, in every ceph.conf)", services=ceph_users,
        pattern=r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        rule="must be a UUID in lower-case hex (8-4-4-4-12)"))
    for entity, purpose in (("mon", "Ceph's monitors (mon.)"), ("admin", "Ceph's administrator (client.admin)"),
                            ("bootstrap_osd", "registering Ceph OSDs (client.bootstrap-osd)"),
                            ("cinder", "cinder-volume's RBD access (client.cinder)")):
        specs.append(SecretSpec(f"ceph_{entity}_key", (), purpose, services=ceph_users, rule=_CEPH_KEY_RULE,
                                ceph_key=True))
    for i in (0, 1):
        for kind in ("fernet", "credential"):
            specs.append(SecretSpec(f"keystone_{kind}_key_{i}", (), f"keystone {kind} key {i}",
                                    services=("keystone",), rule=_FERNET_RULE, fernet=True))
    for short, users in _services(lambda spec: spec.database).items():
        specs.append(SecretSpec(f"{short}_database_password", (SQL, DATABASE_URL), f"{short}'s database user",
                                services=users))
    for short, users in _services(lambda spec: spec.keystone_user).items():
        landings = (OSLO_CONFIG, SHELL) + ((PASTE_INI,) if short == "swift" else ()) + (
            (SWIFT_STORE_REFERENCE,) if short == "glance" else ())
        specs.append(SecretSpec(f"{short}_keystone_password", landings, f"{short}'s keystone user",
                                services=users))
    for short, users in _services(lambda spec: spec.rabbitmq).items():
        specs.append(SecretSpec(f"{short}_rabbitmq_password", (URL,), f"{short}'s RabbitMQ user",
                                services=users))
    return {s.name: s for s in specs}


SECRETS: dict[str, SecretSpec] = _catalogue()
OPERATOR_SECRETS: tuple[str, ...] = tuple(n for n, s in SECRETS.items() if s.operator)


def used_secrets(enabled_services: Iterable[str]) -> dict[str, SecretSpec]:
    """The secrets the program uses with these services enabled."""
    enabled = set(enabled_services)
    return {n: s for n, s in SECRETS.items() if not s.services or enabled & set(s.services)}


def plain(value: object) -> str | None:
    """A secret's value as text, whichever way the caller holds it."""
    if isinstance(value, SecretValue):
        return value.reveal()
    return value if isinstance(value, str) else None


def check_secrets(
    raw: Mapping[str, object], secret_keys: frozenset[str], enabled_services: Iterable[str]
) -> list[str]:
    """Problems with the secret keys present in `raw` (names from SECRETS only)."""
    problems: list[str] = []
    enabled = tuple(enabled_services)
    used = used_secrets(enabled)
    for name in OPERATOR_SECRETS:
        if raw.get(name) is None:
            problems.append(f"{name}: missing; set it with `pulumi config set --secret {name} <value>`")
    for name, value in raw.items():
        spec = SECRETS.get(name)
        if spec is None or value is None:
            continue
        if name not in used:
            users = ", ".join(spec.services)
            problems.append(
                f"{name}: only {users} use{'s' if len(spec.services) == 1 else ''} this secret, and "
                f"{'it is' if len(spec.services) == 1 else 'none is'} enabled; remove the key or enable "
                f"{'it' if len(spec.services) == 1 else 'one of them'} in enabled_services"
            )
            continue
        if name not in secret_keys:
            problems.append(
                f"{name}: stored in plain text; store it encrypted with "
                f"`pulumi config set --secret {name} <value>`"
            )
            continue
        text = plain(value)
        if text is None:
            problems.append(f"{name}: must be text; set it with `pulumi config set --secret {name} <value>`")
            continue
        reason = spec.problem(text)
        if reason is not None:
            problems.append(
                f"{name}: the pinned value {reason} (value not shown); set another with "
                f"`pulumi config set --secret {name} <value>`, or remove the key to have one generated"
                if not spec.operator else
                f"{name}: the value {reason} (value not shown); set another with "
                f"`pulumi config set --secret {name} <value>`"
            )
    return problems
