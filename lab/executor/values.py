"""Property values as the engine sees them: plain JSON plus two markers.

- A secret is kept in its wire form, ``{SECRET_SIG_KEY: SECRET_SIG, "value": v}``: it is
  how inputs reach the mock monitor, how the SDK recognises a secret output, and it
  survives a JSON state file. PULUMI-ENGINE.md §4: secrets show as ``"[secret]"`` in
  the preview document.
- An unknown (preview only) is the engine's placeholder string ``UNKNOWN``, as it
  arrives in a request. PULUMI-ENGINE.md §4: unknowns serialise as that string.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Iterator

from google.protobuf import struct_pb2
from pulumi.runtime import rpc

from offline.program import is_secret_input, unwrap

UNKNOWN: str = rpc.UNKNOWN
SECRET_SIG_KEY: str = rpc._special_sig_key  # pylint: disable=protected-access
SECRET_SIG: str = rpc._special_secret_sig  # pylint: disable=protected-access
REDACTED = "[secret]"


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


# What a provider receives: the value with every secret wrapper removed (the one
# definition, shared with the mock harness that runs the program).
is_secret = is_secret_input
plain = unwrap


def decode(value: Any) -> Any:
    """A protobuf Struct/Value from a RegisterResource request, as the engine reads it:
    secrets stay where they are (the SDK's own deserialiser would push a nested
    secret up to the enclosing list), unknowns are the placeholder string, numbers
    that are whole are ints. Assets, archives and resource references are refused."""
    if isinstance(value, struct_pb2.Struct):
        fields = {k: decode(v) for k, v in value.fields.items()}
        sig = fields.get(SECRET_SIG_KEY)
        if sig is None:
            return fields
        if sig == SECRET_SIG:
            return secret(fields.get("value"))
        raise ValueError(f"the offline executor does not implement values of signature {sig} "
                         "(assets, archives or resource references)")
    if isinstance(value, struct_pb2.ListValue):
        return [decode(v) for v in value.values]
    if isinstance(value, struct_pb2.Value):
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            return decode(value.struct_value)
        if kind == "list_value":
            return decode(value.list_value)
        if kind == "number_value":
            number = value.number_value
            return int(number) if number.is_integer() else number
        if kind == "string_value":
            return value.string_value
        if kind == "bool_value":
            return value.bool_value
        return None
    raise TypeError(f"cannot decode {type(value).__name__}")


def has_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def contains_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def redact(value: Any) -> Any:
    """For the preview document: secrets as "[secret]", unknowns as the placeholder."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def mark_secret_keys(outputs: dict[str, Any], inputs: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """Outputs made secret where `additionalSecretOutputs` (or the schema) names them, or
    where the same input was a secret and the output came back without one (the
    engine's annotateSecrets). Outputs copied from inputs keep their nested secrets."""
    marked: dict[str, Any] = {}
    for key, value in outputs.items():
        wanted = key in extra or (is_secret(inputs.get(key)) and not contains_secret(value))
        marked[key] = secret(plain(value)) if wanted and not is_secret(value) and value is not None else value
    return marked


# -- property paths (`a.b`, `a[0]`, `a[*]`, `a["x.y"]`), as resource.ParsePropertyPath reads them ----------

_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\*|\d+)\]|\.?([^.\[\]]+)')


def parse_path(path: str) -> list[str | int]:
    """`healthcheck`, `triggers[*]`, `labels[0].value` as a list of keys, indices and "*"."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot parse property path {path!r}")
        quoted, index, key = match.groups()
        if quoted is not None:
            parts.append(quoted)
        elif index is not None:
            parts.append("*" if index == "*" else int(index))
        else:
            parts.append(key)
        pos = match.end()
    return parts


def format_path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += ("." if out else "") + part
        else:
            out += f'["{part}"]'
    return out


def path_contains(outer: list[str | int], inner: list[str | int]) -> bool:
    """resource.PropertyPath.Contains: `outer` is a prefix of `inner`, "*" matching any step."""
    if len(outer) > len(inner):
        return False
    return all(o == "*" or o == i for o, i in zip(outer, inner))


def reset_path(path: list[str | int], source: dict[str, Any], target: dict[str, Any]) -> bool:
    """PropertyPath.Reset: copy the value at `path` in `source` over `target` (ignoreChanges).
    False when the path does not exist on both sides (an added or removed element)."""
    if not path:
        return False
    src: Any = source
    dst: Any = target
    for step in path[:-1]:
        if step == "*":
            return False
        try:
            src, dst = src[step], dst[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    if last == "*":
        return False
    try:
        value = src[last]
    except (KeyError, IndexError, TypeError):
        # Absent in the old inputs: the new value must go too.
        if isinstance(dst, dict) and isinstance(last, str):
            dst.pop(last, None)
            return True
        return False
    if isinstance(dst, dict) or (isinstance(dst, list) and isinstance(last, int) and last < len(dst)):
        dst[last] = copy.deepcopy(value)
        return True
    return False


def walk_paths(old: Any, new: Any, prefix: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    """(path, kind) for every leaf difference between two plain values: kind is add,
    delete or update. An unknown new value is an update at its own path."""
    if new == UNKNOWN:
        if old != UNKNOWN:
            yield prefix, "update" if old is not None else "add"
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in new or new[key] is None:
                if old.get(key) is not None:
                    yield prefix + [key], "delete"
            elif key not in old or old[key] is None:
                yield prefix + [key], "add"
            else:
                yield from walk_paths(old[key], new[key], prefix + [key])
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                yield prefix + [i], "delete"
            elif i >= len(old):
                yield prefix + [i], "add"
            else:
                yield from walk_paths(old[i], new[i], prefix + [i])
        return
    if old != new:
        if old is None:
            yield prefix, "add"
        elif new is None:
            yield prefix, "delete"
        else:
            yield prefix, "update"
