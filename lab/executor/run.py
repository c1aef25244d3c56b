"""Run the unchanged __main__.py with a stack file, through the offline executor."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import get_root_resource, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from lab.executor.executor import Executor, RecordingMonitor
from offline.program import MAIN, ROOT, stack_config

STATE_DIR = ROOT / "lab" / ".state"


def read_stack_file(stack: str) -> dict[str, Any]:
    """The stack's `kolla-ha:*` values from Pulumi.<stack>.yaml."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    config = data.get("config") or {}
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("kolla-ha:")}
    encrypted = [k for k, v in values.items() if isinstance(v, dict) and "secure" in v]
    if encrypted:
        raise SystemExit(
            f"{', '.join(encrypted)}: encrypted in the stack file; the offline executor cannot decrypt "
            "Pulumi secrets, pass them with KOLLA_HA_SECRET_<KEY> or the stack's secrets file"
        )
    return values


def stack_secrets(stack: str) -> dict[str, str]:
    """Secrets for a lab stack: KOLLA_HA_SECRET_<KEY> variables, else a 0600 file under
    lab/.state/ (keystone_admin_password generated on first use: it is a lab)."""
    path = STATE_DIR / f"{stack}-secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if "keystone_admin_password" not in stored:
        stored["keystone_admin_password"] = secrets.token_urlsafe(18)
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    for key, value in os.environ.items():
        if key.startswith("KOLLA_HA_SECRET_"):
            stored[key[len("KOLLA_HA_SECRET_"):].lower()] = value
    return stored


def run_stack(
    stack: str,
    preview: bool = False,
    destroy: bool = False,
    values: Mapping[str, Any] | None = None,
    state_path: Path | None = None,
    log: Any = print,
    actions: Any = None,
    secrets_given: Mapping[str, str] | None = None,
) -> tuple[Executor, dict[str, Any]]:
    """Deploy (or preview, or destroy) `stack`; returns the executor and the exports."""
    config = dict(values) if values is not None else read_stack_file(stack)
    given = dict(secrets_given) if secrets_given is not None else stack_secrets(stack)
    config.update(given)
    executor = Executor(state_path or STATE_DIR / f"engine-{stack}.json", preview=preview, log=log,
                        actions=actions)
    if destroy:
        executor.destroy()
        return executor, {}
    pulumi_mocks.set_mocks(executor, project="kolla-ha", stack=stack, preview=False,
                           monitor=RecordingMonitor(executor))
    pulumi.runtime.set_all_config(stack_config(config), secret_keys=[f"kolla-ha:{k}" for k in given])
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    namespace: dict[str, Any] = {}

    def program() -> None:
        root = get_root_resource()
        root.outputs = {}  # type: ignore[union-attr]
        namespace.update(__import__("runpy").run_path(str(MAIN), run_name="__main__"))

    _sync_await(run_pulumi_func(program))
    executor.finish()
    root = get_root_resource()
    exports = dict(getattr(root, "outputs", {}) or {})
    return executor, exports
