"""Wall time and peak memory of the fidelity analysis (features + divergences with bootstrap) at scale.

The flat ``conversations`` / ``calls`` / ``edges`` tables are synthesized directly with numpy and
polars (generating 1M conversations through the LLM pipeline is not the point here): five groups of
equal size, the three synthesis variants and two baselines, each with its own turn, call, error,
discovery and data-flow rates, so every divergence has something to measure. The tables are written
to Parquet by one subprocess and every measured run loads them in a fresh one, so the peak resident
memory covers loading the flat tables plus the analysis, not their generation. Extraction is
timed separately on chat records shaped like real ones (JSON arguments and outputs, ids flowing from
results into later calls, errors, several turns).

    .venv/bin/python benchmarks/fidelity_bench.py                  # 100k and 1M (median of 3), 20k records
    .venv/bin/python benchmarks/fidelity_bench.py 100000 --repeat 1 --extract 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analytics.divergence import DivergenceSettings, analyze
from analytics.extract import FlatTables, extract
from analytics.features import compute_features


@dataclass(frozen=True)
class GroupShape:
    """How one synthetic group's conversations are distributed."""

    variant: str
    source: str
    extra_turns: float
    calls_per_turn: float
    link_rate: float
    second_link_rate: float
    discovered_rate: float
    error_rate: float
    write_bias: float


GROUPS: tuple[GroupShape, ...] = (
    GroupShape("digit_tc", "digit_tc", 1.2, 2.4, 0.85, 0.25, 0.55, 0.06, 0.35),
    GroupShape("no_impl", "digit_tc", 1.2, 1.6, 0.55, 0.05, 0.15, 0.06, 0.45),
    GroupShape("no_bt", "digit_tc", 1.2, 2.6, 0.75, 0.30, 0.50, 0.08, 0.35),
    GroupShape("tau_search", "stateful_search", 1.4, 2.5, 0.80, 0.20, 0.60, 0.10, 0.30),
    GroupShape("imported", "import", 0.9, 2.2, 0.70, 0.15, 0.50, 0.12, 0.40),
)
DOMAINS = 8
TOOLS_PER_DOMAIN = 14
TABLES = ("conversations", "calls", "edges")
COLUMNS = ("conversations", "calls", "edges", "rows", "features s", "diverg. s", "total s", "loaded MB", "peak RSS MB")
WIDTHS = (13, 9, 9, 5, 10, 9, 8, 9, 11)


