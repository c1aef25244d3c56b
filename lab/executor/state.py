"""The stack's state: a list of resource states in topological order, as Pulumi keeps it.

Each entry has the fields of Pulumi's ResourceV3 that the engine reads back (urn, type,
id, inputs, outputs, parent, provider, dependencies, propertyDependencies, delete,
pendingReplacement, initErrors, retainOnDelete, replaceOnChanges, ignoreChanges, ...),
so the delete-before-replace dependents of a resource can be computed from the *old*
snapshot exactly as the engine does (PULUMI-ENGINE.md §3b).

The snapshot is merged the way Pulumi's SnapshotManager.Snap does it: the states written
during this run, in the order their steps completed, then every state of the previous
snapshot that no step has marked done. It is written after every step, mode 0600 (it
holds generated secrets in the clear).
"""
from __future__ import annotations

import copy
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.executor.values import UNKNOWN

STACK_TYPE = "pulumi:pulumi:Stack"
FORMAT = "kolla-ha-executor/2"


@dataclass
class ResourceState:
    urn: str
    type: str
    custom: bool
    id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: str = ""
    provider: str = ""
    dependencies: list[str] = field(default_factory=list)
    propertyDependencies: dict[str, list[str]] = field(default_factory=dict)  # noqa: N815 (ResourceV3 name)
    delete: bool = False
    pendingReplacement: bool = False  # noqa: N815
    initErrors: list[str] = field(default_factory=list)  # noqa: N815
    retainOnDelete: bool = False  # noqa: N815
    deletedWith: str = ""  # noqa: N815
    replaceOnChanges: list[str] = field(default_factory=list)  # noqa: N815
    ignoreChanges: list[str] = field(default_factory=list)  # noqa: N815
    additionalSecretOutputs: list[str] = field(default_factory=list)  # noqa: N815

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def provider_urn(self) -> str:
        """The provider reference is `<provider urn>::<provider id>`."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    def provider_id(self) -> str:
        return self.provider.rsplit("::", 1)[1] if self.provider else ""

    def all_dependencies(self) -> set[str]:
        """Every edge the engine counts when ordering deletes (PULUMI-ENGINE.md §3a):
        dependsOn and property dependencies, deletedWith, provider (the parent is added
        separately by the graph, as DependenciesOf does)."""
        deps = set(self.dependencies)
        for urns in self.propertyDependencies.values():
            deps.update(urns)
        if self.deletedWith:
            deps.add(self.deletedWith)
        if self.provider:
            deps.add(self.provider_urn())
        return deps

    def copy(self) -> "ResourceState":
        duplicate = copy.deepcopy(self)
        duplicate.__dict__.pop("_text", None)
        return duplicate

    def to_json(self) -> dict[str, Any]:
        """ResourceV3 with its omitempty fields left out when empty."""
        doc: dict[str, Any] = {"urn": self.urn, "custom": self.custom}
        if self.delete:
            doc["delete"] = True
        if self.id:
            doc["id"] = self.id
        doc["type"] = self.type
        if self.inputs:
            doc["inputs"] = self.inputs
        if self.outputs:
            doc["outputs"] = self.outputs
        for key in ("parent", "provider", "deletedWith"):
            if getattr(self, key):
                doc[key] = getattr(self, key)
        for key in ("dependencies", "initErrors", "replaceOnChanges", "ignoreChanges", "additionalSecretOutputs"):
            if getattr(self, key):
                doc[key] = list(getattr(self, key))
        if self.propertyDependencies:
            doc["propertyDependencies"] = {k: list(v) for k, v in self.propertyDependencies.items()}
        if self.pendingReplacement:
            doc["pendingReplacement"] = True
        if self.retainOnDelete:
            doc["retainOnDelete"] = True
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "ResourceState":
        known = {f for f in cls.__dataclass_fields__}  # pylint: disable=no-member
        return cls(**{k: v for k, v in doc.items() if k in known})


class StateFormatError(Exception):
    pass


class Snapshot:
    """The previous snapshot (`base`) and the states written by this run (`news`)."""

    def __init__(self, path: Path | None, resources: list[ResourceState]) -> None:
        self.path = path
        self.base: list[ResourceState] = resources
        self.news: list[ResourceState] = []
        self._done: set[int] = set()
        self.lock = threading.RLock()

    @classmethod
    def load(cls, path: Path) -> "Snapshot":
        if not path.exists():
            return cls(path, [])
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StateFormatError(
                f"{path} was written by the earlier offline executor, which kept no dependency graph; "
                "the engine's delete-before-replace rules cannot be applied to it. Tear that deployment "
                "down (`python3 -m lab down` for the lab) and move the file away, then deploy again."
            )
        return cls(path, [ResourceState.from_json(r) for r in doc["resources"]])

    # -- SnapshotManager's two mutations ----------------------------------------------
    def mutate(self, new: ResourceState | None = None, done: ResourceState | None = None) -> None:
        """One step's mutation, then one checkpoint: `new` appended, `done` dropped."""
        if new is not None and self.path is not None and _holds_unknown(new):
            raise AssertionError(f"an unknown value reached the state of {new.urn}")
        with self.lock:
            if done is not None:
                self._done.add(id(done))
            if new is not None:
                self.news.append(new)
            self.save()

    def mark_new(self, state: ResourceState) -> None:
        self.mutate(new=state)

    def mark_done(self, state: ResourceState) -> None:
        self.mutate(done=state)

    def flag(self, state: ResourceState, **fields: Any) -> None:
        """Change fields of a state already in the snapshot (`delete`, `pendingReplacement`)."""
        with self.lock:
            for key, value in fields.items():
                setattr(state, key, value)
            state.__dict__.pop("_text", None)
            self.save()

    def is_done(self, state: ResourceState) -> bool:
        return id(state) in self._done

    def resources(self) -> list[ResourceState]:
        """Snap(): this run's states, then the previous ones not marked done."""
        with self.lock:
            live = [r for r in self.news if id(r) not in self._done]
            return live + [r for r in self.base if id(r) not in self._done]

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            # A state does not change once written (flag() forgets its text), so each is
            # serialised once: a checkpoint per step stays cheap with large uploads.
            texts = []
            for res in self.resources():
                text = res.__dict__.get("_text")
                if text is None:
                    text = json.dumps(res.to_json(), default=str, separators=(",", ":"))
                    res.__dict__["_text"] = text
                texts.append(text)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f'{{"format":{json.dumps(FORMAT)},"resources":[{",".join(texts)}]}}')
            os.replace(tmp, self.path)

    def replace_all(self, resources: list[ResourceState]) -> None:
        """Make `resources` the whole snapshot (refresh, state surgery)."""
        with self.lock:
            self.base = resources
            self.news = []
            self._done = set()
            self.save()


def _holds_unknown(res: ResourceState) -> bool:
    return UNKNOWN in json.dumps([res.inputs, res.outputs, res.id], default=str)


def without(resources: list[ResourceState], removed: set[int]) -> list[ResourceState]:
    """The list without the states in `removed` (by identity), with every reference to a
    URN no longer present dropped and a resource whose parent went re-parented to its
    nearest surviving ancestor, as FilterRefreshDeletes / rebuildBaseState do after a
    refresh finds resources gone. The order (topological) is kept."""
    resolved_parent: dict[str, str] = {}
    present: set[str] = set()
    out: list[ResourceState] = []
    for res in resources:
        parent = res.parent
        if parent and parent not in present:
            parent = resolved_parent.get(parent, "")
        resolved_parent[res.urn] = parent
        if id(res) in removed:
            continue
        fixed = res.copy()
        fixed.parent = parent
        fixed.dependencies = [u for u in res.dependencies if u in present]
        fixed.propertyDependencies = {k: [u for u in v if u in present] for k, v in res.propertyDependencies.items()}
        if fixed.deletedWith not in present:
            fixed.deletedWith = ""
        present.add(res.urn)
        out.append(fixed)
    return out
