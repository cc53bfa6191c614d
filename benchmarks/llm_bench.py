"""How busy the real OpenAI client path keeps a server, and what a conversation costs in calls and tokens.

A local OpenAI-compatible server (benchmarks/replay_server.py: raw HTTP on asyncio in its own
process, so it shares neither the client's GIL nor its CPU accounting) answers every role validly
through the offline default. Part 1 rolls out whole conversations with N in flight against a server
that answers each request after a fixed latency (default 200 ms) and reports accepted conversations
per second against the ideal ``in-flight / (calls per accepted conversation x latency)``: the share
of the time the N in-flight slots had a request at the server. The rate is taken over the steady
window, while every slot has a conversation (from the moment the last client process to start has
filled its slots until the last conversation begins), so neither the client processes' start-up,
one after another, nor the ramp-down tail of the longest conversations weighs in; the whole run's
rate, end to end, is printed beside it. The server answers from a table of pre-serialized
responses it fills in a warm-up pass (the same requests: synthesis is deterministic per seed and index), so its own CPU
per reply is a hash and a write and the figure measures the client.

CPU per call comes from the processes' CPU times (robust to load, unlike wall time), and the CPU
ceiling is what they allow on an idle machine: each client process is one core under its GIL (with
``--processes N`` the conversations are spread over N, as ``DIGIT_TC_LLM_PROCESSES`` does), client
and server share the machine's cores, so calls/s <= min(N / client, cores / (client + server)).
Part 2 reports calls, HTTP requests and tokens per accepted conversation, per variant and per role
(tokens are the server's estimate, about four characters a token).

    .venv/bin/python benchmarks/llm_bench.py
    .venv/bin/python benchmarks/llm_bench.py --in-flight 16 64 256 --latency 0.2 --waves 3 --conversations 40
    .venv/bin/python benchmarks/llm_bench.py --skip cost --processes 2
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.replay_server import ReplayServerProcess  # noqa: E402
from benchmarks.synthesis_bench import build_catalog  # noqa: E402
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM, OpenAIChatSettings  # noqa: E402
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter  # noqa: E402
from digit_assets.engine.ports import PortRecipe  # noqa: E402
from digit_assets.engine.synthesis.processes import noting_when_filled, synthesize_in_processes  # noqa: E402
from digit_assets.engine.synthesis.rollout import SynthesisSettings, synthesize  # noqa: E402
from digit_assets.store.llm_cache import CachedPorts  # noqa: E402
from tests.fake_openai_server import PrefixCache, offline_responder  # noqa: E402

VARIANTS = {"digit_tc": (True, True), "no_impl": (False, True), "no_bt": (True, False)}


def _offline_responder():
    """The server's answers (built in the server process: a picklable factory)."""
    return offline_responder(build_catalog(), prefix_cache=PrefixCache())  # the catalog the client's runs use


def _settings(base_url: str) -> OpenAIChatSettings:
    return OpenAIChatSettings(model="bench-model", base_url=base_url, api_key="sk-bench", timeout_s=30.0)


class _Arrivals:
    """The server's count of requests received over time, sampled in a thread every 10 ms for as long
    as the ``with`` block lasts (the server publishes the count every 20 ms)."""

    def __init__(self, server: ReplayServerProcess):
        self._server = server
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._samples.append((time.time(), self._server.received))
            time.sleep(0.01)

    def __enter__(self) -> "_Arrivals":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float) -> int:
        """Requests received by ``when`` (the last sample taken by then)."""
        position = bisect.bisect_right(self._samples, when, key=lambda sample: sample[0])
        return self._samples[position - 1][1] if position else self._samples[0][1]


