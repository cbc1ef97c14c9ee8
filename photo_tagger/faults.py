"""Crash points for the kill tests: the process dies exactly between two steps of a write.

PHOTOTAG_FAULT_AT=STEP[:N] makes the process SIGKILL itself the Nth time (default the
first) it reaches STEP. Unset, as for every user, `crash_point` does nothing. Steps, in
order, for each file of `write` and of `undo`:

  write:temp     the temporary copy is complete; nothing is recorded yet
  write:pending  the write is recorded as pending; the photo is not replaced yet
  write:renamed  the photo is replaced; the record still says pending
  write:done     the record says done (before the next file)
  undo:temp / undo:pending / undo:renamed / undo:done   the same steps of an undo
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "PHOTOTAG_FAULT_AT"
STEPS = ("write:temp", "write:pending", "write:renamed", "write:done",
         "undo:temp", "undo:pending", "undo:renamed", "undo:done")
_reached: Counter[str] = Counter()


def crash_point(step: str) -> None:
    """Die here, as a power cut or `kill -9` would, when the environment asks for this step."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    name, _, nth = wanted.rpartition(":")
    if not nth.isdigit():
        name, nth = wanted, ""
    if name != step:
        return
    _reached[step] += 1
    if _reached[step] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
