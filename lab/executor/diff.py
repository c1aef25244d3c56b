"""Check and Diff, per provider, as the engine calls them.

- Bridged resources (docker, random): Check fills in schema defaults and autonames;
  Diff compares the old *state* with the new inputs key by key, a change to a ForceNew
  argument replaces, any other change updates in place, an Optional+Computed argument
  left unset is no change, a TypeSet argument is compared without order, an unknown is
  a change (PULUMI-ENGINE.md §1, §3b "RequiresNew = Old!=New || NewComputed").
- pulumi-command: old inputs against new inputs; only a whole-key change of `triggers`
  is a provider replace, the SDK-injected `replaceOnChanges: ["triggers[*]"]` turns an
  element change into one too; never delete-before-replace (§2).
- Components: no provider; any input change is an update (step_generator.go diff).
- Then the engine's own rules: ignoreChanges (§3d), replaceOnChanges and init errors
  (applyReplaceOnChanges, §3f).
"""
from __future__ import annotations

import copy
import json
import secrets as pysecrets
from dataclasses import dataclass, field
from typing import Any

from lab.executor import schemas
from lab.executor.values import UNKNOWN, format_path, parse_path, path_contains, plain, reset_path, walk_paths

INIT_ERROR_KEY = "#initerror"


class UnsupportedByExecutor(Exception):
    """Something the program asks for that the executor cannot perform as Pulumi would."""


@dataclass
class PropertyDiff:
    kind: str  # add, add-replace, delete, delete-replace, update, update-replace
    input_diff: bool

    def to_replace(self) -> "PropertyDiff":
        return self if self.kind.endswith("-replace") else PropertyDiff(self.kind + "-replace", self.input_diff)


@dataclass
class DiffResult:
    changes: bool
    changed_keys: list[str] = field(default_factory=list)
    replace_keys: list[str] = field(default_factory=list)
    detailed_diff: dict[str, PropertyDiff] | None = None
    delete_before_replace: bool = False

    def replace(self) -> bool:
        """plugin.DiffResult.Replace(): a replace kind in the detailed diff, or replace keys."""
        if self.detailed_diff and any(d.kind.endswith("-replace") for d in self.detailed_diff.values()):
            return True
        return bool(self.replace_keys)


def check_supported(typ: str, inputs: dict[str, Any]) -> None:
    """Refuse any argument the executor does not implement, by name."""
    if typ not in schemas.SUPPORTED:
        raise UnsupportedByExecutor(f"the offline executor does not implement resource type {typ}")
    unknown = sorted(k for k, v in inputs.items() if v is not None and k not in schemas.SUPPORTED[typ]
                     and not k.startswith("__"))
    if unknown:
        raise UnsupportedByExecutor(f"the offline executor does not implement {typ} argument(s) {', '.join(unknown)}")
    connection = plain(inputs.get("connection"))
    if isinstance(connection, dict):
        extra = sorted(k for k, v in connection.items() if v is not None and k not in schemas.SUPPORTED_CONNECTION)
        if extra:
            raise UnsupportedByExecutor(
                f"the offline executor does not implement {typ} connection field(s) {', '.join(extra)}")


# -- Check -----------------------------------------------------------------------------

def check(typ: str, name: str, news: dict[str, Any], olds: dict[str, Any] | None) -> dict[str, Any]:
    """The inputs the provider's Check returns: defaults applied (listed in `__defaults`
    for bridged resources), a missing autonamed `name` generated, or kept from `olds`
    when the old one was generated (a replacement calls Check without olds, §1)."""
    inputs = {k: copy.deepcopy(v) for k, v in news.items() if v is not None}
    schema = schemas.BRIDGED.get(typ)
    if schema is not None:
        filled: list[str] = []
        for key, default in schema.defaults.items():
            if key not in inputs:
                inputs[key] = default
                filled.append(key)
        if schema.autonamed and "name" not in inputs:
            if olds is not None and "name" in (olds.get("__defaults") or []) and "name" in olds:
                inputs["name"] = olds["name"]
            else:
                inputs["name"] = f"{name}-{pysecrets.token_hex(4)[:7]}"
            filled.append("name")
        inputs["__defaults"] = sorted(filled)
    if typ == schemas.REMOTE_COMMAND and isinstance(inputs.get("connection"), dict):
        inputs["connection"] = _with_connection_defaults(inputs["connection"])
    return inputs