def synthetic_tables(n_conversations: int, seed: int = 0) -> FlatTables:
    """Flat tables of ``n_conversations`` conversations split evenly over :data:`GROUPS`."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_conversations) * len(GROUPS) // n_conversations
    rates = [name for name in GroupShape.__dataclass_fields__ if name not in ("variant", "source")]
    shape = {name: np.array([getattr(g, name) for g in GROUPS])[group] for name in rates}
    domain = rng.integers(0, DOMAINS, n_conversations)
    turns = 1 + rng.poisson(shape["extra_turns"])
    turn_conv = np.repeat(np.arange(n_conversations), turns)
    turn_index = np.arange(turn_conv.size) - np.repeat(np.cumsum(turns) - turns, turns)
    calls_in_turn = rng.poisson(shape["calls_per_turn"][turn_conv]) + (rng.random(turn_conv.size) < 0.9)
    conv = np.repeat(turn_conv, calls_in_turn)
    turn = np.repeat(turn_index, calls_in_turn)
    n_calls = np.bincount(conv, minlength=n_conversations)
    first_call = np.cumsum(n_calls) - n_calls
    position = np.arange(conv.size) - first_call[conv]
    popularity = rng.zipf(1.6, conv.size) % TOOLS_PER_DOMAIN
    tool_index = np.where(rng.random(conv.size) < shape["write_bias"][conv], popularity | 1, popularity & ~1)
    is_error = rng.random(conv.size) < shape["error_rate"][conv]
    n_args = 1 + rng.poisson(1.0, conv.size)
    informative = np.minimum(n_args, 1 + rng.poisson(0.8, conv.size))
    discovered = (rng.random(conv.size) < shape["discovered_rate"][conv]) & (position > 0)
    in_user_text = np.where(discovered, rng.integers(0, informative), informative)
    edges = _synthetic_edges(rng, conv, position, first_call, shape)
    from_outputs = np.minimum(np.bincount(edges["consumer_index"], minlength=conv.size), informative)
    ids = pl.Series("conversation_id", np.arange(n_conversations)).cast(pl.String).str.zfill(8)
    conversations = pl.DataFrame(
        {
            "conversation_id": ids,
            "source": pl.Series([g.source for g in GROUPS]).gather(group),
            "variant": pl.Series([g.variant for g in GROUPS]).gather(group),
            "domain": pl.Series([f"domain_{d}" for d in range(DOMAINS)]).gather(domain),
            "n_turns": turns.astype(np.int32),
            "n_calls": n_calls.astype(np.int32),
            "n_results": n_calls.astype(np.int32),
            "has_user_text": np.ones(n_conversations, dtype=bool),
        }
    )
    calls = pl.DataFrame(
        {
            "conversation_id": ids.gather(conv),
            "source": conversations["source"].gather(conv),
            "variant": conversations["variant"].gather(conv),
            "domain": conversations["domain"].gather(conv),
            "turn": turn.astype(np.int32),
            "position": position.astype(np.int32),
            "tool": pl.Series([f"tool_{t}" for t in range(TOOLS_PER_DOMAIN)]).gather(tool_index),
            "is_error": is_error,
            "is_write": (tool_index & 1).astype(bool),
            "arg_signature": (tool_index // 2).astype(np.uint32),
            "n_args": n_args.astype(np.int32),
            "n_args_informative": informative.astype(np.int32),
            "n_args_in_user_text": in_user_text.astype(np.int32),
            "n_args_from_outputs": from_outputs.astype(np.int32),
            "n_args_from_outputs_only": np.minimum(from_outputs, informative - in_user_text).astype(np.int32),
        }
    )
    edge_frame = pl.DataFrame(
        {
            "conversation_id": ids.gather(conv[edges["consumer_index"]]),
            "producer": edges["producer"].astype(np.int32),
            "consumer": position[edges["consumer_index"]].astype(np.int32),
            "producer_turn": turn[edges["producer_index"]].astype(np.int32),
            "consumer_turn": turn[edges["consumer_index"]].astype(np.int32),
            "cross_turn": turn[edges["producer_index"]] < turn[edges["consumer_index"]],
            "n_shared_values": np.ones(edges["producer"].size, dtype=np.int32),
        }
    )
    return FlatTables(conversations, calls, edge_frame)


def _synthetic_edges(
    rng: np.random.Generator,
    conv: np.ndarray,
    position: np.ndarray,
    first_call: np.ndarray,
    shape: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Each later call consumes, with its group's rates, a recent earlier output (sometimes a second one)."""
    consumers, producers = [], []
    for rate in (shape["link_rate"][conv], shape["second_link_rate"][conv]):
        linked = np.flatnonzero((position > 0) & (rng.random(conv.size) < rate))
        back = 1 + np.minimum(rng.geometric(0.6, linked.size) - 1, position[linked] - 1)
        consumers.append(linked)
        producers.append(position[linked] - back)
    pairs = np.unique(np.concatenate(consumers) * 2**16 + np.concatenate(producers))
    consumer_index, producer = pairs // 2**16, pairs % 2**16
    return {
        "consumer_index": consumer_index,
        "producer": producer,
        "producer_index": first_call[conv[consumer_index]] + producer,
    }


_TOOLS = ("list_orders", "get_order_details", "cancel_order", "update_address", "search_products", "send_email")


def real_shaped_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Chat records shaped like the pipeline's: ids from results feed later calls, some calls fail."""
    rng = random.Random(seed)
    return [_record(f"r{index:07d}", rng) for index in range(n)]


def _record(conversation_id: str, rng: random.Random) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    known_ids: list[str] = []
    for turn in range(rng.randint(1, 4)):
        email = f"user{rng.randint(1000, 9999)}@example.com"
        day = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        messages.append({"role": "user", "content": f"Turn {turn}: handle the account {email} and the order of {day}."})
        for _ in range(rng.randint(1, 4)):
            call_id = f"call_{len(messages)}"
            name = rng.choice(_TOOLS)
            arguments: dict[str, Any] = {"email": email, "limit": 10}
            if known_ids and rng.random() < 0.8:
                arguments["order_id"] = rng.choice(known_ids)
            function = {"name": name, "arguments": json.dumps(arguments)}
            tool_call = {"id": call_id, "type": "function", "function": function}
            messages.append({"role": "assistant", "content": None, "tool_calls": [tool_call]})
            if rng.random() < 0.08:
                content = "Error: no order matches that reference; use the one from the earlier result."
            else:
                known_ids.append(f"ORD-{rng.randint(10000, 99999)}")
                item = {"sku": f"SKU-{rng.randint(100, 999)}", "qty": 1}
                total = round(rng.uniform(5, 500), 2)
                content = json.dumps({"order_id": known_ids[-1], "status": "placed", "total": total, "items": [item]})
            messages.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": content})
        messages.append({"role": "assistant", "content": "All done for this request."})
    return {
        "conversation_id": conversation_id, "source": "digit_tc", "variant": "digit_tc", "domain": "shop",
        "messages": json.dumps(messages), "tools": "[]",
    }


