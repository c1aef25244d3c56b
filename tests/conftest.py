"""Session fixture shared by tests/lab and tests/e2e: bring up (or reuse) the lab, and
leave it as it was found."""
from __future__ import annotations

from typing import Iterator

import pytest

from lab import Lab
from lab.docker_engine import engine_answers, stop_engine


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
    yield instance
    leave_as_found()
