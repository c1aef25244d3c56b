"""A step, as the engine's step executor and its JSON display know it.

`op` is one of the engine's step ops (step.go L2236-2252): same, create, update,
replace, create-replacement, delete-replaced, delete, remove-pending-replace. A
replacement is the logical `replace` plus the non-logical `create-replacement` and
`delete-replaced` (PULUMI-ENGINE.md §4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.executor.diff import PropertyDiff
from lab.executor.state import ResourceState

SAME = "same"
CREATE = "create"
UPDATE = "update"
REPLACE = "replace"
CREATE_REPLACEMENT = "create-replacement"
DELETE_REPLACED = "delete-replaced"
DELETE = "delete"
REMOVE_PENDING_REPLACE = "remove-pending-replace"
# Shown only with --show-replacement-steps (display.go: non-logical steps).
NON_LOGICAL = {CREATE_REPLACEMENT, DELETE_REPLACED, REMOVE_PENDING_REPLACE}


@dataclass
class Step:
    op: str
    urn: str
    type: str
    old: ResourceState | None = None
    new: ResourceState | None = None
    keys: list[str] = field(default_factory=list)       # replaceReasons
    diffs: list[str] = field(default_factory=list)      # diffReasons
    detailed_diff: dict[str, PropertyDiff] | None = None
    # A delete-replaced of a dependent, made before `chain_root` is replaced (§3a).
    chain_root: str = ""
    # A create-before-delete create-replacement: the old state is marked `delete` once
    # the new one exists, and deleted in the post phase (step.go L467-472).
    pending_delete: bool = False
    # The states as the display saw them at the step's ResourcePreEvent (before it ran).
    pre_old: dict[str, Any] | None = None
    pre_new: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def provider(self) -> str:
        state = self.new or self.old
        return state.provider if state is not None else ""
