"""Throughput of the real OpenAI client path, and what a conversation costs in calls and tokens.

A local OpenAI-compatible server (tests/fake_openai_server.py, in its own process so it does not
share the client's GIL; thread per connection) answers every role validly through the offline
default after a fixed delay. Part 1 measures achieved LLM calls/s at several concurrency limits
against the ideal ``concurrency / delay`` (cache off). Part 2 rolls out a small synthesis per
variant through ``OpenAIChatLLM`` and reports calls, HTTP requests and tokens per accepted
conversation (tokens are the server's estimate, about four characters a token).

    .venv/bin/python benchmarks/llm_bench.py
    .venv/bin/python benchmarks/llm_bench.py --concurrency 1 8 32 64 --delay 0.05 --repeat 3 --conversations 40
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthesis_bench import build_catalog  # noqa: E402
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM  # noqa: E402
from digit_assets.engine.synthesis.roles import INFER_OUTPUT_SCHEMA, OutputSchemaRequest  # noqa: E402
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter  # noqa: E402
from digit_assets.engine.synthesis.rollout import SynthesisSettings, synthesize  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer, offline_responder  # noqa: E402

VARIANTS = {"digit_tc": (True, True), "no_impl": (False, True), "no_bt": (True, False)}


def _serve(delay_s: float, repeat_first: bool, urls, stop) -> None:
    responder = offline_responder(delay_s=delay_s)
    if repeat_first:
        responder = _first_reply_repeated(responder)
    with FakeOpenAIServer(responder) as server:
        urls.put(server.base_url)
        stop.wait()


def _first_reply_repeated(responder):
    """The throughput requests all ask one role: its first valid answer serves them all, so the
    server's own CPU (it shares this machine's cores with the client) stays out of the figure."""
    first = []

    def respond(request):
        if not first:
            first.append(responder(request))
        return first[0]

    return respond


class ServerProcess:
    """The fake server in a child process, for as long as the ``with`` block lasts."""

    def __init__(self, delay_s: float, *, repeat_first: bool = False):
        context = multiprocessing.get_context("spawn")
        self._urls = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve, args=(delay_s, repeat_first, self._urls, self._stop), daemon=True
        )

    def __enter__(self) -> str:
        self._process.start()
        return self._urls.get(timeout=60)

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (Linux /proc), to show it is not the bottleneck."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)


def _llm(base_url: str, meter: UsageMeter | None = None) -> OpenAIChatLLM:
    return OpenAIChatLLM(model="bench-model", base_url=base_url, api_key="sk-bench", timeout_s=30.0, meter=meter)


def calls_per_second(base_url: str, concurrency: int, calls: int) -> tuple[float, float]:
    """Achieved calls/s and client CPU milliseconds per call, ``concurrency`` calls in flight."""
    llm = _llm(base_url)
    requests = [
        OutputSchemaRequest(tool_name=f"get_item_{i}", description="Get an item by id.", parameters={"type": "object"})
        for i in range(calls)
    ]

    def one(i: int) -> None:
        llm.call(INFER_OUTPUT_SCHEMA, requests[i], seed=i)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # open the connections first
        cpu, started = time.process_time(), time.perf_counter()
        list(pool.map(one, range(calls)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return calls / elapsed, 1000 * cpu / calls


def throughput(args: argparse.Namespace) -> None:
    print(f"LLM calls/s through OpenAIChatLLM, server delay {args.delay * 1000:.0f} ms, cache off, median of {args.repeat}")
    print("(client ceiling = 1000 / client CPU ms per call: what one GIL-bound client process can send)")
    header = ["concurrency", "ideal/s", "achieved/s", "ratio", "client CPU ms/call", "client ceiling/s", "server CPU ms/call"]
    print(" | ".join(header))
    server = ServerProcess(args.delay, repeat_first=True)
    with server as base_url:
        for concurrency in args.concurrency:
            calls = max(100, int(concurrency / args.delay * args.seconds))
            runs = []
            for _ in range(args.repeat):
                before = server.cpu_s()
                rate, cpu = calls_per_second(base_url, concurrency, calls)
                runs.append((rate, cpu, 1000 * (server.cpu_s() - before) / (calls + concurrency)))
            rate, cpu, server_cpu = (statistics.median(run[i] for run in runs) for i in range(3))
            ideal = concurrency / args.delay
            row = [concurrency, f"{ideal:.0f}", f"{rate:.1f}", f"{rate / ideal:.2f}", f"{cpu:.2f}", f"{1000 / cpu:.0f}", f"{server_cpu:.2f}"]
            print(" | ".join(str(value).rjust(len(name)) for value, name in zip(row, header)))


def cost_per_conversation(args: argparse.Namespace) -> None:
    catalog = build_catalog()
    print(f"\nLLM cost per accepted conversation ({args.conversations} attempted per variant, seed 2026, concurrency 8)")
    print(f"{'variant':>8} | {'accepted':>8} | {'calls':>6} | {'requests':>8} | {'calls/acc':>9} | {'tokens/acc':>10} | {'prompt/acc':>10} | {'compl./acc':>10}")
    with ServerProcess(0.0) as base_url:
        for variant, (hidden, back_translation) in VARIANTS.items():
            meter = UsageMeter()
            settings = SynthesisSettings(hidden_calls=hidden, back_translation=back_translation)
            outcomes = synthesize(
                catalog, MeteredLLM(_llm(base_url, meter), meter), settings, base_seed=2026, indices=range(args.conversations), workers=8
            )
            accepted = sum(o.accepted for o in outcomes)
            totals = meter.snapshot().totals()
            tokens = totals["prompt_tokens"] + totals["completion_tokens"]
            per = accepted or 1
            print(
                f"{variant:>8} | {accepted:>8} | {totals['calls']:>6} | {totals['requests']:>8} | "
                f"{totals['calls'] / per:>9.1f} | {tokens / per:>10.0f} | {totals['prompt_tokens'] / per:>10.0f} | "
                f"{totals['completion_tokens'] / per:>10.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", nargs="*", type=int, default=[1, 8, 32, 64])
    parser.add_argument("--delay", type=float, default=0.05, help="server delay per reply, seconds")
    parser.add_argument("--seconds", type=float, default=3.0, help="ideal duration of one measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=40, help="per variant, for the cost table")
    args = parser.parse_args()
    throughput(args)
    cost_per_conversation(args)


if __name__ == "__main__":
    main()
