"""A longer fuzz campaign over every spec format and every importer; prints inputs tried, crashes and memory.

    .venv/bin/python scripts/fuzz.py --seconds 180

Draws inputs from the strategies the property tests use (``tests/fuzz_targets.py``): random bytes,
generated documents in each syntax, and mutated shipped files. A crash is any exception or broken
promise (an input neither accepted nor quarantined with a reason); each is printed with its input.
Peak traced memory per input and the process's maximum resident size are reported. Exit code 1 when
anything crashed.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import traceback
import tracemalloc
import warnings
from pathlib import Path

from hypothesis.errors import NonInteractiveExampleWarning

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_targets import (  # noqa: E402 - the tests directory is on the path only now
    BASELINE_NAMES,
    SPEC_SUFFIXES,
    baseline_inputs,
    check_baselines,
    check_spec,
    spec_inputs,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long to run (default 180)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    rng = random.Random(args.seed)
    tried = {"spec": 0, "baseline": 0}
    crashes: list[str] = []
    peak_bytes = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        if rng.random() < 0.6:
            target, data, suffix = "spec", spec_inputs.example(), rng.choice(SPEC_SUFFIXES)
            check, arguments, shown = check_spec, (data, suffix), f"{suffix} {data[:300]!r}"
        else:
            files = {rng.choice(BASELINE_NAMES): baseline_inputs.example() for _ in range(rng.randint(1, 2))}
            target, check, arguments, shown = "baseline", check_baselines, (files,), repr({k: v[:300] for k, v in files.items()})
        tried[target] += 1
        tracemalloc.start()
        try:
            check(*arguments)
        except BaseException as error:  # noqa: BLE001 - every failure is a finding
            if isinstance(error, KeyboardInterrupt):
                raise
            where = traceback.format_exc(limit=-3)
            crashes.append(f"{target} input {shown}\n{where}")
            print(f"CRASH ({target}): {type(error).__name__}: {str(error)[:200]}\n  input: {shown}\n{where}", flush=True)
        finally:
            peak_bytes = max(peak_bytes, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = sum(tried.values())
    print(
        f"inputs tried: {total} (spec files {tried['spec']}, baseline directories {tried['baseline']}) in {args.seconds:.0f}s; "
        f"crashes: {len(crashes)}; peak traced memory per input {peak_bytes / 1e6:.1f} MB; process max RSS {max_rss_mb:.0f} MB"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
