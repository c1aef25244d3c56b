"""Reading the stack's `kolla-ha:*` config into the plain mapping the inventory parses."""
from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.secret_specs import SecretValue

PROJECT = "kolla-ha"


def _all_keys() -> list[str]:
    # Every key of this project in the stack, so typos are reported rather than ignored.
    keys = set(runtime_config.CONFIG.get().keys()) | set(runtime_config.get_config_env().keys())
    prefix = f"{PROJECT}:"
    return sorted(k[len(prefix):] for k in keys if k.startswith(prefix))


def read_stack_config() -> tuple[dict[str, Any], frozenset[str], dict[str, pulumi.Output[str]]]:
    """(raw values, keys stored as secrets, secret Outputs by key). Secret values in the
    raw mapping are `SecretValue`s, for validation only."""
    cfg = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    secrets: dict[str, pulumi.Output[str]] = {}
    for key in _all_keys():
        value = cfg.get(key)
        if value is None:
            continue
        if runtime_config.is_config_secret(f"{PROJECT}:{key}"):
            secret_keys.add(key)
            secrets[key] = cfg.require_secret(key)
            # Validation checks a pinned value for every file it lands in before anything is
            # declared; wrapped, it prints as <secret> wherever it might be shown.
            raw[key] = SecretValue(value)
            continue
        try:
            raw[key] = json.loads(value)
        except ValueError:
            raw[key] = value
    return raw, frozenset(secret_keys), secrets

