"""The fidelity asset over a small real pipeline: tables, metadata, checks, and the dashboard in Chromium."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from browser import browser_page
from digit_assets.defs.baselines import checks as baseline_checks
from digit_assets.defs.baselines.assets import baseline_domains, imported_baselines, stateful_search_baselines
from digit_assets.defs.fidelity import checks as fidelity_checks
from digit_assets.defs.fidelity.assets import fidelity_analysis, realism_metrics
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.store import Store
from digit_assets.store.fidelity import FIDELITY_TABLES
from pipeline_helpers import build_catalog, check_results, checks_of, resources, synthesize_all_shards

FIDELITY_CHECKS = {
    "every_variant_compared_with_every_baseline",
    "divergences_in_range",
    "digit_tc_closer_than_no_impl",
    "not_applicable_comparisons_have_reasons",
    "dashboard_is_self_contained",
}


def materialize_fidelity(instance: dg.DagsterInstance, database: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [synthetic_conversations, stateful_search_baselines, imported_baselines, realism_metrics, fidelity_analysis, *checks_of(fidelity_checks)],
        selection=dg.AssetSelection.assets(fidelity_analysis),
        run_config={"ops": {"fidelity_analysis": {"config": {"n_bootstrap": 50, "permutation_resamples": 199}}}},
        instance=instance,
        resources=resources(database),
    )


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("fidelity")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(root / "data"))
    database = root / "data" / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    build_catalog(instance, database, Path(__file__).parents[1] / "specs")
    synthesize_all_shards(instance, database, conversations=80)
    for domain in baseline_domains.get_partition_keys():
        dg.materialize(
            [stateful_search_baselines, imported_baselines, *checks_of(baseline_checks)],
            selection=dg.AssetSelection.assets(stateful_search_baselines),
            partition_key=domain,
            run_config={"ops": {"stateful_search_baselines": {"config": {"conversations": 40, "max_attempts": 80}}}},
            instance=instance,
            resources=resources(database),
        )
    dg.materialize(
        [stateful_search_baselines, imported_baselines],
        selection=dg.AssetSelection.assets(imported_baselines),
        instance=instance,
        resources=resources(database),
    )
    first = materialize_fidelity(instance, database)
    second = materialize_fidelity(instance, database)
    yield {"database": database, "first": first, "second": second, "data": root / "data"}
    monkeypatch.undo()


def test_tables_hold_one_analysis_with_every_pair(analysed):
    with Store(analysed["database"]).connect() as conn:
        counts = {table: conn.execute(f"SELECT count(*), count(DISTINCT run_id) FROM {table}").fetchone() for table in FIDELITY_TABLES}
        pairs = set(conn.execute("SELECT DISTINCT variant, baseline FROM fidelity_divergences").fetchall())
        kinds = {row[0] for row in conn.execute("SELECT DISTINCT kind FROM fidelity_divergences").fetchall()}
        features = conn.execute("SELECT count(*) FROM fidelity_features").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    # Re-materializing replaced the tables: every row comes from the second run.
    assert all(rows > 0 and runs == 1 for rows, runs in counts.values()), counts
    assert features == stored  # every stored conversation has its features, from every source
    for variant in ("digit_tc", "no_impl", "no_bt"):
        assert (variant, "stateful_search") in pairs
    assert {"js", "kl_pq", "kl_qp", "ks_stat", "mean_diff", "coverage"} <= kinds
    with Store(analysed["database"]).connect() as conn:
        controls = {row[0] for row in conn.execute("SELECT DISTINCT control FROM fidelity_divergences").fetchall()}
        claims = conn.execute(
            "SELECT family, control, difference, ci_low, ci_high, perm_p FROM fidelity_claims "
            "WHERE baseline = 'stateful_search' AND reference = 'no_impl' AND domain = 'all'"
        ).fetchall()
        call_only = conn.execute(
            "SELECT count(*), count(value) FROM fidelity_divergences "
            "WHERE baseline = 'import' AND metric = 'depth' AND kind = 'js' AND reason IS NOT NULL"
        ).fetchone()
        shares = dict(conn.execute("SELECT variant, shares_generator_catalog FROM fidelity_sources").fetchall())
    assert controls == {"raw", "length"}
    # every family, both controls, with an interval around the difference and a p-value
    assert {(family, control) for family, control, *_ in claims} == {
        (family, control) for family in ("dependency_graph", "transitions", "recovery", "sequence", "length")
        for control in ("raw", "length")
    }
    assert all(low <= high and 0 < p <= 1 for _, _, difference, low, high, p in claims if low is not None)
    # the imported sample mixes chat runs with outputs and call-only ground truth: depth is defined for the
    # former, so it is compared, not declared inapplicable; a NULL row would say why
    assert call_only[1] == 0
    assert shares["digit_tc"] and "stateful_search" in shares


def test_metadata_carries_summary_headline_numbers_and_dashboard_link(analysed):
    materialization = analysed["second"].asset_materializations_for_node("fidelity_analysis")[0]
    metadata = materialization.metadata
    assert "| variant | baseline |" in metadata["summary"].value
    assert "| baseline | digit_tc minus | family |" in metadata["claims"].value
    assert Path(metadata["dashboard"].value).exists()
    headline = {key: value.value for key, value in metadata.items() if key.startswith("digit_tc_vs_stateful_search.")}
    assert "digit_tc_vs_stateful_search.dependency_graph.js_mean" in headline
    assert "claim.stateful_search.no_impl.dependency_graph" in metadata
    assert all(isinstance(value, float) for value in headline.values())


def test_fidelity_checks_run_and_the_claim_check_can_warn(analysed):
    results = check_results(analysed["second"])
    assert set(results) == FIDELITY_CHECKS
    for name in FIDELITY_CHECKS - {"digit_tc_closer_than_no_impl"}:
        assert results[name].passed, (name, results[name].metadata)
    claim = results["digit_tc_closer_than_no_impl"]
    assert claim.severity == dg.AssetCheckSeverity.WARN
    table = claim.metadata["claims"].value
    assert all(f"| stateful_search | {family} |" in table for family in ("dependency_graph", "sequence", "recovery"))


def test_claim_check_passes_only_where_every_interval_is_below_zero(analysed, tmp_path):
    """In a copy of the store: all intervals below zero passes; one family's interval reaching zero fails and is named."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(analysed["database"]).read_bytes())
    store = resources(copy)["store"]
    with Store(copy).transaction() as conn:
        conn.execute("UPDATE fidelity_claims SET difference = -0.05, ci_low = -0.08, ci_high = -0.02, holds = true WHERE n_metrics > 0")
    assert fidelity_checks.digit_tc_closer_than_no_impl(store=store).passed
    with Store(copy).transaction() as conn:
        conn.execute(
            "UPDATE fidelity_claims SET ci_high = 0.01, holds = false "
            "WHERE family = 'sequence' AND baseline = 'stateful_search' AND reference = 'no_impl'"
        )
    evaluation = fidelity_checks.digit_tc_closer_than_no_impl(store=store)
    assert not evaluation.passed
    assert evaluation.metadata["does_not_hold_for"].value == ["stateful_search/sequence"]
    assert "stateful_search/dependency_graph" in evaluation.metadata["holds_for"].value


