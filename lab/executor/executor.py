"""The offline executor: the unchanged program, its resources performed for real.

The Pulumi CLI and its provider plugins cannot be installed on these machines, so this
plays the engine's part: it is a `pulumi.runtime.Mocks` whose `new_resource` creates,
keeps, replaces or updates the real thing, with state kept between runs.

- Registrations reach `new_resource` in the order the program's dependencies allow
  (the SDK waits for every depends_on URN before registering), so a replacement chain
  is performed one node at a time, exactly the order `pulumi up` would use.
- Unchanged inputs: the resource is left untouched and its recorded outputs returned.
- Changed inputs: containers (fixed names, delete_before_replace in the program) are
  removed, then created; as in Pulumi, the commands whose `triggers` hold the old
  container's id are replaced too and deleted before it. Commands run `update` (or are
  re-created when `triggers` change); other types are created anew and the old one
  deleted at the end.
- Resources in the state that the program no longer declares are deleted at the end,
  newest (dependents) first.
- Preview: the same walk, nothing touched, the plan printed.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from lab.executor.actions import Actions, UnsupportedByExecutor, check_supported
from lab.executor.daemons import DaemonPool
from offline.program import _fake_outputs, unwrap

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
REMOTE = "command:remote:Command"
LOCAL = "command:local:Command"


@dataclass
class Step:
    op: str  # create | replace | update | same | delete
    type: str
    name: str
    urn: str


@dataclass
class Record:
    type: str
    name: str
    provider: str | None
    digest: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    order: int
    deps: list[str] = field(default_factory=list)


def _digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


class StateFile:
    """JSON state; holds generated secrets, so it is created mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, Record] = {}
        if path.exists():
            for urn, rec in json.loads(path.read_text()).items():
                self.records[urn] = Record(**rec)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({u: r.__dict__ for u, r in self.records.items()}, fh, indent=1, default=str)
        os.replace(tmp, self.path)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Passes each registration's URN and dependencies to the executor."""

    def __init__(self, executor: "Executor") -> None:
        super().__init__(executor)
        self.executor = executor

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        self.executor.local.urn = self.make_urn(request.parent, request.type, request.name)
        self.executor.local.deps = list(request.dependencies)
        return super().RegisterResource(request)


