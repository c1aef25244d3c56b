"""Jinja2 rendering of configs/ with undefined variables as errors.

Pure: templates get plain values (secrets already unwrapped inside an Output.apply by
the caller), so every rendered file can be tested without Pulumi and checked by the
daemon that reads it.
"""
from __future__ import annotations

import base64
import hashlib
import pathlib
from typing import Any

import jinja2

from components.swift_settings import SWIFT_PATHS

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(CONFIGS)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def sql_string(value: str) -> str:
    """A value as a single-quoted SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


_ENV.filters["sql"] = sql_string
_ENV.filters["sh"] = shell_quote
# Fixed paths every Swift template reads (the proxy's as much as the storage servers'),
# from their one definition rather than from each caller's context.
_ENV.globals["swift_paths"] = SWIFT_PATHS


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def rabbitmq_password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256 format: base64(salt + sha256(salt + pw)).

    The salt is derived from the password so the rendered definitions are stable across
    runs: a random salt would make every `pulumi up` look like a config change.
    """
    salt = hashlib.sha256(b"kolla-ha-rabbitmq-salt" + password.encode()).digest()[:4]
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
