"""Progress lines: one whole line per event, never interleaved across threads."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO


class Progress:
    """`[ elapsed] text` lines written under one lock, each flushed at once, so the
    output of concurrent steps never mixes mid-line."""

    def __init__(self, sink: Callable[[str], None] | None = None, stream: TextIO | None = None) -> None:
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._sink = sink
        self._stream = stream if stream is not None else sys.stdout

    def line(self, text: str) -> None:
        stamped = f"[{time.monotonic() - self.start:7.1f}s] {text}"
        with self._lock:
            if self._sink is not None:
                self._sink(stamped)
            else:
                self._stream.write(stamped + "\n")
                self._stream.flush()
