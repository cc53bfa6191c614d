"""Jobs as greenlets on the LLM event loop: overlap while they wait, order kept, failures raised."""

from __future__ import annotations

import asyncio
import threading

import pytest

from digit_assets.engine.llm import cooperative


def _loop_thread() -> int:
    async def ident() -> int:
        return threading.get_ident()

    return asyncio.run_coroutine_threadsafe(ident(), cooperative.event_loop()).result(timeout=10)


class _InFlight:
    def __init__(self):
        self.now = 0
        self.peak = 0

    async def hold(self, value, seconds: float = 0.05):
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(seconds)
            return value
        finally:
            self.now -= 1


def test_jobs_overlap_while_they_wait_up_to_the_limit_and_results_keep_their_order():
    counter = _InFlight()
    threads: set[int] = set()

    def job(item: int) -> int:
        threads.add(threading.get_ident())
        first = cooperative.wait(counter.hold(item))
        return first * 10 + cooperative.wait(counter.hold(item, seconds=0.01 * (item % 3)))

    results = cooperative.run_all(job, list(range(20)), concurrency=6)
    assert results == [item * 11 for item in range(20)]
    assert counter.peak == 6
    # Every job ran on the loop's own thread: no thread per job.
    assert threads == {_loop_thread()}


def test_a_failure_awaited_in_a_job_is_raised_where_the_job_waited():
    async def refuse():
        raise ConnectionError("refused")

    def job(item: int) -> str:
        try:
            cooperative.wait(refuse())
        except ConnectionError as exc:
            return f"{item}: {exc}"
        return "not raised"

    assert cooperative.run_all(job, [1, 2], concurrency=2) == ["1: refused", "2: refused"]


def test_after_a_failed_job_no_further_job_starts_and_the_failure_is_raised():
    started: list[int] = []
    counter = _InFlight()

    def job(item: int) -> int:
        started.append(item)
        cooperative.wait(counter.hold(item, seconds=0.01))
        if item == 3:
            raise ValueError(f"item {item} is bad")
        return item

    with pytest.raises(ValueError, match="item 3 is bad"):
        cooperative.run_all(job, list(range(50)), concurrency=2)
    assert 3 in started and len(started) < 10


def test_outside_a_job_a_thread_blocks_on_its_own_answer():
    counter = _InFlight()
    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(cooperative.wait(counter.hold(i)))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1, 2, 3]


def test_blocking_on_the_loop_from_its_own_thread_is_refused_not_a_hang():
    async def on_the_loop():
        coroutine = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="would never return"):
            cooperative.wait(coroutine)
        with pytest.raises(RuntimeError, match="cannot be called from the LLM event loop"):
            cooperative.run_all(lambda item: item, [1], concurrency=1)
        return True

    assert asyncio.run_coroutine_threadsafe(on_the_loop(), cooperative.event_loop()).result(timeout=10)


def test_the_collector_runs_less_often_while_jobs_run_and_as_before_after():
    import gc

    before = gc.get_threshold()
    during = cooperative.run_all(lambda item: gc.get_threshold(), [1], concurrency=1)[0]
    assert during[0] >= 10_000 and during[1:] == before[1:]
    assert gc.get_threshold() == before
