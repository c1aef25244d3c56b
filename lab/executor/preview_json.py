"""The document `pulumi preview --json` prints (PULUMI-ENGINE.md §4).

Built like backend/display/json.go ShowPreviewDigest: one PreviewStep per
ResourcePreEvent that `shouldShow` lets through (same steps only with --show-sames,
non-logical replacement steps only with --show-replacement-steps, the root stack
always), each with the old and new states as they were when the step started, secrets
as "[secret]" and unknowns as the engine's placeholder; then the duration in
nanoseconds and the count of logical steps per op.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Mapping

from lab.executor import steps
from lab.executor.state import STACK_TYPE
from lab.executor.steps import Step


def should_show(step: Step, show_sames: bool, show_replacement_steps: bool) -> bool:
    if step.type == STACK_TYPE:
        return True
    if step.op == steps.SAME:
        return show_sames
    if step.op in steps.NON_LOGICAL:
        return show_replacement_steps
    return True


def preview_step(step: Step) -> dict[str, Any]:
    doc: dict[str, Any] = {"op": step.op, "urn": step.urn}
    if step.provider:
        doc["provider"] = step.provider
    if step.pre_old is not None:
        doc["oldState"] = step.pre_old
    if step.pre_new is not None:
        doc["newState"] = step.pre_new
    if step.diffs:
        doc["diffReasons"] = list(step.diffs)
    if step.keys:
        doc["replaceReasons"] = list(step.keys)
    doc["detailedDiff"] = (
        {path: {"kind": d.kind, "inputDiff": d.input_diff} for path, d in step.detailed_diff.items()}
        if step.detailed_diff is not None else None
    )
    return doc


def preview_digest(plan: list[Step], config: Mapping[str, str], duration_ns: int,
                   diagnostics: list[dict[str, Any]] | None = None, show_sames: bool = False,
                   show_replacement_steps: bool = False) -> dict[str, Any]:
    summary = Counter(s.op for s in plan if s.op not in steps.NON_LOGICAL)
    doc: dict[str, Any] = {}
    if config:
        doc["config"] = dict(config)
    shown = [preview_step(s) for s in plan if should_show(s, show_sames, show_replacement_steps)]
    if shown:
        doc["steps"] = shown
    if diagnostics:
        doc["diagnostics"] = diagnostics
    if duration_ns:
        doc["duration"] = duration_ns
    if summary:
        doc["changeSummary"] = dict(sorted(summary.items()))
    return doc


def blinded_config(values: Mapping[str, Any], secret_keys: set[str], project: str) -> dict[str, str]:
    """The stack config as the prelude event carries it: values as strings, secrets blinded."""
    out: dict[str, str] = {}
    for key, value in sorted(values.items()):
        if key in secret_keys:
            out[f"{project}:{key}"] = "[secret]"
        else:
            out[f"{project}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out
