"""Progress lines of the main job, and how long each step took."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Progress"]


class Progress:
    """Numbers the steps (``[ 3/27] label ...``), says when each is done, and records its
    duration in :attr:`timings` (seconds, by label)."""

    def __init__(self, total: int, say: Callable[[str], object] = print):
        self.total, self.done, self.say = total, 0, say
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        self.done += 1
        start = time.perf_counter()
        self.say(f"[{self.done:>2}/{self.total}] {label} ...")
        yield
        dt = time.perf_counter() - start
        self.timings[label] = round(dt, 2)
        self.say(f"        done in {dt:.1f} s (total {time.perf_counter() - self.t0:.0f} s)")
