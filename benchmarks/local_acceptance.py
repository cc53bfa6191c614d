"""Acceptance per stage of the real local model (SmolLM2-135M on llama.cpp), all roles local or mixed.

Serves the model as ``digit-tc local-run`` does, builds the library catalog (offline enrichment and
name-based data flow, so every attempt sees the same tools), then rolls out N conversations per
variant on the local run's short scenarios with the synthesis roles sent to the model, except
those ``--offline`` names, which go to the embedded offline engine. Prints per variant the
accepted share, and per stage how many attempts passed and failed, with the commonest reasons.
The variants share a response cache, as in the pipeline: a request an earlier variant sent with the
same seed (the ablations' plans, most simulations) is answered from it, which changes the cost only.

    .venv/bin/python benchmarks/local_acceptance.py --conversations 20
    .venv/bin/python benchmarks/local_acceptance.py --conversations 20 --offline write_request back_translate
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digit_assets.engine.llm.openai_chat import OpenAIChatLLM  # noqa: E402
from digit_assets.engine.llm.routing import RoutedLLM  # noqa: E402
from digit_assets.engine.llm.usage import MeteredLLM, UsageMeter  # noqa: E402
from digit_assets.engine.offline.dispatch import default_offline_llm  # noqa: E402
from digit_assets.engine.synthesis.rollout import SynthesisSettings, synthesize  # noqa: E402
from digit_assets.local_model import LOCAL_ROLE_TEMPERATURE, LOCAL_SYNTHESIS, fetch_model, local_catalog, local_server  # noqa: E402
from digit_assets.store.llm_cache import CachingLLM, ResponseCache  # noqa: E402

VARIANTS = {"digit_tc": (True, True), "no_impl": (False, True), "no_bt": (True, False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20, help="per variant")
    parser.add_argument("--offline", nargs="*", default=[], help="roles sent to the offline engine")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    catalog = local_catalog()
    with tempfile.TemporaryDirectory() as scratch, ResponseCache(Path(scratch) / "cache.duckdb") as cache, local_server(
        fetch_model(), parallel=args.parallel
    ) as server:
        print(f"local model at {server.base_url}; offline roles: {', '.join(args.offline) or 'none'}", flush=True)
        for variant in args.variants:
            hidden, back_translation = VARIANTS[variant]
            meter = UsageMeter()
            remote = OpenAIChatLLM(model=server.model, base_url=server.base_url, timeout_s=300, max_attempts=2, meter=meter)
            routes = {role: default_offline_llm() for role in args.offline}
            routes |= {
                role: OpenAIChatLLM(
                    model=server.model, base_url=server.base_url, timeout_s=300, max_attempts=2, meter=meter, temperature=value
                )
                for role, value in LOCAL_ROLE_TEMPERATURE.items()
                if role not in args.offline
            }
            llm = MeteredLLM(CachingLLM(RoutedLLM(remote, routes), cache, meter=meter), meter)
            started = time.perf_counter()
            outcomes = synthesize(
                catalog, llm, SynthesisSettings(hidden_calls=hidden, back_translation=back_translation, **LOCAL_SYNTHESIS),
                base_seed=2026, indices=range(args.conversations), workers=args.parallel,
            )
            elapsed = time.perf_counter() - started
            for port in [remote, *routes.values()]:
                if isinstance(port, OpenAIChatLLM):
                    port.close()
            report(variant, outcomes, meter, elapsed)


def report(variant: str, outcomes, meter: UsageMeter, elapsed: float) -> None:
    accepted = sum(o.accepted for o in outcomes)
    print(f"\n{variant}: {accepted}/{len(outcomes)} accepted ({elapsed:.0f}s)")
    passed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        for event in outcome.events:
            (passed if event.accepted else failed)[event.stage] += 1
            if not event.accepted:
                reasons.setdefault(event.stage, Counter())[event.reason[:110]] += 1
    print(f"  {'stage':<20} {'passed':>6} {'failed':>6}  commonest reasons (count)")
    for stage in sorted(set(passed) | set(failed), key=lambda s: -(passed[s] + failed[s])):
        common = reasons.get(stage, Counter()).most_common(3)
        print(f"  {stage:<20} {passed[stage]:>6} {failed[stage]:>6}  {common[0][0] + f' ({common[0][1]})' if common else ''}")
        for reason, count in common[1:]:
            print(f"  {'':<34}{reason} ({count})")
    usage = meter.snapshot()
    print(f"  {'role':<20} {'model':<10} {'calls':>5} {'cache':>5} {'failed':>6} {'repairs':>7} {'prompt':>7} {'cached':>7} {'completion':>10}")
    for row in usage.rows():
        model = "offline" if row["model"] == "offline" else "local"
        print(
            f"  {row['role']:<20} {model:<10} {row['calls']:>5} {row['cache_hits']:>5} {row['failures']:>6} {row['repairs']:>7} "
            f"{row['prompt_tokens']:>7} {row['cached_prompt_tokens']:>7} {row['completion_tokens']:>10}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