def _with_connection_defaults(connection: dict[str, Any]) -> dict[str, Any]:
    from lab.executor.values import is_secret, secret  # the connection is a secret input

    if is_secret(connection):
        return secret(_with_connection_defaults(connection["value"]))
    return {**schemas.CONNECTION_DEFAULTS, **{k: v for k, v in connection.items() if v is not None}}


def provider_wants_delete_before_replace(typ: str, inputs: dict[str, Any]) -> bool:
    """The bridge's DeleteBeforeReplace for a replacement: the schema's flag (containers),
    or an explicit name on an autonamed type (nameRequiresDeleteBeforeReplace, §1)."""
    schema = schemas.BRIDGED.get(typ)
    if schema is None:
        return False
    if schema.schema_delete_before_replace:
        return True
    return schema.autonamed and "name" in inputs and "name" not in (inputs.get("__defaults") or [])


# -- Diff ------------------------------------------------------------------------------

def _canonical(value: Any, as_set: bool) -> Any:
    value = plain(value)
    if as_set and isinstance(value, list):
        return sorted(json.dumps(v, sort_keys=True) for v in value)
    return value


def _differs(old: Any, new: Any, as_set: bool) -> bool:
    if new == UNKNOWN or (isinstance(new, (list, dict)) and UNKNOWN in json.dumps(plain(new))):
        return True
    return _canonical(old, as_set) != _canonical(new, as_set)


def provider_diff(typ: str, old_inputs: dict[str, Any], old_outputs: dict[str, Any],
                  new_inputs: dict[str, Any], ignore_changes: list[str]) -> DiffResult:
    if typ in schemas.BRIDGED:
        return _bridged_diff(typ, old_inputs, old_outputs, new_inputs, ignore_changes)
    if typ in schemas.COMMANDS:
        return _command_diff(old_inputs, new_inputs)
    if typ in schemas.PROVIDERS:
        changed = sorted(k for k in set(old_inputs) | set(new_inputs)
                         if _differs(old_inputs.get(k), new_inputs.get(k), False))
        if changed:
            # A provider's DiffConfig decides whether every resource it manages is
            # replaced (step_generator.go providerChanged); that is not modelled.
            raise UnsupportedByExecutor(
                f"the configuration of provider {typ} changed ({', '.join(changed)}); the offline executor "
                "does not model provider updates or replacements")
        return DiffResult(changes=False)
    raise UnsupportedByExecutor(f"the offline executor has no Diff for {typ}")


def component_diff(old_inputs: dict[str, Any], new_inputs: dict[str, Any]) -> DiffResult:
    same = plain(old_inputs) == plain(new_inputs)
    return DiffResult(changes=not same)


def _ignored(key_path: list[str | int], ignore_changes: list[str]) -> bool:
    return any(path_contains(parse_path(p), key_path) for p in ignore_changes)