def generate(size: int, directory: Path) -> dict[str, float]:
    """Synthesize the flat tables of ``size`` conversations into Parquet files (the stored tables)."""
    started = time.perf_counter()
    tables = synthetic_tables(size, seed=size)
    for name in TABLES:
        getattr(tables, name).write_parquet(directory / f"{name}.parquet")
    return {"generate_s": time.perf_counter() - started, "calls": tables.calls.height, "edges": tables.edges.height}


def measure(directory: Path, n_bootstrap: int) -> dict[str, float]:
    """Load the flat tables, then time features and divergences; peak RSS covers all three."""
    tables = FlatTables(*(pl.read_parquet(directory / f"{name}.parquet") for name in TABLES))
    loaded_rss = _rss_mb()
    started = time.perf_counter()
    features = compute_features(tables)
    featured = time.perf_counter()
    results = analyze(features, settings=DivergenceSettings(n_bootstrap=n_bootstrap))
    finished = time.perf_counter()
    return {
        "divergence_rows": results.divergences.height,
        "features_s": featured - started,
        "divergences_s": finished - featured,
        "analysis_s": finished - started,
        "loaded_rss_mb": loaded_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def measure_extraction(n: int) -> dict[str, float]:
    records = real_shaped_records(n)
    started = time.perf_counter()
    tables = extract(records)
    elapsed = time.perf_counter() - started
    return {
        "records": n, "calls": tables.calls.height, "edges": tables.edges.height,
        "seconds": elapsed, "records_per_s": n / elapsed,
    }


def _child(arguments: list[str]) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, *arguments], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median analysis time is reported")
    parser.add_argument("--bootstrap", type=int, default=DivergenceSettings().n_bootstrap, help="bootstrap resamples")
    parser.add_argument("--extract", type=int, default=20_000, help="real-shaped records to extract (0: skip)")
    parser.add_argument("--child-generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-measure", help=argparse.SUPPRESS)
    parser.add_argument("--child-extract", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_generate:
        print(json.dumps(generate(int(args.child_generate[0]), Path(args.child_generate[1]))))
        return
    if args.child_measure:
        print(json.dumps(measure(Path(args.child_measure), args.bootstrap)))
        return
    if args.child_extract is not None:
        print(json.dumps(measure_extraction(args.child_extract)))
        return
    print(
        f"features + divergences: {len(GROUPS)} groups ({len(GROUPS) - 2} variants x 2 baselines), raw and "
        f"length-controlled, pooled and per domain ({DOMAINS}), claims with permutation tests, "
        f"{args.bootstrap} bootstrap resamples, {os.cpu_count()} cores, one process per run, median of {args.repeat}"
    )
    print(" ".join(f"{name:>{width}}" for name, width in zip(COLUMNS, WIDTHS)))
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as directory:
            generated = _child(["--child-generate", str(size), directory])
            measure_args = ["--child-measure", directory, "--bootstrap", str(args.bootstrap)]
            runs = [_child(measure_args) for _ in range(args.repeat)]
        total = statistics.median(r["analysis_s"] for r in runs)
        pick = min(runs, key=lambda r: abs(r["analysis_s"] - total))
        cells = (
            size, generated["calls"], generated["edges"], pick["divergence_rows"], f"{pick['features_s']:.1f}",
            f"{pick['divergences_s']:.1f}", f"{total:.1f}", f"{pick['loaded_rss_mb']:.0f}",
            f"{max(r['peak_rss_mb'] for r in runs):.0f}",
        )
        print(" ".join(f"{cell:>{width}}" for cell, width in zip(cells, WIDTHS)))
    if args.extract:
        result = _child(["--child-extract", str(args.extract)])
        print(
            f"extraction: {result['records']} records ({result['calls']} calls, {result['edges']} edges) "
            f"in {result['seconds']:.1f} s = {result['records_per_s']:.0f} records/s"
        )


if __name__ == "__main__":
    main()
