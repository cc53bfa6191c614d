"""Property tests: whatever the bytes, every spec format and every importer ends each input accepted or
quarantined with a reason, never crashes, and stays within bounded memory. Few examples here;
``scripts/fuzz.py`` runs the long campaign over the same targets."""

from __future__ import annotations

import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_targets import SPEC_SUFFIXES, baseline_inputs, baseline_names, check_baselines, check_spec, spec_inputs

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PEAK_LIMIT = 64_000_000  # bytes traced while one small input is read


def _bounded(check, *args) -> None:
    tracemalloc.start()
    try:
        check(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{peak:,} bytes traced"


@FAST
@given(data=spec_inputs, suffix=st.sampled_from(SPEC_SUFFIXES))
def test_any_spec_file_is_accepted_or_quarantined(data: bytes, suffix: str) -> None:
    _bounded(check_spec, data, suffix)


@FAST
@given(files=st.dictionaries(baseline_names, baseline_inputs, min_size=1, max_size=2))
def test_any_baseline_directory_imports_or_rejects_with_reasons(files: dict[str, bytes]) -> None:
    _bounded(check_baselines, files)