def test_not_applicable_check_fails_on_a_divergence_without_data(analysed, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(analysed["database"]).read_bytes())
    with Store(copy).transaction() as conn:
        conn.execute("UPDATE fidelity_divergences SET value = 1.0, n_baseline = 0 WHERE kind = 'js' AND metric = 'depth'")
    evaluation = fidelity_checks.not_applicable_comparisons_have_reasons(store=resources(copy)["store"])
    assert not evaluation.passed and evaluation.metadata["violations"].value > 0


def test_range_check_fails_on_an_impossible_divergence(analysed, tmp_path):
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(analysed["database"]).read_bytes())
    with Store(copy).transaction() as conn:
        conn.execute("UPDATE fidelity_divergences SET value = 1.7 WHERE kind = 'js' AND metric = 'depth'")
    evaluation = fidelity_checks.divergences_in_range(store=resources(copy)["store"])
    assert not evaluation.passed and evaluation.metadata["out_of_range"].value > 0


def test_dashboard_renders_every_plot_in_headless_chromium(analysed):
    path = analysed["data"] / "fidelity" / "dashboard.html"
    with browser_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        page.goto(path.as_uri())
        page.wait_for_function("() => window.Plotly !== undefined && document.querySelectorAll('.js-plotly-plot').length > 0")
        plots = page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")
        drawn = page.evaluate("() => document.querySelectorAll('.js-plotly-plot .main-svg').length")
        headings = page.evaluate("() => [...document.querySelectorAll('h2')].map(h => h.textContent)")
        summary = page.evaluate("() => document.querySelector('table') ? document.querySelector('table').innerText : ''")
    assert not errors, errors
    assert plots >= 5 and drawn >= plots, (plots, drawn)
    assert {
        "What is measured", "The claim, per family", "Family scores", "Not applicable",
        "Sources, and which share the generator's tool catalog",
        "Dependency graphs", "Divergences from the baselines", "Synthesis acceptance funnel",
    } <= set(headings)
    assert "stateful_search" in summary
