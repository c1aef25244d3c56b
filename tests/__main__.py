"""The README's test command: `python3 -m tests [pytest arguments]`.

On a fresh machine it first installs what the tests need — the Debian packages of the
real daemons (configs are checked by the daemons that read them) and of the Docker
engine the lab runs on, and the Python packages of the requirements files into the
project's own `.venv` — then runs pytest inside that environment. `.ci/run` calls
exactly this.

`--soak` adds the long HA tests (marked `soak`: scale-out and scale-in under load, an
image upgrade, a storage host powered off and one added) that the default run, which CI
runs, leaves out to stay within CI's time.
"""
from __future__ import annotations

import sys

from lab.setup_machine import DAEMON_PACKAGES, DEPLOY_PACKAGES, inside_venv, run_in_venv

# pytest's "no tests collected" must not pass for a green run.
_NO_TESTS = 5


def main(argv: list[str]) -> int:
    if not inside_venv():
        return run_in_venv("tests", argv, [*DEPLOY_PACKAGES, *DAEMON_PACKAGES])
    import pytest

    if "--soak" in argv:
        argv = [a for a in argv if a != "--soak"] + ["-m", "soak or not soak"]
    status = int(pytest.main(["-q", *argv]))
    if status == _NO_TESTS:
        print("pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
