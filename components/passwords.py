"""Every password and key of the stack, as Pulumi secrets.

An operator sets only what a person must know (keystone_admin_password); everything
else is generated once by pulumi-random and kept in the stack's state, so it is stable
across updates and never appears in the stack file. Any generated value can be pinned
with `pulumi config set --secret <name> <value>`.
"""
from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_random as random

# Characters that survive SQL, shell, INI and URL contexts unescaped.
_SAFE_SPECIAL = "-_.+"


class Passwords(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        given: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kolla-ha:passwords:Passwords", name, None, opts)
        self._given = dict(given)
        self._made: dict[str, pulumi.Output[str]] = {}
        self.register_outputs({})

    def password(self, name: str, length: int = 32, special: bool = True) -> pulumi.Output[str]:
        """The secret `name`: the operator's value if set, else a generated one."""
        if name in self._given:
            return pulumi.Output.secret(self._given[name])
        if name not in self._made:
            generated = random.RandomPassword(
                name,
                length=length,
                special=special,
                override_special=_SAFE_SPECIAL if special else None,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self._made[name] = pulumi.Output.secret(generated.result)
        return self._made[name]

    def fernet_key(self, name: str) -> pulumi.Output[str]:
        """A Fernet key (32 random bytes, url-safe base64), generated once."""
        if name in self._given:
            return pulumi.Output.secret(self._given[name])
        if name not in self._made:
            raw = random.RandomBytes(name, length=32, opts=pulumi.ResourceOptions(parent=self))
            self._made[name] = pulumi.Output.secret(
                raw.base64.apply(lambda b: b.replace("+", "-").replace("/", "_"))
            )
        return self._made[name]
