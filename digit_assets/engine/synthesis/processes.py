"""Conversations rolled out by several processes, each with its own client.

One process runs its conversations' steps and its client's requests under one GIL: at a few
milliseconds of CPU a call it sends a few hundred calls a second, so with hundreds of conversations
in flight the server waits on the client. Here each process builds its own port from ``open_port``
(picklable: settings, not clients), takes the next index not yet taken by any process while it has
a free slot (its share of the workers), and streams each outcome back as it finishes: a process
whose conversations run short does not sit idle while another still has a queue. A conversation depends on its seed only, so
the outcomes are those of :func:`.rollout.synthesize`, returned in index order.

Processes are spawned, not forked: a fork would copy a Dagster run's threads and held locks.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from digit_assets.engine.llm import LLM
from digit_assets.engine.llm.port import LLMUnavailable
from digit_assets.engine.llm.usage import Usage, UsageMeter
from digit_assets.engine.synthesis.rollout import Catalog, Outcome, SynthesisSettings, conversation_id, synthesize

PortOpener = Callable[[UsageMeter], AbstractContextManager[LLM]]
"""Opens, inside a rollout process, the port its conversations use, reporting to that process's meter."""

_POLL_S = 1.0


@dataclass(frozen=True)
class ProcessReport:
    """What one rollout process used: its port's usage and its CPU seconds, and when it had filled its
    slots."""

    usage: Usage
    cpu_s: float
    slots: int
    slots_filled_at: float | None = None
    """When the process had taken a conversation for each of its slots (``time.time()``; None if it
    never had that many): processes start one after another, and until the last has filled its
    slots the run is not yet at full concurrency."""


def synthesize_in_processes(
    catalog: Catalog,
    open_port: PortOpener,
    settings: SynthesisSettings,
    *,
    base_seed: int,
    indices: Sequence[int],
    processes: int,
    workers: int,
    meter: UsageMeter,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> tuple[list[Outcome], list[ProcessReport]]:
    """Roll out ``indices`` over ``processes`` processes with ``workers`` conversations in flight in
    all; the processes' usage is added to ``meter``. ``on_outcome`` runs in this process, in the order
    outcomes arrive. A process that fails or dies stops the others and raises here with its cause."""
    indices = list(indices)
    workers = max(1, workers)
    processes = max(1, min(processes, len(indices), workers))
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    taken = context.Value("q", 0)
    children = [
        context.Process(
            target=_roll_out,
            args=(number, catalog, open_port, settings, base_seed, indices, taken, slots, messages),
            name=f"rollout-{number}",
            daemon=True,
        )
        for number, slots in enumerate(slot_shares(workers, processes))
    ]
    outcomes: dict[int, Outcome] = {}
    reports: dict[int, ProcessReport] = {}
    try:
        for child in children:
            child.start()
        while len(reports) < len(children):
            try:
                message = messages.get(timeout=_POLL_S)
            except queue.Empty:
                _check_alive(children, reports)
                continue
            kind, number, payload = message
            if kind == "outcome":
                index, outcome = payload
                outcomes[index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
            elif kind == "done":
                reports[number] = payload
                meter.absorb(payload.usage)
            else:
                name, text, trace = payload
                if name == LLMUnavailable.__name__:
                    raise LLMUnavailable(text)
                raise RuntimeError(f"rollout process {number} failed: {name}: {text}\n{trace}")
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join()
        messages.close()
    return [outcomes[index] for index in indices], [reports[number] for number in sorted(reports)]


def slot_shares(workers: int, processes: int) -> list[int]:
    """Each process's share of the ``workers`` slots (at least one each), as even as they go (256 over
    3: 86, 85, 85): rounding every share up would put more than ``workers`` conversations in flight."""
    return [workers // processes + (number < workers % processes) for number in range(processes)]


def _check_alive(children: Sequence[multiprocessing.Process], reports: dict[int, ProcessReport]) -> None:
    for number, child in enumerate(children):
        if number not in reports and child.exitcode not in (None, 0):
            raise RuntimeError(f"rollout process {number} died (exit code {child.exitcode}) before reporting")


def _shared_queue(indices: Sequence[int], taken) -> Iterator[int]:
    """The indices in order, each to whichever process asks first."""
    while True:
        with taken.get_lock():
            position = taken.value
            if position >= len(indices):
                return
            taken.value = position + 1
        yield indices[position]


def noting_when_filled(indices: Iterable[int], slots: int, filled_at: list[float]) -> Iterator[int]:
    """``indices`` as drawn, adding to ``filled_at`` the time the ``slots``-th was drawn: from then on
    every slot has a conversation."""
    for drawn, index in enumerate(indices, 1):
        if drawn == slots:
            filled_at.append(time.time())
        yield index


def _roll_out(number, catalog, open_port, settings, base_seed, indices, taken, workers, messages) -> None:
    started = time.process_time()
    meter = UsageMeter()
    filled_at: list[float] = []
    try:
        with open_port(meter) as port:
            # The catalog and the port last as long as this process: frozen, full collections stop
            # walking them again and again (a tenth of the rollout's CPU per call).
            gc.freeze()
            by_id = {conversation_id(settings, base_seed, index): index for index in indices}
            synthesize(
                catalog, port, settings, base_seed=base_seed, indices=noting_when_filled(_shared_queue(indices, taken), workers, filled_at), workers=workers,
                on_outcome=lambda outcome: messages.put(("outcome", number, (by_id[outcome.conversation_id], outcome))),
            )
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        messages.put(("failed", number, (type(exc).__name__, str(exc), traceback.format_exc())))
        return
    report = ProcessReport(meter.snapshot(), time.process_time() - started, workers, filled_at[0] if filled_at else None)
    messages.put(("done", number, report))
