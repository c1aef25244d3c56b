"""Run the unchanged __main__.py with a stack file, through the offline executor."""
from __future__ import annotations

import gc
import json
import logging
import os
import runpy
import secrets
from pathlib import Path
from typing import Any, Callable, Mapping

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import get_root_resource, run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from lab.executor.actions import Actions
from lab.executor.daemons import DaemonPool
from lab.executor.diff import UnsupportedByExecutor
from lab.executor.engine import Cancelled, Engine
from lab.executor.monitor import EngineMonitor
from lab.progress import Progress
from lab.executor.state import STACK_TYPE, Snapshot
from offline.program import MAIN, ROOT, stack_config

STATE_DIR = ROOT / "lab" / ".state"
PROJECT = "kolla-ha"


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


def default_state_path(stack: str) -> Path:
    return STATE_DIR / f"engine-{stack}.json"


def root_stack_urn(stack: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{STACK_TYPE}::{PROJECT}-{stack}"


class _NoFunctions(pulumi.runtime.Mocks):
    """Provider functions (invokes) are not implemented: refused by name."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise UnsupportedByExecutor(f"the offline executor does not implement the function {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        raise AssertionError("registrations are served by the engine monitor")


class _Diagnostics(logging.Handler):
    """The program's pulumi.log messages, as the preview document's diagnostics."""

    SEVERITY = {"DEBUG": "debug", "INFO": "info", "WARNING": "warning", "ERROR": "error", "CRITICAL": "error"}

    def __init__(self, engine: Engine) -> None:
        super().__init__(level=logging.INFO)
        self.engine = engine

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.engine.diagnostics.append({"message": message, "severity": self.SEVERITY[record.levelname]})
        if record.levelno >= logging.WARNING:
            self.engine.progress.line(f"{self.SEVERITY[record.levelname]}: {message}")


def _diagnostics_logger(engine: Engine, stack: str) -> logging.Logger:
    logger = logging.getLogger(f"kolla-ha.executor.{stack}.{id(engine)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [_Diagnostics(engine)]
    return logger


_NEVER_RETRIEVED = ("Future exception was never retrieved", "Task exception was never retrieved")


def _quiet_abandoned_futures() -> None:
    """A failed run leaves the SDK's Outputs holding the error it already raised; when
    they are finalized, asyncio would log each with its traceback. Formatting that
    traceback inside a finalizer can run while CPython 3.11 is building an AST (it
    parses the source line to place the ^^^ carets), which corrupts the AST
    converter's depth counter: "SystemError: AST constructor recursion depth mismatch"
    in whatever parse was under way. So those two messages are dropped, not formatted."""
    loop = _ensure_event_loop()

    def handler(the_loop: Any, context: dict[str, Any]) -> None:
        if context.get("message") not in _NEVER_RETRIEVED:
            the_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def run_program(
    program: Callable[[], None],
    stack: str,
    preview: bool = False,
    state_path: Path | None = None,
    log: Callable[[str], None] | None = None,
    actions: Actions | None = None,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    replace: list[str] | None = None,
    destroy: bool = False,
    progress: Progress | None = None,
) -> tuple[Engine, dict[str, Any]]:
    """Run `program` (a Pulumi program as a function) through the engine; returns the
    engine (its `plan` holds every step) and the stack's exports. Raises when a step or
    the program fails; the state written up to then is kept, as Pulumi keeps its
    checkpoint."""
    snapshot = Snapshot.load(state_path or default_state_path(stack))
    if preview:
        snapshot.path = None  # a preview writes no state
    owned = actions is None
    actions = actions if actions is not None else Actions(DaemonPool())
    engine = Engine(snapshot, actions, preview=preview, progress=progress or Progress(sink=log),
                    root_urn=root_stack_urn(stack), replace_targets=set(replace or ()))
    _quiet_abandoned_futures()
    try:
        if destroy:
            engine.destroy()
            return engine, {}
        pulumi_mocks.set_mocks(_NoFunctions(), project=PROJECT, stack=stack, preview=preview,
                               monitor=EngineMonitor(_NoFunctions(), engine, stack, PROJECT),
                               logger=_diagnostics_logger(engine, stack))
        pulumi.runtime.set_all_config(dict(config or {}), secret_keys=list(secret_keys or []))
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()

        def main() -> None:
            root = get_root_resource()
            root.outputs = {}  # type: ignore[union-attr]
            program()

        engine.register_stack()
        try:
            _sync_await(run_pulumi_func(main))
        except BaseException as err:
            engine.stop(err)
            # The SDK reports whichever registration failed first to reach it, which may
            # be one refused only because the deployment was already cancelled: report
            # the step that failed, as `pulumi up` does.
            if isinstance(err, Cancelled) and engine.failure is not None and engine.failure is not err:
                raise engine.failure from err
            raise
        engine.finish()
        root = get_root_resource()
        return engine, dict(getattr(root, "outputs", {}) or {})
    finally:
        if owned:
            actions.close()
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        gc.collect()


def run_stack(
    stack: str,
    preview: bool = False,
    destroy: bool = False,
    values: Mapping[str, Any] | None = None,
    state_path: Path | None = None,
    log: Callable[[str], None] | None = None,
    actions: Actions | None = None,
    secrets_given: Mapping[str, str] | None = None,
    replace: list[str] | None = None,
    progress: Progress | None = None,
) -> tuple[Engine, dict[str, Any]]:
    """Deploy (or preview, or destroy) `stack` with the unchanged __main__.py; `progress`
    (else one writing to `log`) receives a line per step."""
    if destroy:
        return run_program(lambda: None, stack, state_path=state_path, log=log, actions=actions, destroy=True,
                           progress=progress)
    config = dict(values) if values is not None else read_stack_file(stack)
    given = dict(secrets_given) if secrets_given is not None else stack_secrets(stack)
    config.update(given)
    return run_program(lambda: runpy.run_path(str(MAIN), run_name="__main__") and None, stack, preview=preview,
                       state_path=state_path, log=log, actions=actions, config=stack_config(config),
                       secret_keys=[f"{PROJECT}:{k}" for k in given], replace=replace, progress=progress)
