"""Pydantic's validation errors, told the way an operator needs them.

Every line names the key path (`hosts[1].ssh.key_file`), what was wrong, and what to
write instead, with the words taken from the field's own declaration (its format, range,
choices and default). Pydantic's own messages ("Input should be a valid integer") say
neither where nor what to write, so none of them is shown as is.
"""
from __future__ import annotations

import difflib
import typing
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config_model import (
    field_default,
    field_example,
    field_expectation,
    split_annotated,
    type_expectation,
)
from components.value_formats import Format, FormatError, format_of


def key_path(parts: Iterable[str | int]) -> str:
    """("hosts", 1, "ssh", "key_file") -> "hosts[1].ssh.key_file"."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class _Place:
    """What the model declares at one error location."""

    def __init__(self) -> None:
        self.field: FieldInfo | None = None
        self.annotation: Any = None
        self.metadata: list[Any] = []
        self.owner: type[BaseModel] | None = None
        self.leaf: str | int | None = None
        self.path: list[str | int] = []

    @property
    def fmt(self) -> Format | None:
        return format_of(self.metadata + split_annotated(self.annotation)[1])

    @property
    def is_field_itself(self) -> bool:
        return self.field is not None and self.annotation is self.field.annotation

    def expected(self) -> str:
        if self.is_field_itself:
            return field_expectation(self.field)  # type: ignore[arg-type]
        return type_expectation(self.annotation, self.metadata)

    def example(self) -> str | None:
        if self.is_field_itself:
            return field_example(self.field)  # type: ignore[arg-type]
        fmt = self.fmt
        return fmt.example if fmt else None

    def default(self) -> Any:
        return field_default(self.field) if self.is_field_itself else PydanticUndefined


def _locate(root: Any, loc: Sequence[str | int]) -> _Place:
    place = _Place()
    place.annotation = root
    for part in loc:
        bare, _ = split_annotated(place.annotation)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            place.owner, place.leaf = bare, part
            place.path.append(part)
            field = bare.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                place.field = None
                break
            place.field, place.annotation, place.metadata = field, field.annotation, list(field.metadata)
            continue
        origin = typing.get_origin(bare)
        if origin is list and isinstance(part, int):
            (place.annotation,) = typing.get_args(bare)
            place.metadata, place.leaf = [], part
            place.path.append(part)
        elif origin is dict and part != "[key]":
            place.annotation = typing.get_args(bare)[1]
            place.metadata, place.leaf = [], part
            place.path.append(part)
        # Anything else is pydantic's own step inside one value (a validator's or
        # a union member's name): the location stays where it is.
    return place


def _literal_choices(place: _Place) -> str:
    bare, _ = split_annotated(place.annotation)
    values = [str(v) for v in typing.get_args(bare)] if typing.get_origin(bare) is Literal else []
    default = place.default()
    named = [f"{v} (default)" if v == default else v for v in values]
    return " or ".join([", ".join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


def _write(place: _Place, with_default: bool = False) -> str:
    text = f"write {place.expected()}"
    example = place.example()
    default = place.default()
    if with_default and default is not PydanticUndefined and default is not None:
        text += f" (default {example})"
    elif example:
        text += f", e.g. {example}"
    return text


def _quote_hint(place: _Place, value: Any) -> str:
    leaf = place.leaf if isinstance(place.leaf, str) else "the value"
    if isinstance(value, float):
        return (
            "YAML read an unquoted number, which loses trailing zeros (2023.10 reads as 2023.1); "
            f'write it in quotes exactly as meant, e.g. {leaf}: "{value}"'
        )
    kind = "true or false" if isinstance(value, bool) else "a number"
    return f'YAML read {kind}; put the value in quotes, e.g. {leaf}: "{place.example() or value}"'


def describe(err: Any, place: _Place) -> str:
    """One error, without its key path: what was wrong and what to write instead."""
    kind = err["type"]
    value = err.get("input")
    fmt = place.fmt
    if kind == "missing":
        return f"required; {_write(place)}"
    if value is None and kind.endswith("_type"):
        return f"is null, and this key has no default; {_write(place)}"
    if kind == "extra_forbidden":
        keys = list(place.owner.model_fields) if place.owner else []
        guess = did_you_mean(str(place.leaf), keys)
        hint = f"did you mean {guess}? " if guess else ""
        return f"unknown key; {hint}the keys here are {', '.join(keys)}"
    if kind == "value_error":
        reason = err.get("ctx", {}).get("error")
        if isinstance(reason, FormatError) and fmt is not None:
            return f"{value!r} is not {fmt.noun}{reason}; {_write(place)}"
        return f"{value!r} {reason}; {_write(place)}"
    if kind == "string_type":
        noun = fmt.noun if fmt else "text"
        if isinstance(value, (bool, int, float)):
            return f"{value!r} is not {noun}: {_quote_hint(place, value)}"
        return f"{value!r} is not {noun}; {_write(place)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        if isinstance(value, bool):
            return f"{value!r} is true/false, not a whole number; {_write(place)}"
        return f"{value!r} is not a whole number; {_write(place)}"
    if kind in ("float_type", "float_parsing"):
        return f"{value!r} is not a number; write {place.expected()} without quotes, e.g. {place.example()}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{value!r} must be true or false (unquoted)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ctx = err.get("ctx", {})
        low = ctx.get("ge", ctx.get("gt"))
        expected = place.expected()
        if " from " in expected and " to " in expected:
            span = expected.split(" from ", 1)[1].replace(" to ", "-")
            return f"{value!r} is outside {span}; {_write(place, with_default=True)}"
        if low is not None:
            return f"{value!r} is below {low}; {_write(place, with_default=True)}"
        return f"{value!r} is too large; {_write(place, with_default=True)}"
    if kind == "literal_error":
        return f"{value!r} is not a choice here; use {_literal_choices(place)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be {place.expected()}" + (f", e.g. {place.example()}" if place.example() else "")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        bare, _ = split_annotated(place.annotation)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            return f"must be an object with the keys {', '.join(bare.model_fields)}"
        return f"must be {place.expected()}"
    if kind == "too_short":
        return f"must not be empty; {_write(place)}"
    return f"{err['msg']}; {_write(place)}"


def problems_from(
    error: ValidationError, root: Any, loc: Sequence[str | int] = (), shown: Sequence[str | int] = ()
) -> list[str]:
    """One line per error of validating the value at `loc` within a `root` (a model), its
    key path shown after `shown`."""
    problems: list[str] = []
    for err in error.errors(include_url=False):
        place = _locate(root, [*loc, *err["loc"]])
        line = f"{key_path([*shown, *place.path])}: {describe(err, place)}"
        if line not in problems:
            problems.append(line)
    return problems


def missing_problem(root: Any, loc: Sequence[str | int]) -> str:
    """The line for a required key that is absent."""
    place = _locate(root, loc)
    return f"{key_path(place.path)}: {describe({'type': 'missing'}, place)}"
