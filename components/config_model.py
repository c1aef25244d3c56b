"""The base of every stack-config model, and what a field says about itself.

One field declaration carries its type, range, default and description; the error
messages, the README's tables and Pulumi.yaml's config schema are all read from it
(`field_expectation`, `field_default_text`), so they cannot drift apart.
"""
from __future__ import annotations

import types
import typing
from typing import Any, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.value_formats import Format, format_of


class ConfigModel(BaseModel):
    """Strict (no bool for an int, no number for a string), closed (unknown keys are
    errors) and immutable. An explicit null (YAML `~`) means the default where there is
    one; a required key given null stays an error instead of becoming the text "None"."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items()
                if not (v is None and k in cls.model_fields and not cls.model_fields[k].is_required())
            }
        return data


def unwrap_optional(annotation: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    """(bare type, metadata) of a possibly Annotated, possibly optional type."""
    annotation = unwrap_optional(annotation)
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], list(args[1:]) + metadata
        annotation = unwrap_optional(annotation)
    return annotation, metadata


def _flatten(metadata: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for m in metadata:
        flat += _flatten(list(m.metadata)) if isinstance(m, FieldInfo) else [m]
    return flat


def _bounds(metadata: list[Any]) -> tuple[Any, Any, bool]:
    low = high = None
    exclusive_low = False
    for m in _flatten(metadata):
        for attr, value in (("ge", getattr(m, "ge", None)), ("gt", getattr(m, "gt", None)),
                            ("le", getattr(m, "le", None))):
            if value is None:
                continue
            if attr == "ge":
                low = value
            elif attr == "gt":
                low, exclusive_low = value, True
            else:
                high = value
    return low, high, exclusive_low


def type_expectation(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a value of this type must be, in words ("a whole number from 1 to 65535")."""
    bare, inner = split_annotated(annotation)
    metadata = list(metadata) + inner
    fmt = format_of(metadata)
    if fmt is not None:
        return fmt.expected
    if bare is bool:
        return "true or false"
    if bare is int:
        low, high, _ = _bounds(metadata)
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        if low is not None:
            return f"a whole number of at least {low}"
        return "a whole number"
    if bare is str:
        return "text"
    if typing.get_origin(bare) is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(bare))
    if typing.get_origin(bare) is list:
        (item,) = typing.get_args(bare)
        item_bare, _ = split_annotated(item)
        if isinstance(item_bare, type) and issubclass(item_bare, BaseModel):
            return "a list of objects with the keys " + ", ".join(item_bare.model_fields)
        return f"a list of {_plural(type_expectation(item))}"
    if typing.get_origin(bare) is dict:
        return "an object (name: value)"
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return "an object with the keys " + ", ".join(bare.model_fields)
    return str(bare)


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            text = text[len(article):]
            head, _, tail = text.partition(" ")
            return (head + "s" if not head.endswith("s") else head) + (" " + tail if tail else "")
    return text


def field_format(field: FieldInfo) -> Format | None:
    return format_of(list(field.metadata) + split_annotated(field.annotation)[1])


def field_expectation(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "expected" in extra:
        return str(extra["expected"])
    return type_expectation(field.annotation, list(field.metadata))


def field_default(field: FieldInfo) -> Any:
    """The default as the stack file would spell it (models and serializers applied)."""
    if field.is_required():
        return PydanticUndefined
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump()
    bare, metadata = split_annotated(field.annotation)
    for m in metadata + list(field.metadata):
        func = getattr(m, "func", None)
        if func is not None and type(m).__name__ == "PlainSerializer":
            return func(value)
    return value


def field_example(field: FieldInfo) -> str | None:
    """A value to show in "write ..., e.g. <example>": the default, else the format's."""
    default = field_default(field)
    if default is not PydanticUndefined and default not in (None, "", [], {}):
        return _yaml_scalar(default)
    fmt = field_format(field)
    if fmt is not None:
        return fmt.example
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    example = extra.get("example")
    return None if example is None else str(example)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    return str(value)


def yaml_text(value: Any) -> str:
    """A default as README shows it."""
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if value == "":
        return '`""`'
    if isinstance(value, dict):
        return "`{}`" if not value else "`{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in value.items()) + "}`"
    return f"`{_yaml_scalar(value)}`"
