"""A day-2 change as an operator makes it: the plan first, the HA guard on the plan, then
`up` under a client loop; what was replaced in which order and what the clients saw.

Shared by the day-2 tests (test_ha_stack.py, test_day2.py) so that every change goes
through the same gate the README tells operators to put in front of `pulumi up`.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from lab.executor.preview_json import preview_digest
from lab.executor.run import run_stack
from ops.plan_guard import Inventory as GuardInventory
from ops.plan_guard import Violation, check_document
from tests.e2e.figures import FIGURES
from tests.e2e.lab_access import VIP, Deployment, keystone_token


class TokenClient(threading.Thread):
    """Asks keystone for tokens through the VIP until stopped; counts failures."""

    def __init__(self, password: str) -> None:
        super().__init__(daemon=True)
        self.password = password
        self.stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                keystone_token(f"http://{VIP}:5000", self.password)
                self.ok += 1
            except Exception as err:  # every kind of failure counts against HA
                self.errors.append(f"{time.strftime('%H:%M:%S')} {type(err).__name__}: {str(err)[:120]}")
            time.sleep(0.2)


@dataclass
class Day2Result:
    plan_summary: str
    # (op, name) of every container or command step that was not "same", in order.
    steps: list[tuple[str, str]] = field(default_factory=list)
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exports: dict[str, Any] = field(default_factory=dict)

    def replaced(self, suffix: str) -> list[str]:
        """Names of the resources ending in `suffix` that were replaced, in the order it
        happened (the engine's one logical `replace` step per replacement)."""
        return [name for op, name in self.steps if name.endswith(suffix) and op == "replace"]


def guard_plan(deployment: Deployment, values: Mapping[str, Any], admin_password: str) -> tuple[list[Violation], str]:
    """The preview of `values` (nothing is changed) and what the HA guard says of it."""
    given = {"keystone_admin_password": admin_password}
    preview, _ = run_stack("dev", values=values, state_path=deployment.state_path, secrets_given=given, preview=True)
    document = preview_digest(preview.plan, {}, 0, preview.diagnostics, show_replacement_steps=True)
    groups = {g: tuple(m) for g, m in (values.get("groups") or {}).items()}
    inventory = GuardInventory(tuple(h["name"] for h in values["hosts"]), groups,
                               tuple(values.get("enabled_services") or ()))
    return check_document(document, inventory)


def guarded_change(deployment: Deployment, values: Mapping[str, Any], admin_password: str, label: str) -> Day2Result:
    """Plan `values`, refuse an unsafe plan (AssertionError naming the guard's reasons),
    then deploy them under a token client."""
    given = {"keystone_admin_password": admin_password}
    violations, summary = guard_plan(deployment, values, admin_password)
    assert not violations, f"{label}: the HA guard refused the plan:\n" + "\n".join(str(v) for v in violations)
    client = TokenClient(admin_password)
    client.start()
    since = time.time()
    start = time.monotonic()
    engine, exports = run_stack("dev", values=values, state_path=deployment.state_path, secrets_given=given)
    seconds = time.monotonic() - start
    time.sleep(3)
    client.stop.set()
    client.join()
    if client.errors:
        # What the load balancers logged for the failed requests: which server, and which
        # side closed (a failure seen once in many runs is explained by this, not retried).
        client.errors += deployment.haproxy_5xx(since - 1)
    deployment.values = dict(values)
    result = Day2Result(summary, [(s.op, s.name) for s in engine.plan if s.op != "same"], client.ok,
                        client.errors, round(seconds, 1), exports)
    replaced = [name for op, name in result.steps if op == "replace"]
    FIGURES[f"day-2 {label}"] = (f"{result.seconds} s, {result.ok} token requests, {len(result.errors)} failed; "
                                 f"replaced in order: {', '.join(replaced) or 'nothing'}")
    return result
