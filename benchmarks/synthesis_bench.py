"""Throughput and peak memory of DiGiT-TC synthesis on the embedded offline LLM, one core.

Builds the tool catalog from the shipped spec files in memory (ingest -> enrich -> data-flow
graph), then rolls out N conversations per size in a fresh subprocess each (so the peak resident
memory of one size is not inherited by the next) and prints accepted conversations per second.

    .venv/bin/python benchmarks/synthesis_bench.py            # 1k and 10k conversations
    .venv/bin/python benchmarks/synthesis_bench.py 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from digit_assets import settings
from digit_assets.engine.dataflow import build_dataflow_graph, graph_edges
from digit_assets.engine.enrich import enrich_tools
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.ingest.directory import list_spec_files
from digit_assets.engine.offline.dispatch import default_offline_llm
from digit_assets.engine.synthesis.rollout import Catalog, SynthesisSettings, synthesize


def build_catalog() -> Catalog:
    root = settings.specs_dir()
    specs = [tool for source in list_spec_files(root) for tool in ingest_file(root / source, root).tools]
    enriched, _ = enrich_tools(specs, default_offline_llm(), seed=7)
    return Catalog.build(enriched, graph_edges(build_dataflow_graph(enriched)))


def measure(conversations: int, variant: str) -> dict[str, float]:
    catalog = build_catalog()
    hidden, back_translation = {"digit_tc": (True, True), "no_impl": (False, True), "no_bt": (True, False)}[variant]
    knobs = SynthesisSettings(hidden_calls=hidden, back_translation=back_translation)
    llm = default_offline_llm()
    started = time.perf_counter()
    outcomes = synthesize(catalog, llm, knobs, base_seed=2026, indices=range(conversations))
    elapsed = time.perf_counter() - started
    accepted = sum(o.accepted for o in outcomes)
    return {
        "conversations": conversations,
        "accepted": accepted,
        "seconds": elapsed,
        "accepted_per_s": accepted / elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median is reported")
    parser.add_argument("--variant", default="digit_tc", choices=["digit_tc", "no_impl", "no_bt"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.variant)))
        return
    print(f"variant={args.variant}, offline LLM, one process per run (single core)")
    print(f"{'conversations':>13} {'accepted':>9} {'seconds':>8} {'accepted/s':>11} {'peak RSS MB':>12}")
    for size in args.sizes:
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--child", str(size), "--variant", args.variant],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip().splitlines()[-1]
            )
            for _ in range(args.repeat)
        ]
        rate = statistics.median(r["accepted_per_s"] for r in runs)
        pick = min(runs, key=lambda r: abs(r["accepted_per_s"] - rate))
        print(
            f"{size:>13} {pick['accepted']:>9} {pick['seconds']:>8.1f} {rate:>11.1f} {max(r['peak_rss_mb'] for r in runs):>12.0f}"
        )


if __name__ == "__main__":
    main()
