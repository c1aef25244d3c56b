"""README's configuration tables and Pulumi.yaml's `config:` schema, from the one model.

    python3 -m components.config_schema --write   # regenerate both
    python3 -m components.config_schema --check   # exit 1 when either is stale

tests/unit/test_config_schema.py runs the check, so a model change without the
regenerated docs fails the unit tests.

Pulumi's project config types are string, integer, boolean and arrays of those
(sdk/go/common/workspace/project.json); objects cannot be declared, and a typed key
without a default is required on every stack. So Pulumi.yaml declares the top-level
scalars and lists with their types and defaults, keystone_admin_password as a required
secret, and lists the object keys and optional keys in its comments; the program
validates all of them (components/inventory.py).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import typing
from typing import Any, Iterator

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config_model import field_default, field_expectation, split_annotated, yaml_text
from components.defaults import TIER_MODELS
from components.inventory import StackSettings
from components.secret_specs import OPERATOR_SECRETS, SECRETS

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PULUMI_YAML = ROOT / "Pulumi.yaml"
COMMAND = "python3 -m components.config_schema --write"


# --- walking the model ---------------------------------------------------------------


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly or as list items) and the path suffix for it."""
    bare, _ = split_annotated(annotation)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return bare, ""
    if typing.get_origin(bare) is list:
        (item,) = typing.get_args(bare)
        item_bare, _ = split_annotated(item)
        if isinstance(item_bare, type) and issubclass(item_bare, BaseModel):
            return item_bare, "[]"
    return None, ""


def rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """(key path, field) for every field, depth first."""
    for name, spec in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, spec
        inner, suffix = _model_of(spec.annotation)
        if inner is not None:
            yield from rows(inner, f"{path}{suffix}.")


def default_text(spec: FieldInfo) -> str:
    extra = spec.json_schema_extra if isinstance(spec.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return str(extra["default_text"])
    inner, _ = _model_of(spec.annotation)
    if inner is not None and not spec.is_required():
        return "see below"
    return yaml_text(field_default(spec))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- README ------------------------------------------------------------------------------


def _table(entries: list[tuple[str, FieldInfo]]) -> list[str]:
    lines = ["| key | value | default | meaning |", "|---|---|---|---|"]
    for path, spec in entries:
        lines.append(
            f"| `{path}` | {_cell(field_expectation(spec))} | {_cell(default_text(spec))} "
            f"| {_cell(spec.description or '')} |"
        )
    return lines


def readme_config() -> str:
    tunables = [(f"{tier}.{path}", spec) for tier, model in TIER_MODELS.items() for path, spec in rows(model)]
    return "\n".join(
        ["### Hosts and network", "", *_table(list(rows(StackSettings))), "",
         "### Tunables (kolla-like defaults)", "", *_table(tunables)]
    )


def readme_secrets() -> str:
    lines = ["| key | used when | what for | a pinned value must be |", "|---|---|---|---|"]
    for name, spec in SECRETS.items():
        when = "always (required)" if spec.operator else (
            "always" if not spec.services else ", ".join(spec.services) + " enabled"
            if len(spec.services) < 4 else "any API service enabled")
        lines.append(f"| `{name}` | {when} | {_cell(spec.purpose)} | {_cell(spec.allowed())} |")
    return "\n".join(lines)


# --- Pulumi.yaml ---------------------------------------------------------------------------


def _pulumi_type(spec: FieldInfo) -> dict[str, Any] | None:
    """The Pulumi project config type of a field, or None where Pulumi has none."""
    bare, _ = split_annotated(spec.annotation)
    simple = {str: "string", int: "integer", bool: "boolean"}
    if bare in simple:
        return {"type": simple[bare]}
    if typing.get_origin(bare) is list:
        (item,) = typing.get_args(bare)
        item_bare, _ = split_annotated(item)
        if item_bare in simple:
            return {"type": "array", "items": {"type": simple[item_bare]}}
    return None


def pulumi_config() -> str:
    declared: dict[str, Any] = {}
    objects: list[str] = []
    optional: list[str] = []
    for name, spec in StackSettings.model_fields.items():
        typed = _pulumi_type(spec)
        default = field_default(spec)
        if typed is None:
            objects.append(name)
        elif default is None:
            optional.append(name)
        else:
            entry = {**typed, "description": spec.description}
            if default is not PydanticUndefined:
                entry["default"] = default
            declared[name] = entry
    for name in OPERATOR_SECRETS:
        declared[name] = {"type": "string", "secret": True, "description": SECRETS[name].purpose}
    comments = [
        f"# BEGIN generated: config ({COMMAND})",
        "# Types and defaults of the kolla-ha:* keys, from components/inventory.py. Pulumi's",
        "# project config types are string, integer, boolean and arrays of them, and a typed key",
        "# without a default is required on every stack. So only the keys below are declared;",
        "# the program validates every key (README.md, Configuration). Not declared here:",
        f"#   objects, written as YAML mappings under their key: {', '.join(objects + list(TIER_MODELS))}",
        "#     (e.g. `kolla-ha:galera: {gcache_size: 2G}`; their keys and defaults are in README.md);",
        f"#   optional keys without a default: {', '.join(optional)};",
        "#   the other secrets, generated unless pinned with `pulumi config set --secret <name>`.",
    ]
    body = yaml.safe_dump({"config": declared}, sort_keys=False, width=100, allow_unicode=True).rstrip("\n")
    return "\n".join(comments + [body, "# END generated: config"])


# --- files -----------------------------------------------------------------------------------


def replace_block(text: str, name: str, content: str, comment: tuple[str, str]) -> str:
    """`text` with the lines between the markers of block `name` replaced by `content`."""
    begin = f"{comment[0]}BEGIN generated: {name}{comment[1]}"
    end = f"{comment[0]}END generated: {name}{comment[1]}"
    start, stop = text.index(begin), text.index(end)
    return text[: start + len(begin)] + "\n" + content + "\n" + text[stop:]


def readme_text(current: str) -> str:
    html = ("<!-- ", " -->")
    text = replace_block(current, "config", readme_config(), html)
    return replace_block(text, "secrets", readme_secrets(), html)


def pulumi_yaml_text(current: str) -> str:
    begin = "# BEGIN generated: config"
    head = current[: current.index(begin)] if begin in current else current.rstrip("\n") + "\n"
    end = "# END generated: config\n"
    tail = current[current.index(end) + len(end):] if end in current else ""
    return head + pulumi_config() + "\n" + tail


def stale() -> list[pathlib.Path]:
    out = []
    for path, make in ((README, readme_text), (PULUMI_YAML, pulumi_yaml_text)):
        current = path.read_text(encoding="utf-8")
        if make(current) != current:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite README.md and Pulumi.yaml")
    action.add_argument("--check", action="store_true", help="exit 1 when either is out of date")
    args = parser.parse_args(argv)
    if args.write:
        for path, make in ((README, readme_text), (PULUMI_YAML, pulumi_yaml_text)):
            current = path.read_text(encoding="utf-8")
            path.write_text(make(current), encoding="utf-8")
        return 0
    if args.check:
        out = stale()
        for path in out:
            print(f"{path.name} is out of date; run {COMMAND}", file=sys.stderr)
        return 1 if out else 0
    print(readme_config() + "\n\n" + readme_secrets() + "\n\n" + pulumi_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
