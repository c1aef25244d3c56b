"""Every password and key of the stack, as Pulumi secrets, and how each one is rotated.

An operator sets only what a person must know (keystone_admin_password); everything
else is generated once by pulumi-random and kept in the stack's state, so it is stable
across updates and never appears in the stack file. Any generated value can be pinned
with `pulumi config set --secret <name> <value>`.

A generated password is rotated by raising its counter in `passwords.rotations`
(`{<secret name>: N}`): the counter is the RandomPassword's `keepers`, so a new value
replaces the old in state on the next `pulumi up`. What that does to clients depends on
who reads the secret; `ROTATION_RULES` says it for every secret, and refuses the ones
that have no safe rolling path.
"""
from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_random as random

# Characters that survive SQL, shell, INI and URL contexts unescaped.
_SAFE_SPECIAL = "-_.+"


@dataclass(frozen=True)
class RotationRule:
    """What rotating the secrets whose names match `pattern` does."""

    pattern: str
    # "hitless": no client sees an error; "disruptive": allowed, clients see errors
    # (said in `effect`); "refused": the program refuses the counter.
    safety: str
    effect: str


ROTATION_RULES: tuple[RotationRule, ...] = (
    RotationRule(r"database_password", "hitless",
                 "root@'%' is used only by the deployment's own steps; it is set anew over the "
                 "first database node's local socket before any of them runs"),
    RotationRule(r"[a-z]+_database_password", "hitless",
                 "a new database user <service>_r<N> gets the new password; the replicas move to it "
                 "one at a time while the previous user keeps working; the user before that is dropped"),
    RotationRule(r"haproxy_stats_password", "hitless",
                 "every HAProxy reloads in place, one host at a time; the drain commands take the new "
                 "password with the same update"),
    RotationRule(r"memcache_secret_key", "hitless",
                 "every API replica is replaced in turn; a cached token entry written under the other "
                 "key fails its MAC check and is a cache miss (validated again), not an error"),
    RotationRule(r"rabbitmq_admin_password", "hitless",
                 "the brokers restart one at a time, as for a RabbitMQ tunable; only operators log in "
                 "as admin"),
    RotationRule(r"[a-z]+_rabbitmq_password", "disruptive",
                 "the first restarted broker loads the new password for the whole cluster before the "
                 "service's replicas have it: their reconnects are refused until each is replaced"),
    RotationRule(r"[a-z]+_keystone_password", "disruptive",
                 "the replicas roll with the new password before the register step sets it in keystone "
                 "(after the last replica): each rolled replica fails to validate tokens until then"),
    RotationRule(r"horizon_secret_key", "disruptive",
                 "it signs dashboard sessions: everybody logged in to the dashboard is logged out"),
    RotationRule(r"rabbitmq_erlang_cookie", "refused",
                 "every RabbitMQ node must hold the same cookie; a node restarted with a new one cannot "
                 "rejoin the others"),
    RotationRule(r"galera_(monitor|sst)_password", "refused",
                 "the Galera health checks (monitor) and state transfers (sst) would use a password the "
                 "cluster does not have yet, or no longer has, in the middle of the roll"),
    RotationRule(r"keepalived_password", "refused",
                 "VRRP peers with different passwords ignore each other: during the roll two hosts "
                 "would hold the VIP"),
    RotationRule(r"swift_hash_path_(suffix|prefix)", "refused",
                 "it decides where every object is stored: changing it loses every object"),
    RotationRule(r"keystone_admin_password", "refused",
                 "the operator's own password: set the new value with `pulumi config set --secret "
                 "keystone_admin_password`; keystone's bootstrap step applies it"),
    RotationRule(r"keystone_(fernet|credential)_key_[0-9]+", "refused",
                 "Fernet keys rotate with keystone.fernet_rotation and keystone.credential_rotation"),
    RotationRule(r"ceph_fsid", "refused",
                 "it names the Ceph cluster in every monitor's store and every OSD: a new one is another cluster"),
    RotationRule(r"ceph_(mon|admin|bootstrap_osd|cinder)_key", "refused",
                 "a cephx key lives in the monitors' auth database and in every daemon or client holding it; "
                 "a new value would lock out every one of them still holding the old key"),
)


def rotation_rule(name: str) -> RotationRule | None:
    return next((r for r in ROTATION_RULES if re.fullmatch(r.pattern, name)), None)


