"""The engine's step generator and step executor, for one `up`, `preview` or `destroy`.

How the order comes about (PULUMI-ENGINE.md §3d): the SDK sends a registration only
after every dependency's registration has resolved, and `register` below returns only
when the resource's steps are done, exactly as the engine resolves a registration when
its step completes. So each registration's chain of steps runs inside `register`, on
the SDK's thread, and independent chains run at the same time.

Per registration (step_generator.go generateResourceSteps/continueStepsFromDiff):
- no old state: create;
- deleted earlier in this run as a delete-before-replace dependent: replace +
  create-replacement, without a diff (§3b "Re-registration");
- otherwise Check, then Diff (provider's, then replaceOnChanges and init errors):
  no change -> same (or update when the old state has init errors, §3d); an update ->
  update; a replace -> delete-before-replace chain or create-before-delete (§3a).

After the program: deletes of what it no longer declares and of create-before-delete
replacements, in reverse-dependency antichains, unless a step failed (§3a).
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lab.executor import diff as differ
from lab.executor import steps
from lab.executor.actions import Actions
from lab.executor.diff import DiffResult, UnsupportedByExecutor
from lab.executor.graph import DependencyGraph, schedule_deletes
from lab.progress import Progress
from lab.executor.providers import Applied, PartialFailure, Providers, refuse_unmodelled_command
from lab.executor.state import STACK_TYPE, ResourceState, Snapshot
from lab.executor.steps import Step
from lab.executor.values import plain, redact


# `pulumi up --parallel` defaults to GOMAXPROCS*4 (pkg/cmd/pulumi/operations/up.go, §3d);
# it bounds the delete antichains here. Registrations are bounded by the SDK's own thread
# pool, as under the real engine.
DEFAULT_PARALLEL = 4 * (os.cpu_count() or 1)


class DeploymentFailed(Exception):
    """A step failed; the engine cancels: no new step starts, no delete phase (§3a)."""


class Cancelled(Exception):
    """A registration that arrived after the deployment was cancelled by a failure."""


@dataclass
class Goal:
    """What one RegisterResource request asks for (resource options included)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    delete_before_replace: bool | None
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)


def _new_state(goal: Goal) -> ResourceState:
    return ResourceState(
        urn=goal.urn, type=goal.type, custom=goal.custom, inputs=dict(goal.inputs), parent=goal.parent,
        provider=goal.provider, dependencies=list(goal.dependencies),
        propertyDependencies={k: list(v) for k, v in goal.property_dependencies.items()},
        retainOnDelete=goal.retain_on_delete, replaceOnChanges=list(goal.replace_on_changes),
        ignoreChanges=list(goal.ignore_changes), additionalSecretOutputs=list(goal.additional_secret_outputs),
    )


