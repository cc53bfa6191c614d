"""Plain sequential code that waits on coroutines, run as greenlets on one event loop per process.

A conversation is written as ordinary code that asks the LLM port and blocks on each answer. With
a thread per conversation, hundreds in flight contend for the GIL with the loop that does their
I/O: every answer crosses threads twice and waits for the GIL each time, and the hand-offs, not
the server, set the pace. Here each job runs as a greenlet on the loop's own thread: a request
switches to the loop with its coroutine and the job resumes with the answer, with no thread in
between (the bridge SQLAlchemy's asyncio support is built on). Code outside a job still blocks on
its answer from any other thread.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

T = TypeVar("T")
R = TypeVar("R")

_started = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_YOUNG_THRESHOLD = 10_000


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for LLM requests, started in a daemon thread on first use."""
    global _loop, _thread
    with _started:
        if _loop is None or _thread is None or not _thread.is_alive():
            _loop = _new_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="llm-event-loop", daemon=True)
            _thread.start()
        return _loop


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it exists (not on Windows): about a tenth less CPU a request than asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def on_event_loop() -> bool:
    """Whether this thread is the loop's (where blocking on the loop would never return)."""
    return _thread is not None and threading.current_thread() is _thread


class _Job(greenlet):
    """A job's greenlet: what it switches to its parent is a coroutine for the driver to await."""


def wait(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result, awaited on :func:`event_loop`: by the job's driver inside a job,
    from this thread otherwise."""
    if isinstance(getcurrent(), _Job):
        return getcurrent().parent.switch(coroutine)
    loop = event_loop()
    if on_event_loop():
        coroutine.close()
        raise RuntimeError("blocking on the LLM event loop from its own thread outside a job would never return")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


async def _drive(job: Callable[[T], R], item: T) -> R:
    runner = _Job(job)
    pending = runner.switch(item)
    while not runner.dead:
        try:
            answer = await pending
        except BaseException as exc:  # noqa: BLE001 - raised inside the job, where its code handles it
            pending = runner.throw(exc)
        else:
            pending = runner.switch(answer)
    return pending


def run_all(job: Callable[[T], R], items: Iterable[T], *, concurrency: int) -> list[R]:
    """``job(item)`` for every item, ``concurrency`` at once, results in item order. Items are drawn
    one at a time as a slot frees up. After a failure no further item starts; the first failure is
    raised once the running jobs finish."""
    if on_event_loop():
        raise RuntimeError("run_all cannot be called from the LLM event loop's thread")
    results: dict[int, Any] = {}
    queue = enumerate(items)
    failures: list[BaseException] = []

    async def worker() -> None:
        for index, item in queue:  # shared by the workers; they all run on the loop's one thread
            try:
                results[index] = await _drive(job, item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failures.append(exc)
            if failures:
                return

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))

    # Jobs allocate many short-lived objects and few cycles: at the default young-generation
    # threshold (700) the collector took about a tenth of the CPU of each call with hundreds in flight.
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], _YOUNG_THRESHOLD), *thresholds[1:])
    try:
        asyncio.run_coroutine_threadsafe(main(), event_loop()).result()
    finally:
        gc.set_threshold(*thresholds)
    if failures:
        raise failures[0]
    return [results[index] for index in range(len(results))]