def _bridged_diff(typ: str, old_inputs: dict[str, Any], old_outputs: dict[str, Any],
                  new_inputs: dict[str, Any], ignore_changes: list[str]) -> DiffResult:
    schema = schemas.BRIDGED[typ]
    changed: list[str] = []
    replace: list[str] = []
    detailed: dict[str, PropertyDiff] = {}
    keys = sorted(k for k in set(new_inputs) | set(old_inputs) if not k.startswith("__"))
    for key in keys:
        if _ignored([key], ignore_changes):
            continue
        new = new_inputs.get(key)
        # The bridge diffs the prior *state* against the new config.
        old = old_outputs[key] if key in old_outputs else old_inputs.get(key)
        if new is None and key in schema.optional_computed:
            continue
        if not _differs(old, new, key in schema.sets):
            continue
        changed.append(key)
        forces = key in schema.force_new
        if forces:
            replace.append(key)
        # A set compared without order can differ while no index does: then the key itself.
        paths = list(walk_paths(plain(old), plain(new), [key])) or [([key], "update")]
        for path, kind in paths:
            detailed[format_path(path)] = PropertyDiff(kind + ("-replace" if forces else ""), False)
    return DiffResult(
        changes=bool(changed), changed_keys=changed, replace_keys=replace, detailed_diff=detailed,
        delete_before_replace=bool(replace) and provider_wants_delete_before_replace(typ, new_inputs),
    )


def _command_diff(old_inputs: dict[str, Any], new_inputs: dict[str, Any]) -> DiffResult:
    changed: list[str] = []
    replace: list[str] = []
    detailed: dict[str, PropertyDiff] = {}
    keys = sorted(k for k in set(new_inputs) | set(old_inputs) if not k.startswith("__"))
    for key in keys:
        old, new = old_inputs.get(key), new_inputs.get(key)
        if not _differs(old, new, False):
            continue
        changed.append(key)
        paths = list(walk_paths(plain(old), plain(new), [key])) or [([key], "update")]
        for path, kind in paths:
            # Schema replaceOnChanges is on the whole `triggers` key only (§2).
            whole_trigger = key == "triggers" and path == ["triggers"]
            detailed[format_path(path)] = PropertyDiff(kind + ("-replace" if whole_trigger else ""), True)
            if whole_trigger and "triggers" not in replace:
                replace.append("triggers")
    return DiffResult(changes=bool(changed), changed_keys=changed, replace_keys=replace,
                      detailed_diff=detailed, delete_before_replace=False)


def apply_replace_on_changes(diff: DiffResult, replace_on_changes: list[str], has_init_errors: bool) -> DiffResult:
    """applyReplaceOnChanges (step_generator.go): detailed-diff paths and changed keys
    under a replaceOnChanges path become replacements; so do init errors if "*" or
    "#initerror" is listed."""
    if not diff.changes and not has_init_errors:
        return diff
    paths = [parse_path(p) for p in replace_on_changes]
    detailed = None
    if diff.detailed_diff is not None:
        detailed = {}
        for key, prop in diff.detailed_diff.items():
            inner = parse_path(key)
            detailed[key] = prop.to_replace() if any(path_contains(p, inner) for p in paths) else prop
    replace_keys = list(diff.replace_keys)
    for key in diff.changed_keys:
        if key not in replace_keys and any(path_contains(p, parse_path(key)) for p in paths):
            replace_keys.append(key)
    changes = diff.changes
    if has_init_errors and any(path_contains(p, [INIT_ERROR_KEY]) for p in paths):
        replace_keys.append(INIT_ERROR_KEY)
        if detailed is not None:
            detailed[INIT_ERROR_KEY] = PropertyDiff("update-replace", False)
        changes = True
    return DiffResult(changes=changes, changed_keys=diff.changed_keys, replace_keys=replace_keys,
                      detailed_diff=detailed, delete_before_replace=diff.delete_before_replace)


def process_ignore_changes(new_inputs: dict[str, Any], old_inputs: dict[str, Any],
                           ignore_changes: list[str]) -> dict[str, Any]:
    """processIgnoreChanges: the old value at each ignored path is copied over the new."""
    result = copy.deepcopy(new_inputs)
    for path in ignore_changes:
        reset_path(parse_path(path), old_inputs, result)
    return result


def unknown_inputs_for(state_inputs: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """calculateDependentReplacements: the inputs with every property that depends on a
    resource in the replace set made unknown, the rest left at the OLD values (§3b)."""
    return {k: (UNKNOWN if k in keys else v) for k, v in state_inputs.items()}
