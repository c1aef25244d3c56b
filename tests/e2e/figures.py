"""Figures the end-to-end run measures, printed at the end of the session.

A module of its own so that the conftest (loaded by pytest) and the tests (imported by
package path) share one dictionary.
"""
from __future__ import annotations

from typing import Any

FIGURES: dict[str, Any] = {}
