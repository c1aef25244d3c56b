"""Progress lines: one whole line per event, never interleaved across threads.

Shared by the lab's commands and the offline executor, so a deploy prints one kind of
line, stamped with the seconds since the command started.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

# One lock for every Progress in the process: steps run in parallel threads, and
# `print` writes the text and the newline separately, so two threads could splice lines.
_LOCK = threading.Lock()


class Progress:
    """`[ elapsed] text` lines written under one lock, each flushed at once."""

    def __init__(self, sink: Callable[[str], None] | None = None, stream: TextIO | None = None,
                 start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self._sink = sink
        self._stream = stream if stream is not None else sys.stdout

    def line(self, text: str) -> None:
        stamped = f"[{time.monotonic() - self.start:7.1f}s] {text}"
        with _LOCK:
            if self._sink is not None:
                self._sink(stamped)
            else:
                self._stream.write(stamped + "\n")
                self._stream.flush()