def _rollout(
    server: ReplayServerProcess, catalog, settings: SynthesisSettings, conversations: int, workers: int,
    processes: int = 1, steady_after: int | None = None,
):
    """Outcomes, usage, wall seconds, client CPU seconds (every client process's); with ``steady_after``,
    also the steady window: its seconds, from the moment every slot has a conversation (the last
    client process to start has filled its slots) until that many conversations had finished, and
    the requests the server received in it."""
    meter = UsageMeter()
    ended: list[float] = []
    filled_at: list[float] = []
    finished = itertools.count(1)
    cpu, started = time.process_time(), time.perf_counter()

    def on_outcome(_outcome) -> None:
        if next(finished) == steady_after:  # count's next() is atomic under the GIL
            ended.append(time.time())

    with _Arrivals(server) as arrivals:
        if processes > 1:
            outcomes, reports = synthesize_in_processes(
                catalog, CachedPorts(PortRecipe(default=_settings(server.base_url))), settings, base_seed=2026,
                indices=range(conversations), processes=processes, workers=workers, meter=meter, on_outcome=on_outcome,
            )
            children = sum(report.cpu_s for report in reports)
            filled_at += [report.slots_filled_at for report in reports]
        else:
            with OpenAIChatLLM(_settings(server.base_url), meter=meter) as llm:
                outcomes = synthesize(
                    catalog, MeteredLLM(llm, meter), settings, base_seed=2026,
                    indices=noting_when_filled(range(conversations), workers, filled_at), workers=workers, on_outcome=on_outcome,
                )
            children = 0.0
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu + children
    if not ended or not filled_at or None in filled_at:
        return outcomes, meter.snapshot(), elapsed, cpu, None
    first = max(filled_at)
    return outcomes, meter.snapshot(), elapsed, cpu, (ended[0] - first, arrivals.at(ended[0]) - arrivals.at(first))


def in_flight(args: argparse.Namespace) -> None:
    """Accepted DiGiT-TC conversations per second with N in flight, against the ideal."""
    catalog = build_catalog()
    settings = SynthesisSettings()
    cores = os.cpu_count() or 1
    print(
        f"DiGiT-TC conversations through OpenAIChatLLM, server latency {args.latency * 1000:.0f} ms, cache off, "
        f"{args.waves} conversations per in-flight slot, median of {args.repeat}, {cores} cores, "
        f"{args.processes} client process{'es' if args.processes > 1 else ''}"
    )
    header = [
        "in flight", "conv.", "accepted/s", "ideal/s", "efficiency", "eff. range", "whole run", "CPU ceiling", "calls/acc",
        "tokens/acc", "client ms/call", "server ms/call", "peak at server", "load 1m",
    ]
    print(" | ".join(header))
    with ReplayServerProcess(_offline_responder) as server:
        largest = max(args.in_flight) * args.waves
        started = time.perf_counter()
        _rollout(server, catalog, settings, largest, workers=32)  # warm-up: the server's table
        print(f"(warm-up: {largest} conversations in {time.perf_counter() - started:.0f} s, {server.misses} requests answered)")
        warmed = server.misses
        server.latency.value = args.latency
        for slots in args.in_flight:
            conversations = slots * args.waves
            runs = []
            for _ in range(args.repeat):
                server.reset()
                before = server.cpu_s()
                outcomes, usage, elapsed, cpu, steady = _rollout(
                    server, catalog, settings, conversations, workers=slots, processes=args.processes,
                    steady_after=conversations - slots + 1,
                )
                totals = usage.totals()
                requests, accepted = totals["requests"], sum(o.accepted for o in outcomes)
                per = requests / accepted
                ideal = slots / (per * args.latency)
                steady_s, sent = steady
                answered = sent - slots  # each slot has at most one request at the server
                client, server_cpu = cpu / requests, (server.cpu_s() - before) / requests
                ceiling = min(args.processes / client, cores / (client + server_cpu)) / per
                runs.append((
                    answered / steady_s / per, ideal, accepted / elapsed / ideal, ceiling / ideal, per,
                    (totals["prompt_tokens"] + totals["completion_tokens"]) / accepted, 1000 * client, 1000 * server_cpu,
                    server.peak_since_reset(), os.getloadavg()[0],
                ))
            rate, ideal, whole, ceiling, per, tokens, client, server_cpu, peak, load = (
                statistics.median(run[i] for run in runs) for i in range(10)
            )
            spread = [run[0] / run[1] for run in runs]
            row = [
                slots, conversations, f"{rate:.2f}", f"{ideal:.2f}", f"{rate / ideal:.2f}", f"{min(spread):.2f}-{max(spread):.2f}", f"{whole:.2f}", f"{min(1.0, ceiling):.2f}",
                f"{per:.1f}", f"{tokens:,.0f}", f"{client:.2f}", f"{server_cpu:.2f}", f"{peak:.0f}", f"{load:.1f}",
            ]
            print(" | ".join(str(value).rjust(len(name)) for value, name in zip(row, header)), flush=True)
        if server.misses > warmed:
            print(f"note: {server.misses - warmed} requests missed the warm-up table (answered by the offline engine)")
    print(
        "accepted/s and efficiency: the steady window (every slot busy), the median of the repeats, eff. range: "
        "their lowest and highest; whole run: end to end, tail included; "
        "CPU ceiling: the efficiency the measured CPU per call allows on an idle machine; load 1m: the machine's "
        "load average after the run; peak at server: the most requests waiting at the server at once"
    )


