"""Program runs shared by the mock-based tests: each layout is evaluated once per session."""
from __future__ import annotations

import pytest

from offline.program import ProgramRun
from tests.unit.layouts import LAYOUTS, STORAGE_LAYOUTS, layout_run


@pytest.fixture(params=list(LAYOUTS))
def run(request: pytest.FixtureRequest) -> ProgramRun:
    """The program evaluated for the 3-host, 5-host and 5-host split inventories."""
    return layout_run(request.param)


@pytest.fixture(params=list(STORAGE_LAYOUTS))
def storage_run(request: pytest.FixtureRequest) -> ProgramRun:
    """Every service with the storage tier, on 3 hosts and on a 5-host split inventory."""
    return layout_run(request.param)
