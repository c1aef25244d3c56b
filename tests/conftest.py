"""Session fixture shared by tests/lab and tests/e2e: bring up (or reuse) the lab, have
it to ourselves, and leave it as it was found."""
from __future__ import annotations

import contextlib
import json
from typing import Iterator

import pytest

from lab import Lab
from lab.deployment import state_file
from lab.docker_engine import engine_answers, stop_engine
from lab.executor.run import run_stack


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    # Whatever this session starts (engine, lab) it also stops; what it found, it leaves.
    engine_was_running = engine_answers()
    existed = Lab().exists()
    # The tests address ctl1..ctl3; a bigger running lab is reused as it is.
    instance = Lab(hosts=max(3, len(Lab.existing_hosts())))

    def leave_as_found() -> None:
        if not existed:
            instance.down()
            if not engine_was_running:
                stop_engine(instance.state_dir)

    try:
        # up() is idempotent: on a running lab it only rebuilds/pushes what changed.
        status = instance.up()
        assert status.healthy, f"lab did not come up healthy: {status}"
    except BaseException:
        # pytest runs no teardown for a fixture whose setup failed: clean up here.
        leave_as_found()
        raise
    with _lab_to_ourselves():
        yield instance
    leave_as_found()


@contextlib.contextmanager
def _lab_to_ourselves() -> Iterator[None]:
    """The tests deploy their own stack into the lab's fixed addresses and names, and the
    lab tests expect bare hosts (no VIP held, nothing to disturb by a power cycle). A dev
    stack that `python3 -m lab deploy` left running is destroyed before the first test
    that uses the lab and deployed again after the last one, so the lab is left as it
    was found."""
    user_state = state_file()
    if not user_state.exists() or json.loads(user_state.read_text() or "{}") == {}:
        yield
        return
    print(f"\nthe tests need the lab to themselves: destroying the dev stack recorded in "
          f"{user_state}; it is deployed again when they are done", flush=True)
    run_stack("dev", destroy=True)
    try:
        yield
    finally:
        run_stack("dev")
