"""The resource monitor the SDK talks to: each RegisterResource request becomes a Goal.

The request carries everything the engine uses (dependencies, propertyDependencies,
deleteBeforeReplace/Defined, replaceOnChanges, ignoreChanges, retainOnDelete,
additionalSecretOutputs, ...). Options whose effect the executor does not model are
refused by name rather than ignored.
"""
from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from lab.executor.diff import UnsupportedByExecutor
from lab.executor.engine import Engine, Goal
from lab.executor.state import STACK_TYPE
from lab.executor.values import decode


def qualified_type(urn: str) -> str:
    return urn.split("::")[2]


class EngineMonitor(MockMonitor):
    """Serves RegisterResource from the engine instead of from mocks."""

    def __init__(self, mocks: Mocks, engine: Engine, stack: str, project: str) -> None:
        super().__init__(mocks)
        self.engine = engine
        self.stack = stack
        self.project = project

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """Deployment.generateURN: the parent's full qualified type, except the root stack's."""
        prefix = ""
        if parent and qualified_type(parent) != STACK_TYPE:
            prefix = qualified_type(parent) + "$"
        return f"urn:pulumi:{self.stack}::{self.project}::{prefix}{type_}::{name}"

    def _parent(self, parent: str) -> str:
        # The SDK's root Stack object outlives a run (and its stack name); every resource
        # parented to it belongs to this run's root stack.
        if parent and qualified_type(parent) == STACK_TYPE:
            return self.engine.root_urn
        return parent

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=self.engine.root_urn)
        _ensure_event_loop()
        parent = self._parent(request.parent)
        urn = self.make_urn(parent, request.type, request.name)
        refuse_unmodelled_options(urn, request)
        goal = Goal(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=parent,
            provider=request.provider,
            inputs={k: v for k, v in decode(request.object).items() if v is not None},
            dependencies=[self._parent(u) for u in request.dependencies],
            property_dependencies={k: [self._parent(u) for u in v.urns]
                                   for k, v in request.propertyDependencies.items()},
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            replace_on_changes=list(request.replaceOnChanges),
            ignore_changes=list(request.ignoreChanges),
            retain_on_delete=bool(request.retainOnDelete),
            additional_secret_outputs=list(request.additionalSecretOutputs),
        )
        id_, state = self.engine.register(goal)
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        raise UnsupportedByExecutor(f"the offline executor does not read existing resources ({request.type} "
                                    f"{request.name}: `.get()` or a read)")

    def RegisterStackTransform(self, request: Any) -> Any:  # noqa: N802
        raise UnsupportedByExecutor("the offline executor does not run stack transforms (register_resource_transform)")

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


def refuse_unmodelled_options(urn: str, request: Any) -> None:
    """Resource options with engine semantics the executor does not implement."""
    refused: list[str] = []
    if request.protect:
        refused.append("protect")
    if list(request.aliases) or list(request.aliasURNs):
        refused.append("aliases")
    if request.importId:
        refused.append("import")
    if request.HasField("customTimeouts") and any(
            (request.customTimeouts.create, request.customTimeouts.update, request.customTimeouts.delete)):
        refused.append("custom_timeouts")
    if request.deletedWith:
        refused.append("deleted_with")
    if list(request.replace_with):
        refused.append("replace_with")
    if request.HasField("replacement_trigger"):
        refused.append("replacement_trigger")
    if list(request.transforms):
        refused.append("transforms")
    if list(request.hideDiffs):
        refused.append("hide_diffs")
    if list(request.envVarMappings):
        refused.append("env_var_mappings")
    if list(request.state_migrations):
        refused.append("state_migrations")
    if request.remote:
        refused.append("a remote (multi-language) component")
    if request.HasField("hooks") and any(len(getattr(request.hooks, f.name)) for f in request.hooks.DESCRIPTOR.fields):
        refused.append("hooks")
    if refused:
        raise UnsupportedByExecutor(f"{urn}: the offline executor does not model the option(s) {', '.join(refused)}")
