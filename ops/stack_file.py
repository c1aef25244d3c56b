"""The stack's inventory as operator tools see it: read from Pulumi.<stack>.yaml.

Operator tools (recovery, fault injection, plan guard) need the hosts and groups, not
the secrets, so the file's encrypted values ({secure: ...}, pinned secrets) are left out
rather than decrypted, and the one secret the inventory requires is a placeholder.
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
    return inventory_of(stack_values(path))


def inventory_of(values: dict[str, Any]) -> Inventory:
    """The inventory of a stack's values, its encrypted ones left out."""
    raw = {k: v for k, v in values.items() if not (isinstance(v, dict) and set(v) == {"secure"})}
    for key in OPERATOR_SECRETS:
        raw[key] = "not-needed-by-operator-tools"
    return parse_inventory(raw, frozenset(OPERATOR_SECRETS))
