"""Progress lines for long loops: counts, rate and ETA, at most once per interval, plus a final line.

Plain Python (a ``log`` callable, e.g. ``context.log.info``) so the engine reports progress the same
way inside Dagster, in the CLI and in benchmarks. Safe to advance from several threads. A terminal
that draws a progress bar follows every advance through :func:`observed`.
"""

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

# Called with (label, done, total) on every advance, by whoever is drawing progress in this process.
Listener = Callable[[str, int, "int | None"], None]
_listeners: list[Listener] = []


@contextlib.contextmanager
def observed(listener: Listener) -> Iterator[None]:
    """Let ``listener`` see every advance of every :class:`Progress` while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class Progress:
    def __init__(
        self,
        log: Callable[[str], None],
        label: str,
        *,
        total: int | None = None,
        interval_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._log = log
        self._label = label
        self._total = total
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last_report = self._started
        self._lock = threading.Lock()
        self.done = 0
        self.counts: Counter[str] = Counter()

    def advance(self, n: int = 1, **counts: int) -> None:
        """Count ``n`` finished items (and named sub-counts such as ``accepted=1``); log if an interval passed."""
        with self._lock:
            self.done += n
            self.counts.update(counts)
            done = self.done
            now = self._clock()
            due = now - self._last_report >= self._interval_s
            if due:
                self._last_report = now
                line = self._line(now)
        for listener in list(_listeners):
            listener(self._label, done, self._total)
        if due:
            self._log(line)

    def finish(self) -> None:
        with self._lock:
            line = self._line(self._clock(), final=True)
        self._log(line)

    def _line(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        done = f"{self.done}/{self._total}" if self._total is not None else str(self.done)
        parts = [f"{self._label}: {done} done in {elapsed:.1f}s ({rate:.1f}/s"]
        if not final and self._total is not None and rate > 0 and self.done < self._total:
            parts.append(f", ~{(self._total - self.done) / rate:.0f}s left")
        parts.append(")")
        if self.counts:
            parts.append("; " + ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items())))
        return "".join(parts)
