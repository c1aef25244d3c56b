"""A valid raw stack configuration, for tests that need an inventory to start from."""
from __future__ import annotations

from typing import Any


def make_config(n_hosts: int = 3, **overrides: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """Raw config of `n_hosts` hosts (ctl1.. at 10.0.0.11..) in every group, and its secret keys.

    `overrides` replace top-level keys. The secret keys are every ``*_password`` /
    ``*_secret`` key present, as if each had been set with ``pulumi config set --secret``.
    """
    names = [f"ctl{i}" for i in range(1, n_hosts + 1)]
    raw: dict[str, Any] = {
        "hosts": [
            {
                "name": name,
                "address": f"10.0.0.{10 + i}",
                "interface": "eth0",
                "ssh": {"user": "root"},
            }
            for i, name in enumerate(names, start=1)
        ],
        "groups": {
            group: list(names)
            # storage: cinder-api (enabled by default) keeps its volumes there.
            for group in ("control", "database", "messaging", "loadbalancer", "memcached", "storage")
        },
        "internal_network": "10.0.0.0/24",
        "internal_vip": "10.0.0.250",
        # A shared image store, so that glance-api runs on every control host (without
        # one, the file back-end runs it on the first only, with a warning).
        "glance": {"backend": "file", "file_path": "/srv/glance-images"},
        "keystone_admin_password": "correct-horse-battery-staple",
    }
    raw.update(overrides)
    secret_keys = frozenset(k for k in raw if k.endswith(("_password", "_secret")))
    return raw, secret_keys