def rotation_problems(rotations: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a `passwords.rotations` mapping, one line each."""
    problems: list[str] = []
    for name, count in rotations.items():
        key = f"passwords.rotations.{name}"
        rule = rotation_rule(name)
        if rule is None:
            problems.append(f"{key}: no generated secret is named {name!r}; check the spelling (README, Secrets)")
        elif rule.safety == "refused":
            problems.append(f"{key}: {name} is not rotated this way: {rule.effect}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(f"{key}: {count!r} must be a whole number >= 0; raise it by one to rotate")
    return problems


def rotation_warnings(rotations: Mapping[str, Any]) -> list[str]:
    """What a disruptive rotation will cost, said before it happens."""
    warnings = []
    for name, count in rotations.items():
        rule = rotation_rule(name)
        if rule is not None and rule.safety == "disruptive" and count:
            warnings.append(f"passwords.rotations.{name}: rotating it is not hitless: {rule.effect}")
    return warnings


def database_user(service: str, generation: int) -> str:
    """The database user of `service` at rotation `generation` of its password.

    MariaDB 10.11 has no dual passwords, so a rotation makes a new user instead of
    changing the password of the one every running replica logs in as.
    """
    return service if generation == 0 else f"{service}_r{generation}"


class Passwords(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        given: Mapping[str, pulumi.Output[str]],
        rotations: Mapping[str, int] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla-ha:passwords:Passwords", name, None, opts)
        self._given = dict(given)
        self._rotations = dict(rotations or {})
        self._made: dict[str, pulumi.Output[str]] = {}
        self.register_outputs({})

    def generation(self, name: str) -> int:
        """How many times the secret `name` has been rotated."""
        return int(self._rotations.get(name, 0))

    def password(self, name: str, length: int = 32, special: bool = True) -> pulumi.Output[str]:
        """The secret `name`: the operator's value if set, else a generated one."""
        if name in self._given:
            return pulumi.Output.secret(self._given[name])
        if name not in self._made:
            generation = self.generation(name)
            generated = random.RandomPassword(
                name,
                length=length,
                special=special,
                override_special=_SAFE_SPECIAL if special else None,
                # Absent until the first rotation, so that stacks deployed before
                # rotations existed keep their values.
                keepers={"rotation": str(generation)} if generation else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self._made[name] = pulumi.Output.secret(generated.result)
        return self._made[name]

    def fernet_key(self, name: str, as_bytes: bool = False) -> pulumi.Output[str]:
        """A Fernet key (32 random bytes, url-safe base64), generated once. Keys are
        rotated by using new names (components/key_repository.py), never new values.

        Made as 43 random characters of the url-safe base64 alphabet (and the padding):
        that decodes to 32 random bytes, and a RandomPassword's result is a secret in
        the state. `as_bytes` keeps the RandomBytes the first keys of a stack were made
        with: pulumi-random gives a RandomBytes the key itself as its resource id, in
        plain text in the state (provider/resources.go, computeRandomBytesID).
        """
        if name in self._given:
            return pulumi.Output.secret(self._given[name])
        if name not in self._made:
            opts = pulumi.ResourceOptions(parent=self)
            if as_bytes:
                raw = random.RandomBytes(name, length=32, opts=opts)
                key = raw.base64.apply(lambda b: b.replace("+", "-").replace("/", "_"))
            else:
                chars = random.RandomPassword(name, length=43, special=True, override_special="-_", opts=opts)
                key = chars.result.apply(lambda r: r + "=")
            self._made[name] = pulumi.Output.secret(key)
        return self._made[name]

    def uuid(self, name: str) -> pulumi.Output[str]:
        """A UUID, generated once (Ceph's cluster fsid). An identifier rather than a
        secret, kept with the generated values so that it can be pinned the same way."""
        if name in self._given:
            return pulumi.Output.unsecret(self._given[name])
        if name not in self._made:
            raw = random.RandomBytes(name, length=16, opts=pulumi.ResourceOptions(parent=self))
            self._made[name] = pulumi.Output.unsecret(raw.hex.apply(uuid_from_hex))
        return self._made[name]

    def ceph_key(self, name: str) -> pulumi.Output[str]:
        """A cephx key (what `ceph-authtool --gen-print-key` prints), generated once.

        Made from 22 random characters of the base64 alphabet, which carry the key's 16
        random bytes, in a RandomPassword: its result is a secret in the state.
        """
        if name in self._given:
            return pulumi.Output.secret(self._given[name])
        if name not in self._made:
            chars = random.RandomPassword(name, length=22, special=True, override_special="+/",
                                          opts=pulumi.ResourceOptions(parent=self))
            self._made[name] = pulumi.Output.secret(chars.result.apply(ceph_key_from_chars))
        return self._made[name]


# A CryptoKey as Ceph encodes it: type (1 = AES), creation time (seconds, nanoseconds),
# secret length, then the secret (src/auth/Crypto.h, CryptoKey::encode).
_CEPH_KEY_HEADER = struct.pack("<HIIH", 1, 0, 0, 16)


def ceph_key_from_chars(chars: str) -> str:
    """The cephx key whose secret is the 16 bytes 22 base64 characters carry."""
    secret = base64.b64decode(chars + "==")[:16]
    return base64.b64encode(_CEPH_KEY_HEADER + secret).decode()


def is_ceph_key(value: str) -> bool:
    """Whether `value` is a cephx AES key as Ceph's keyrings hold it."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return len(raw) == 28 and raw[:2] == b"\x01\x00" and raw[10:12] == b"\x10\x00"


def uuid_from_hex(hex_digits: str) -> str:
    """A UUID's text form from 32 random hex digits."""
    h = hex_digits[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
