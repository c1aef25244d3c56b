"""The stack's inventory as operator tools see it: read from Pulumi.<stack>.yaml.

Operator tools (recovery, fault injection, plan guard) need the hosts and groups, not
the secrets, so the file's encrypted values are neither decrypted nor required: every
secret key is treated as present and stored encrypted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.inventory import OPERATOR_SECRETS, Inventory, parse_inventory


def stack_values(path: str | Path) -> dict[str, Any]:
    """The `kolla-ha:*` values of a stack file, keys without the namespace."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    config = data.get("config") or {}
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("kolla-ha:")}


def load_inventory(path: str | Path) -> Inventory:
    raw = stack_values(path)
    secret_keys = {k for k, v in raw.items() if isinstance(v, dict) and "secure" in v}
    for key in OPERATOR_SECRETS:
        raw.setdefault(key, "<set in the stack, not needed here>")
        secret_keys.add(key)
    for key in secret_keys:
        raw[key] = "<secret>"
    return parse_inventory(raw, frozenset(secret_keys))
