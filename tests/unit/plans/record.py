"""Record `pulumi preview --json --show-replacement-steps` documents of the program as it
stands, made by the offline executor against in-memory daemons, for the plan guard's
tests (tests/unit/test_plan_guard.py).

    python3 -m tests.unit.plans.record scale-out > tests/unit/plans/scale-out.<label>.json

A scenario first deploys the dev stack (Pulumi.dev.yaml) into fake daemons, so that a
state exists, then previews the change:

- scale-out: a fourth host ctl4 (10.199.0.14) in the control and memcached groups, as
  tests/e2e's scale-out does;
- memcached-memory: memcached.memory_mb changed (every memcached replaced);
- lab-recreated: the hosts re-created empty and the state refreshed (issue 7), then the
  same program previewed.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from lab.executor.preview_json import blinded_config, preview_digest
from lab.executor.refresh import refresh
from lab.executor.run import PROJECT, read_stack_file, run_stack
from tests.unit.executor_fakes import FakeWorld

SECRETS = {"keystone_admin_password": "recorded-plan"}


def dev_values(key_file: Path) -> dict[str, Any]:
    values = read_stack_file("dev")
    for host in values["hosts"]:
        host["ssh"] = {**host.get("ssh", {}), "key_file": str(key_file)}
    return values


def scale_out(values: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    changed["hosts"].append({"name": "ctl4", "address": "10.199.0.14", "interface": "eth0",
                             "ssh": dict(changed["hosts"][0]["ssh"])})
    for group in ("control", "memcached"):
        changed["groups"][group] = changed["groups"][group] + ["ctl4"]
    return changed


def memcached_memory(values: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(values)
    changed["memcached"] = {**changed.get("memcached", {}), "memory_mb": 128}
    return changed


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "scale-out": scale_out,
    "memcached-memory": memcached_memory,
    "lab-recreated": lambda values: values,
}


def record(scenario: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "id_ed25519"
        key.write_text("a placeholder: a preview reads the key file but never connects\n")
        values = dev_values(key)
        state = Path(tmp) / "state.json"
        world = FakeWorld()
        quiet = lambda _line: None  # noqa: E731
        run_stack("dev", values=values, state_path=state, log=quiet, actions=world, secrets_given=SECRETS)
        if scenario == "lab-recreated":
            world = FakeWorld()
            refresh(state, actions=world, log=quiet)
        changed = SCENARIOS[scenario](values)
        engine, _ = run_stack("dev", preview=True, values=changed, state_path=state, log=quiet, actions=world,
                              secrets_given=SECRETS)
    config = blinded_config({**changed, **SECRETS}, set(SECRETS), PROJECT)
    return preview_digest(engine.plan, config, 0, engine.diagnostics, show_replacement_steps=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.unit.plans.record", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    json.dump(record(args.scenario), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
