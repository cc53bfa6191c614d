"""How busy the real OpenAI client path keeps a server, and what a conversation costs in calls and tokens.

A local OpenAI-compatible server (tests/fake_openai_server.py, in its own process so it does not
share the client's GIL) answers every role validly through the offline default. Part 1 rolls out
whole conversations with N in flight against a server that answers each request after a fixed
latency (default 200 ms) and reports accepted conversations per second against the ideal
``in-flight / (calls per accepted conversation x latency)``: the share of the time the N in-flight
slots had a request at the server. The server answers from a table it fills in a warm-up pass
(the same requests: synthesis is deterministic per seed and index), so its own CPU per reply is a
hash and a lookup and the figure measures the client. Part 2 reports calls, HTTP requests and
tokens per accepted conversation, per variant and per role (tokens are the server's estimate,
about four characters a token).

    .venv/bin/python benchmarks/llm_bench.py
    .venv/bin/python benchmarks/llm_bench.py --in-flight 16 64 256 --latency 0.2 --waves 2 --conversations 40
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthesis_bench import build_catalog  # noqa: E402
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM  # noqa: E402
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter  # noqa: E402
from digit_assets.engine.synthesis.rollout import SynthesisSettings, synthesize  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer, PrefixCache, Reply, offline_responder  # noqa: E402

VARIANTS = {"digit_tc": (True, True), "no_impl": (False, True), "no_bt": (True, False)}


def _serve(latency, urls, stop) -> None:
    responder = offline_responder(build_catalog(), prefix_cache=PrefixCache())  # the catalog the client's runs use
    with FakeOpenAIServer(_replaying(latency, responder)) as server:
        urls.put(server.base_url)
        stop.wait()


def _replaying(latency, inner):
    """Answers a request seen before from a table of encoded replies, after ``latency.value`` seconds;
    a new request through ``inner`` (the warm-up pass fills the table)."""
    table: dict[bytes, bytes] = {}

    def respond(request):
        key = hashlib.sha256(request.raw).digest()
        payload = table.get(key)
        if payload is None:
            reply = inner(request)
            if reply.status != 200:
                return reply
            payload = table.setdefault(key, json.dumps(reply.body).encode())
        return Reply(body=payload, headers={"Content-Type": "application/json"}, delay_s=latency.value)

    return respond


class ServerProcess:
    """The fake server in a child process, for as long as the ``with`` block lasts."""

    def __init__(self, latency_s: float = 0.0):
        context = multiprocessing.get_context("spawn")
        self._urls = context.Queue()
        self._stop = context.Event()
        self.latency = context.Value("d", latency_s)
        self._process = context.Process(target=_serve, args=(self.latency, self._urls, self._stop), daemon=True)

    def __enter__(self) -> "ServerProcess":
        self._process.start()
        self.base_url = self._urls.get(timeout=60)
        return self

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (Linux /proc), to show it is not the bottleneck."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)


def _llm(base_url: str, meter: UsageMeter | None = None) -> OpenAIChatLLM:
    return OpenAIChatLLM(model="bench-model", base_url=base_url, api_key="sk-bench", timeout_s=30.0, meter=meter)


def _rollout(base_url: str, catalog, settings: SynthesisSettings, conversations: int, workers: int):
    meter = UsageMeter()
    with _llm(base_url, meter) as llm:
        cpu, started = time.process_time(), time.perf_counter()
        outcomes = synthesize(
            catalog, MeteredLLM(llm, meter), settings, base_seed=2026, indices=range(conversations), workers=workers
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return outcomes, meter.snapshot(), elapsed, cpu


def in_flight(args: argparse.Namespace) -> None:
    """Accepted DiGiT-TC conversations per second with N in flight, against the ideal."""
    catalog = build_catalog()
    settings = SynthesisSettings()
    print(
        f"DiGiT-TC conversations through OpenAIChatLLM, server latency {args.latency * 1000:.0f} ms, cache off, "
        f"{args.waves} conversations per in-flight slot, median of {args.repeat}"
    )
    header = ["in flight", "conversations", "accepted/s", "ideal/s", "efficiency", "calls/accepted", "client CPU ms/call", "server CPU ms/call"]
    print(" | ".join(header))
    with ServerProcess(0.0) as server:
        largest = max(args.in_flight) * args.waves
        _rollout(server.base_url, catalog, settings, largest, workers=32)  # warm-up: the server's table
        server.latency.value = args.latency
        for slots in args.in_flight:
            conversations = slots * args.waves
            runs = []
            for _ in range(args.repeat):
                before = server.cpu_s()
                outcomes, usage, elapsed, cpu = _rollout(server.base_url, catalog, settings, conversations, workers=slots)
                requests = usage.totals()["requests"]
                accepted = sum(o.accepted for o in outcomes)
                ideal = slots / (requests / accepted * args.latency)
                runs.append(
                    (accepted / elapsed, ideal, requests / accepted, 1000 * cpu / requests, 1000 * (server.cpu_s() - before) / requests)
                )
            rate, ideal, per, client, server_cpu = (statistics.median(run[i] for run in runs) for i in range(5))
            row = [slots, conversations, f"{rate:.2f}", f"{ideal:.2f}", f"{rate / ideal:.2f}", f"{per:.1f}", f"{client:.2f}", f"{server_cpu:.2f}"]
            print(" | ".join(str(value).rjust(len(name)) for value, name in zip(row, header)), flush=True)


def cost_per_conversation(args: argparse.Namespace) -> None:
    catalog = build_catalog()
    print(f"\nLLM cost per accepted conversation ({args.conversations} attempted per variant, seed 2026, 8 in flight)")
    print("(a prefix cache in the server, blocks of 256 characters, reports the prompt tokens it would serve: 'cached')")
    print(f"{'variant':>8} | {'accepted':>8} | {'calls':>6} | {'requests':>8} | {'calls/acc':>9} | {'tokens/acc':>10} | {'prompt/acc':>10} | {'cached/acc':>10} | {'compl./acc':>10}")
    by_role = {}
    for variant, (hidden, back_translation) in VARIANTS.items():
        settings = SynthesisSettings(hidden_calls=hidden, back_translation=back_translation)
        with ServerProcess(0.0) as server:  # a fresh prefix cache per variant
            outcomes, usage, _, _ = _rollout(server.base_url, catalog, settings, args.conversations, workers=8)
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
    parser.add_argument("--waves", type=int, default=2, help="conversations per in-flight slot")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=40, help="per variant, for the cost table")
    parser.add_argument("--skip", choices=["in-flight", "cost"], nargs="*", default=[])
    args = parser.parse_args()
    if "in-flight" not in args.skip:
        in_flight(args)
    if "cost" not in args.skip:
        cost_per_conversation(args)


if __name__ == "__main__":
    main()
