"""The inventories the mock-based tests run the program with, each evaluated once per session.

A plain module (not conftest.py, which pytest imports under another name) so that every
test module shares one cache.
"""
from __future__ import annotations

import gc
from typing import Any, Callable

from offline.program import ProgramRun, run_program
from tests.unit.inventory_fixtures import make_config


def split_config() -> tuple[dict[str, Any], frozenset[str]]:
    """Five hosts, every tier on a different subset: a container on the wrong group shows."""
    raw, secret_keys = make_config(5)
    raw["groups"] = {
        "control": ["ctl1", "ctl2", "ctl3", "ctl4", "ctl5"],
        "database": ["ctl1", "ctl2", "ctl3"],
        "messaging": ["ctl2", "ctl3", "ctl4"],
        "loadbalancer": ["ctl4", "ctl5"],
        "memcached": ["ctl3", "ctl4", "ctl5"],
        # Ceph's OSDs and cinder-volume; its monitors are on the database hosts.
        "storage": ["ctl5", "ctl1", "ctl4"],
    }
    return raw, secret_keys


EVERY_SERVICE = ["keystone", "glance-api", "placement-api", "nova-api", "neutron-server", "cinder-api", "horizon",
                 "swift-proxy-server"]


def storage_config(n_hosts: int = 3) -> tuple[dict[str, Any], frozenset[str]]:
    """Every service with the storage tier: glance on Swift, cinder on Ceph."""
    raw, secret_keys = make_config(n_hosts, enabled_services=EVERY_SERVICE, glance={"backend": "swift"})
    return raw, secret_keys


def storage_split_config() -> tuple[dict[str, Any], frozenset[str]]:
    """Storage on hosts apart from the database (Ceph's monitors) and in another order
    than the inventory's: each storage piece on the wrong hosts shows."""
    raw, secret_keys = split_config()
    raw.update(enabled_services=EVERY_SERVICE, glance={"backend": "swift"})
    return raw, secret_keys


LAYOUTS: dict[str, Callable[[], tuple[dict[str, Any], frozenset[str]]]] = {
    "3-hosts": lambda: make_config(3),
    "5-hosts": lambda: make_config(5),
    "5-hosts-split": split_config,
}
# Every service and the storage tier (tests of Swift, Ceph, cinder, glance's store).
STORAGE_LAYOUTS: dict[str, Callable[[], tuple[dict[str, Any], frozenset[str]]]] = {
    "3-hosts-storage": storage_config,
    "5-hosts-storage-split": storage_split_config,
}

_RUNS: dict[str, ProgramRun] = {}


def layout_run(layout: str) -> ProgramRun:
    if layout not in _RUNS:
        _RUNS[layout] = quick_run(*{**LAYOUTS, **STORAGE_LAYOUTS}[layout]())
    return _RUNS[layout]


def quick_run(*args: Any, **kwargs: Any) -> ProgramRun:
    """run_program with the cyclic GC paused: the SDK's output bookkeeping makes
    collections over the runs the session keeps alive the larger part of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return run_program(*args, **kwargs)
    finally:
        if enabled:
            gc.enable()




DAY2_KEYS: dict[str, dict[str, Any]] = {
    "keystone": {"fernet_rotation": 0, "credential_rotation": 0},
    "passwords": {"rotations": {}},
}


def accept_day2_keys(monkeypatch: Any) -> None:
    """Let the config parser accept the rotation settings (keystone.fernet_rotation,
    keystone.credential_rotation, passwords.rotations) where the config model does not
    declare them yet; the program reads them with these defaults either way."""
    from components import defaults

    for tier, keys in DAY2_KEYS.items():
        if tier not in defaults.TIER_DEFAULTS:
            monkeypatch.setitem(defaults.TIER_DEFAULTS, tier, keys)
