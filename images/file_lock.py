"""One builder or lab change at a time: a CLI run and a test session can overlap."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks until the other run finishes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