def cost_per_conversation(args: argparse.Namespace) -> None:
    catalog = build_catalog()
    print(f"\nLLM cost per accepted conversation ({args.conversations} attempted per variant, seed 2026, 8 in flight)")
    print("(a prefix cache in the server, blocks of 256 characters, reports the prompt tokens it would serve: 'cached')")
    print(f"{'variant':>8} | {'accepted':>8} | {'calls':>6} | {'requests':>8} | {'calls/acc':>9} | {'tokens/acc':>10} | {'prompt/acc':>10} | {'cached/acc':>10} | {'compl./acc':>10}")
    by_role = {}
    for variant, (hidden, back_translation) in VARIANTS.items():
        settings = SynthesisSettings(hidden_calls=hidden, back_translation=back_translation)
        with ReplayServerProcess(_offline_responder) as server:  # a fresh prefix cache per variant
            outcomes, usage, _, _, _ = _rollout(server, catalog, settings, args.conversations, workers=8)
        accepted = sum(o.accepted for o in outcomes)
        totals = usage.totals()
        tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        per = accepted or 1
        by_role[variant] = (usage, per)
        print(
            f"{variant:>8} | {accepted:>8} | {totals['calls']:>6} | {totals['requests']:>8} | "
            f"{totals['calls'] / per:>9.1f} | {tokens / per:>10.0f} | {totals['prompt_tokens'] / per:>10.0f} | "
            f"{totals['cached_prompt_tokens'] / per:>10.0f} | {totals['completion_tokens'] / per:>10.0f}"
        )
    print("\nPer role: calls / tokens (prompt + completion) / cached prompt tokens per accepted conversation")
    roles = sorted({role for usage, _ in by_role.values() for role in usage.by_role})
    print(f"{'role':>20} | " + " | ".join(f"{variant:>24}" for variant in by_role))
    for role in roles:
        cells = []
        for usage, per in by_role.values():
            calls = usage.get(role, "calls") / per
            tokens = (usage.get(role, "prompt_tokens") + usage.get(role, "completion_tokens")) / per
            cached = usage.get(role, "cached_prompt_tokens") / per
            cells.append(f"{calls:5.1f} / {tokens:6.0f} / {cached:6.0f}")
        print(f"{role:>20} | " + " | ".join(f"{cell:>24}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", nargs="*", type=int, default=[16, 64, 256])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per reply, seconds")
    parser.add_argument("--waves", type=int, default=3, help="conversations per in-flight slot")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="client processes sharing the conversations in flight")
    parser.add_argument("--conversations", type=int, default=40, help="per variant, for the cost table")
    parser.add_argument("--skip", choices=["in-flight", "cost"], nargs="*", default=[])
    args = parser.parse_args()
    if "in-flight" not in args.skip:
        in_flight(args)
    if "cost" not in args.skip:
        cost_per_conversation(args)


if __name__ == "__main__":
    main()