class Engine:
    def __init__(self, snapshot: Snapshot, actions: Actions, preview: bool, progress: Progress,
                 root_urn: str, replace_targets: set[str] | None = None) -> None:
        self.snapshot = snapshot
        self.actions = actions
        actions.note = progress.line
        self.providers = Providers(actions, self.provider_state)
        self.preview = preview
        self.progress = progress
        self.root_urn = root_urn
        self.replace_targets = set(replace_targets or ())
        # The previous snapshot, as the engine's `olds` and dependency graph (§3b).
        self.graph = DependencyGraph(snapshot.base)
        self.olds: dict[str, ResourceState] = {r.urn: r for r in snapshot.base if not r.delete}
        missing = sorted(self.replace_targets - set(self.olds))
        if missing:
            raise UnsupportedByExecutor(f"--replace target(s) not in the stack's state: {', '.join(missing)}")
        self.plan: list[Step] = []
        self.registered: set[str] = set()
        # sg.deletes / sg.pendingDeletes / sg.dependentReplaceKeys
        self.deleted: set[str] = set()
        self.pending_deletes: set[int] = set()
        self.dependent_keys: dict[str, list[str]] = {}
        self.failure: BaseException | None = None
        self.diagnostics: list[dict[str, str]] = []
        self._lock = threading.RLock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    # -- bookkeeping ---------------------------------------------------------------------
    def _record(self, step: Step) -> None:
        if self.preview:
            # The preview document shows each state as it was when the step started (§4).
            step.pre_old = redact(step.old.to_json()) if step.old is not None else None
            step.pre_new = redact(step.new.to_json()) if step.new is not None else None
        with self._lock:
            self.plan.append(step)

    def _fail(self, err: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = err

    def _check_not_cancelled(self) -> None:
        if self.failure is not None:
            raise Cancelled(f"not started: the deployment was cancelled after an earlier failure ({self.failure})")

    def provider_state(self, ref: str) -> ResourceState | None:
        """The provider resource a reference `<urn>::<id>` names, new or old."""
        urn, _, pid = ref.rpartition("::")
        for res in self.snapshot.resources() + self.snapshot.base:
            if res.urn == urn and res.id == pid:
                return res
        return None

    # -- the root stack -----------------------------------------------------------------
    def register_stack(self) -> None:
        """The root `pulumi:pulumi:Stack` resource: created once, then always same."""
        new = ResourceState(urn=self.root_urn, type=STACK_TYPE, custom=False)
        with self._lock:
            self.registered.add(self.root_urn)
        old = self.olds.get(self.root_urn)
        if old is None:
            self._execute(Step(steps.CREATE, new.urn, new.type, new=new))
        else:
            new.outputs = dict(old.outputs)
            self._execute(Step(steps.SAME, new.urn, new.type, old=old, new=new))

    # -- RegisterResource --------------------------------------------------------------------
    def register(self, goal: Goal) -> tuple[str, dict[str, Any]]:
        """Generate and run this registration's steps; return (id, outputs) for the SDK."""
        with self._lock:
            self._in_flight += 1
        try:
            with self._lock:
                self._check_not_cancelled()
                if goal.urn in self.registered:
                    raise UnsupportedByExecutor(f"duplicate resource URN {goal.urn}")
                self.registered.add(goal.urn)
                old = self.olds.get(goal.urn)
                recreating = goal.urn in self.deleted
            chain = self._generate(goal, old, recreating)
            new = self._run_chain(chain)
        except BaseException as err:
            self._fail(err)
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
                self._idle.notify_all()
        return new.id, new.outputs

    def stop(self, reason: BaseException) -> None:
        """The program ended with an error: refuse what registers later and wait for the
        steps under way, as the engine cancels and then waits for its step executor."""
        self._fail(reason)
        with self._lock:
            while self._in_flight:
                self._idle.wait()

    def _generate(self, goal: Goal, old: ResourceState | None, recreating: bool) -> list[Step]:
        new = _new_state(goal)
        if not goal.custom:
            return self._component_steps(old, new)
        differ.check_supported(goal.type, plain(goal.inputs))
        refuse_unmodelled_command(goal.type, plain(goal.inputs))
        targeted = goal.urn in self.replace_targets
        inputs = goal.inputs
        if old is not None and not recreating:
            inputs = differ.process_ignore_changes(inputs, old.inputs, goal.ignore_changes)
        fresh = recreating or targeted or old is None
        new.inputs = differ.check(goal.type, goal.name, inputs, None if fresh else old.inputs)

        if recreating:
            # Case 1 of continueStepsFromImport: re-created after a dependent delete.
            assert old is not None
            with self._lock:
                self.deleted.discard(goal.urn)
            keys = self.dependent_keys.get(goal.urn, [])
            return [Step(steps.REPLACE, new.urn, new.type, old=old, new=new),
                    Step(steps.CREATE_REPLACEMENT, new.urn, new.type, old=old, new=new, keys=keys)]
        if old is None:
            return [Step(steps.CREATE, new.urn, new.type, new=new)]

        if targeted:
            result = DiffResult(changes=True, replace_keys=["id"])
        elif old.provider != new.provider:
            raise UnsupportedByExecutor(
                f"{goal.urn}: its provider reference changed from {old.provider} to {new.provider}; the offline "
                "executor does not model provider replacement")
        else:
            result = differ.provider_diff(goal.type, old.inputs, old.outputs, new.inputs, goal.ignore_changes)
        result = differ.apply_replace_on_changes(result, goal.replace_on_changes, bool(old.initErrors))

        if result.changes or old.pendingReplacement:
            if result.replace() or old.pendingReplacement:
                return self._replacement(goal, old, new, inputs, result, targeted)
            return [Step(steps.UPDATE, new.urn, new.type, old=old, new=new, diffs=result.changed_keys,
                         detailed_diff=result.detailed_diff)]
        if old.initErrors:
            return [Step(steps.UPDATE, new.urn, new.type, old=old, new=new, diffs=result.changed_keys,
                         detailed_diff=result.detailed_diff)]
        return [Step(steps.SAME, new.urn, new.type, old=old, new=new)]

    def _component_steps(self, old: ResourceState | None, new: ResourceState) -> list[Step]:
        if old is None:
            return [Step(steps.CREATE, new.urn, new.type, new=new)]
        result = differ.component_diff(old.inputs, new.inputs)
        if result.changes:
            return [Step(steps.UPDATE, new.urn, new.type, old=old, new=new)]
        return [Step(steps.SAME, new.urn, new.type, old=old, new=new)]

    def _replacement(self, goal: Goal, old: ResourceState, new: ResourceState, inputs: dict[str, Any],
                     result: DiffResult, targeted: bool) -> list[Step]:
        """§3a: delete-before-replace chain, or create-before-delete."""
        if not targeted:
            # A replacement re-runs Check without olds: defaults recomputed, a new autoname.
            new.inputs = differ.check(goal.type, goal.name, inputs, None)
        dbr = result.delete_before_replace
        if goal.delete_before_replace is not None:
            dbr = goal.delete_before_replace
        common = dict(keys=result.replace_keys, diffs=result.changed_keys, detailed_diff=result.detailed_diff)
        if not dbr:
            return [Step(steps.CREATE_REPLACEMENT, new.urn, new.type, old=old, new=new, pending_delete=True, **common),
                    Step(steps.REPLACE, new.urn, new.type, old=old, new=new, **common)]
        chain: list[Step] = []
        with self._lock:
            dependents = self._dependent_replacements(old)
            # Deletions in reverse dependency order (the list is in dependency order).
            for dependent, keys in reversed(dependents):
                if id(dependent) in self.pending_deletes:
                    continue
                self.dependent_keys[dependent.urn] = keys
                op = steps.DELETE if dependent.delete else steps.DELETE_REPLACED
                chain.append(Step(op, dependent.urn, dependent.type, old=dependent, chain_root=old.urn))
                self.deleted.add(dependent.urn)
                self.pending_deletes.add(id(dependent))
            if not old.pendingReplacement:
                self.deleted.add(old.urn)
                chain.append(Step(steps.DELETE_REPLACED, old.urn, old.type, old=old, **common))
        return chain + [Step(steps.REPLACE, new.urn, new.type, old=old, new=new, **common),
                        Step(steps.CREATE_REPLACEMENT, new.urn, new.type, old=old, new=new, **common)]

    def _dependent_replacements(self, root: ResourceState) -> list[tuple[ResourceState, list[str]]]:
        """calculateDependentReplacements (§3b): each transitive dependent, in snapshot
        order, whose provider or deletedWith is being replaced, or whose provider Diff
        says replace once its inputs that depend on the replace set are unknown."""
        replace_set = {root.urn}
        found: list[tuple[ResourceState, list[str]]] = []
        # Resources already registered in this run cannot depend on root any more.
        ignore = set(self.registered) | set(self.deleted)
        for dependent in self.graph.depending_on(root, ignore):
            if not dependent.custom:
                continue
            if dependent.provider and dependent.provider_urn() in replace_set:
                found.append((dependent, []))
                replace_set.add(dependent.urn)
                continue
            if dependent.deletedWith and dependent.deletedWith in replace_set:
                found.append((dependent, []))
                replace_set.add(dependent.urn)
                continue
            keys = {k for k in dependent.inputs if set(dependent.propertyDependencies.get(k, [])) & replace_set}
            if not keys:
                continue
            result = differ.provider_diff(dependent.type, dependent.inputs, dependent.outputs,
                                          differ.unknown_inputs_for(dependent.inputs, keys), dependent.ignoreChanges)
            result = differ.apply_replace_on_changes(result, dependent.replaceOnChanges, False)
            if result.replace():
                found.append((dependent, result.replace_keys))
                replace_set.add(dependent.urn)
        return found

    # -- the step executor ---------------------------------------------------------------------
    def _run_chain(self, chain: list[Step]) -> ResourceState:
        new: ResourceState | None = None
        for step in chain:
            # executeChain stops at a step boundary once the deployment is cancelled.
            self._check_not_cancelled()
            self._execute(step)
            if step.new is not None:
                new = step.new
        assert new is not None
        return new

    def _execute(self, step: Step) -> None:
        self._record(step)
        started = time.monotonic()
        res = step.new or step.old
        touches = step.op not in (steps.SAME, steps.REPLACE) and res is not None and res.custom
        if touches:
            self.progress.line(f"{step.op:22} {step.short_type:16} {step.name}{'' if self.preview else ' ...'}")
        try:
            self._apply(step)
        except BaseException as err:
            self._fail(err)
            first = str(err).splitlines()[0] if str(err) else repr(err)
            self.progress.line(f"{step.op:22} {step.short_type:16} {step.name} FAILED after "
                               f"{time.monotonic() - started:.1f}s: {first}")
            raise
        if touches and not self.preview:
            self.progress.line(f"{step.op:22} {step.short_type:16} {step.name} done in "
                               f"{time.monotonic() - started:.1f}s")

    def _apply(self, step: Step) -> None:
        snap = self.snapshot
        op, old, new = step.op, step.old, step.new
        if op == steps.SAME:
            assert old is not None and new is not None
            new.id, new.outputs = old.id, dict(old.outputs)
            snap.mutate(new=new, done=old)
        elif op in (steps.CREATE, steps.CREATE_REPLACEMENT):
            assert new is not None
            try:
                applied = self.providers.create(new, self.preview)
            except PartialFailure as err:
                self._store_created(step, err.applied)
                raise
            self._store_created(step, applied)
        elif op == steps.UPDATE:
            assert old is not None and new is not None
            try:
                applied = self.providers.update(old, new, DiffResult(bool(step.diffs), step.diffs), self.preview)
            except PartialFailure as err:
                # A partially failed update keeps the old inputs with the new outputs.
                new.inputs = dict(old.inputs)
                new.id, new.outputs, new.initErrors = err.applied.id, err.applied.outputs, err.applied.init_errors
                snap.mutate(new=new, done=old)
                raise
            new.id, new.outputs, new.initErrors = applied.id, applied.outputs, []
            snap.mutate(new=new, done=old)
        elif op == steps.REPLACE:
            pass  # logical only
        elif op in (steps.DELETE, steps.DELETE_REPLACED):
            assert old is not None
            if not self.preview and not old.retainOnDelete:
                self.providers.delete(old)
            if op == steps.DELETE_REPLACED and not old.delete:
                # Part of a delete-before-replace chain: the old state stays, pending
                # replacement, until its replacement is created (§3a "State during DBR").
                snap.flag(old, pendingReplacement=True)
            else:
                snap.mark_done(old)
        elif op == steps.REMOVE_PENDING_REPLACE:
            assert old is not None
            snap.mark_done(old)
        else:
            raise AssertionError(f"unknown step op {op}")

    def _store_created(self, step: Step, applied: Applied) -> None:
        snap = self.snapshot
        new, old = step.new, step.old
        assert new is not None
        new.id, new.outputs, new.initErrors = applied.id, applied.outputs, list(applied.init_errors)
        snap.mark_new(new)
        if step.op == steps.CREATE_REPLACEMENT and old is not None:
            with snap.lock:
                if step.pending_delete:
                    # Create-before-delete: the old one is deleted in the post phase (§3a).
                    snap.flag(old, delete=True)
                if old.pendingReplacement:
                    # Its delete already happened; the replacement completes it.
                    snap.mark_done(old)

    # -- after the program -------------------------------------------------------------------
    def finish(self, parallel: int = DEFAULT_PARALLEL) -> None:
        """GenerateDeletes + ScheduleDeletes: only when every step succeeded (§3a)."""
        if self.failure is not None:
            raise DeploymentFailed(f"deletes skipped: a step failed ({self.failure})")
        self._delete_phase(operated=self.registered | self.deleted, parallel=parallel)

    def destroy(self, parallel: int = DEFAULT_PARALLEL) -> None:
        """`pulumi destroy`: every resource, in reverse-dependency antichains."""
        self._delete_phase(operated=set(), parallel=parallel)

    def _delete_phase(self, operated: set[str], parallel: int) -> None:
        condemned: list[tuple[ResourceState, str]] = []
        for res in self.snapshot.base:
            if res.delete:
                if id(res) not in self.pending_deletes:
                    condemned.append((res, steps.DELETE_REPLACED))
            elif res.urn not in operated:
                condemned.append((res, steps.REMOVE_PENDING_REPLACE if res.pendingReplacement else steps.DELETE))
        ops = {id(res): op for res, op in condemned}
        for layer in schedule_deletes(self.graph, [res for res, _ in condemned]):
            layer_steps = [Step(ops[id(res)], res.urn, res.type, old=res) for res in layer]
            errors: list[BaseException] = []
            with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
                for future in [pool.submit(self._execute, s) for s in layer_steps]:
                    try:
                        future.result()
                    except BaseException as err:  # every step of the antichain finishes first
                        errors.append(err)
            if errors:
                raise DeploymentFailed(f"{len(errors)} delete(s) failed: {errors[0]}") from errors[0]