class Executor(pulumi.runtime.Mocks):
    def __init__(self, state_path: Path, preview: bool = False, log: Any = print,
                 actions: Actions | None = None) -> None:
        self.state = StateFile(state_path)
        self.previous = dict(self.state.records)
        self.preview = preview
        self.log = log
        self.pool = DaemonPool()
        self.actions = actions if actions is not None else Actions(self.pool)
        self.plan: list[Step] = []
        self.seen: set[str] = set()
        self.local = threading.local()
        self._lock = threading.Lock()
        self._order = max((r.order for r in self.state.records.values()), default=0)
        self._deferred_deletes: list[Record] = []
        # Dependents already deleted ahead of a delete-before-replace (see _perform).
        self._deleted_early: set[str] = set()

    # -- the Mocks interface ------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise UnsupportedByExecutor(f"the offline executor does not implement the function {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        urn: str = self.local.urn
        # Secret inputs arrive in their wire wrapper; the daemons need the plain values.
        inputs = unwrap(dict(args.inputs))
        if not args.custom and args.typ.startswith("kolla-ha:"):
            return "", {}
        check_supported(args.typ, inputs)
        digest = _digest(inputs)
        with self._lock:
            self.seen.add(urn)
            old = self.previous.get(urn)
        if old is not None and old.digest == digest and old.type == args.typ:
            self._step("same", args, urn)
            if args.typ == "pulumi:providers:docker" and not self.preview:
                self.actions.create_provider(self._provider_id(args.name), inputs)
            return self._id(args, old.outputs), old.outputs
        op = "create" if old is None else ("update" if self._updates_in_place(old, inputs) else "replace")
        self._step(op, args, urn)
        if self.preview:
            outputs = _fake_outputs(args.typ, args.name, inputs)
            return self._id(args, outputs), outputs
        deps = list(getattr(self.local, "deps", []))
        with self._lock:
            self._order += 1
            order = self._order
            # Recorded before it is attempted, with an empty digest: if the create fails
            # or the run is cut off, the next run replaces it and destroy still finds it.
            self.state.records[urn] = Record(args.typ, args.name, args.provider, "", inputs, dict(inputs), order, deps)
            self.state.save()
        outputs = self._perform(op, args, inputs, old)
        with self._lock:
            self.state.records[urn] = Record(args.typ, args.name, args.provider, digest, inputs, outputs, order, deps)
            self.state.save()
        return self._id(args, outputs), outputs

    # -- after the program ------------------------------------------------------------
    def finish(self) -> None:
        """Delete what the program no longer declares (newest first), then replaced leftovers."""
        stale = sorted(
            (r for u, r in self.previous.items() if u not in self.seen), key=lambda r: r.order, reverse=True
        )
        for urn, rec in [(u, r) for u, r in self.previous.items() if u not in self.seen]:
            self.plan.append(Step("delete", rec.type, rec.name, urn))
        if self.preview:
            return
        for rec in stale + self._deferred_deletes:
            self._delete(rec)
        with self._lock:
            for urn in [u for u in self.state.records if u not in self.seen]:
                del self.state.records[urn]
            self.state.save()
        self.pool.close()

    def destroy(self) -> None:
        """Delete everything in the state, newest first."""
        for urn, rec in sorted(self.state.records.items(), key=lambda kv: kv[1].order, reverse=True):
            self.plan.append(Step("delete", rec.type, rec.name, urn))
            if not self.preview:
                self._delete(rec)
                del self.state.records[urn]
                self.state.save()
        self.pool.close()

    # -- internals --------------------------------------------------------------------
    def _step(self, op: str, args: pulumi.runtime.MockResourceArgs, urn: str) -> None:
        with self._lock:
            self.plan.append(Step(op, args.typ, args.name, urn))
        if op != "same":
            self.log(f"{'(preview) ' if self.preview else ''}{op:8} {args.typ.split(':')[-1]:16} {args.name}")

    @staticmethod
    def _provider_id(name: str) -> str:
        return f"{name}-provider"

    def _id(self, args: pulumi.runtime.MockResourceArgs, outputs: dict[str, Any]) -> str:
        if args.typ.startswith("pulumi:providers:"):
            return self._provider_id(args.name)
        return str(outputs.get("containerId") or outputs.get("imageId") or outputs.get("name") or f"{args.name}-id")

    @staticmethod
    def _updates_in_place(old: Record, inputs: dict[str, Any]) -> bool:
        if old.type not in (REMOTE, LOCAL):
            return old.type.startswith("pulumi:providers:")
        return bool(inputs.get("update")) and old.inputs.get("triggers") == inputs.get("triggers")

    def _perform(self, op: str, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                 old: Record | None) -> dict[str, Any]:
        typ = args.typ
        if typ == "pulumi:providers:docker":
            return self.actions.create_provider(self._provider_id(args.name), inputs)
        if typ.startswith("pulumi:providers:"):
            return dict(inputs)
        if typ in (REMOTE, LOCAL):
            urn = self.local.urn
            if op == "replace" and old is not None and old.inputs.get("delete") and urn not in self._deleted_early:
                self._run_command(old.type, old.inputs, old.inputs["delete"])
            script = inputs.get("update") if op == "update" else inputs.get("create")
            result = self._run_command(typ, inputs, script) if script else {"stdout": "", "stderr": ""}
            return {**inputs, **result}
        if typ == "random:index/randomPassword:RandomPassword":
            return self.actions.random_password(inputs)
        if typ == "random:index/randomBytes:RandomBytes":
            return self.actions.random_bytes(inputs)
        client = self.actions.provider(args.provider)
        if typ == CONTAINER:
            if old is not None:
                self._delete_dependents_first(old)
                self.actions.delete_container(client, old.outputs)
            return self.actions.create_container(client, inputs)
        if old is not None:
            self._deferred_deletes.append(old)
        if typ == IMAGE:
            return self.actions.create_image(client, inputs)
        if typ == VOLUME:
            return self.actions.create_volume(client, inputs)
        raise AssertionError(f"unhandled type {typ}")

    def _delete_dependents_first(self, old: Record) -> None:
        """What Pulumi does before a delete-before-replace: resources whose inputs hold
        the old container's id are replaced too (their triggers change), and deleted
        before it. Only commands carry such triggers in this program."""
        old_id = old.outputs.get("containerId")
        for urn, rec in sorted(self.previous.items(), key=lambda kv: kv[1].order, reverse=True):
            if rec.type in (REMOTE, LOCAL) and old_id and old_id in (rec.inputs.get("triggers") or []):
                with self._lock:
                    if urn in self._deleted_early:
                        continue
                    self._deleted_early.add(urn)
                self.log(f"delete   {rec.type.split(':')[-1]:16} {rec.name} (before replacing {old.name})")
                if rec.inputs.get("delete"):
                    self._run_command(rec.type, rec.inputs, rec.inputs["delete"])

    def _run_command(self, typ: str, inputs: dict[str, Any], script: str) -> dict[str, str]:
        if typ == REMOTE:
            return self.actions.run_remote(inputs["connection"], script, inputs.get("environment"), inputs.get("stdin"))
        return self.actions.run_local(script, inputs.get("environment"), inputs.get("stdin"))

    def _delete(self, rec: Record) -> None:
        self.log(f"delete   {rec.type.split(':')[-1]:16} {rec.name}")
        if rec.type in (REMOTE, LOCAL):
            if rec.inputs.get("delete"):
                self._run_command(rec.type, rec.inputs, rec.inputs["delete"])
            return
        if rec.type not in (CONTAINER, IMAGE, VOLUME):
            return
        provider_id = (rec.provider or "").rsplit("::", 1)[-1]
        if provider_id not in self.actions.providers:
            provider = next(
                (r for r in self.previous.values() if self._provider_id(r.name) == provider_id), None
            )
            if provider is None:
                raise RuntimeError(f"cannot delete {rec.name}: its provider {provider_id} is not in the state")
            self.actions.create_provider(provider_id, provider.inputs)
        client = self.actions.providers[provider_id]
        {CONTAINER: self.actions.delete_container, IMAGE: self.actions.delete_image,
         VOLUME: self.actions.delete_volume}[rec.type](client, rec.outputs)
