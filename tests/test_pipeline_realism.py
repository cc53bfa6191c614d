"""The realism asset over a small real pipeline: rows for every source, WARN checks that never fail the run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from analytics.realism import REALISM_SCHEMA, RULES
from digit_assets.defs.baselines.assets import baseline_domains, imported_baselines, stateful_search_baselines
from digit_assets.defs.fidelity import checks as fidelity_checks
from digit_assets.defs.fidelity.assets import dashboard_path, fidelity_analysis, realism_metrics
from digit_assets.defs.fidelity.checks import _realism_check
from digit_assets.defs.resources import StoreResource
from digit_assets.engine.provenance import Provenance
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.store import Store
from digit_assets.store.realism import replace_realism_metrics
from pipeline_helpers import build_catalog, check_results, checks_of, resources, synthesize_all_shards

REALISM_CHECKS = {
    "hidden_calls_are_read_only",
    "simulated_writes_reflected",
    "requests_name_no_parameters",
    "requests_system_identifiers_like_stateful_search",
    "error_texts_state_causes",
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("realism")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(root / "data"))
    database = root / "data" / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    build_catalog(instance, database, Path(__file__).parents[1] / "specs")
    synthesize_all_shards(instance, database, conversations=40)
    for domain in baseline_domains.get_partition_keys():
        dg.materialize(
            [stateful_search_baselines],
            partition_key=domain,
            run_config={"ops": {"stateful_search_baselines": {"config": {"conversations": 20, "max_attempts": 40}}}},
            instance=instance,
            resources=resources(database),
        )
    dg.materialize([imported_baselines], instance=instance, resources=resources(database))
    result = dg.materialize(
        [synthetic_conversations, stateful_search_baselines, imported_baselines, realism_metrics, fidelity_analysis,
         *checks_of(fidelity_checks)],
        selection=dg.AssetSelection.assets(realism_metrics, fidelity_analysis),
        run_config={"ops": {"fidelity_analysis": {"config": {"n_bootstrap": 20, "permutation_resamples": 99}}}},
        instance=instance,
        resources=resources(database),
    )
    yield {"database": database, "result": result}
    monkeypatch.undo()


def test_rows_for_every_source(measured):
    with Store(measured["database"]).connect() as conn:
        sources = set(conn.execute("SELECT DISTINCT source, variant FROM conversations").fetchall())
        measured_sources = set(conn.execute("SELECT DISTINCT source, variant FROM realism_metrics").fetchall())
        metrics = {row[0] for row in conn.execute("SELECT DISTINCT metric FROM realism_metrics WHERE tool IS NULL").fetchall()}
        stamps = conn.execute("SELECT count(DISTINCT run_id), min(seed), count(*) FILTER (WHERE config_hash = '') FROM realism_metrics").fetchone()
        shares = conn.execute("SELECT count(*) FROM realism_metrics WHERE value < 0 OR value > 1 OR (value IS NULL) <> (denominator = 0)").fetchone()
    assert {variant for _, variant in sources} >= {"digit_tc", "no_impl", "no_bt", "stateful_search"}
    assert any(source == "import" for source, _ in sources)
    assert measured_sources == sources  # every stored source and variant is measured
    assert {"parameter_named_messages", "system_identifier_messages", "error_rate", "error_texts_with_advice"} <= metrics
    assert stamps == (1, 0, 0)
    assert shares == (0,)


def test_checks_warn_with_figures_and_the_run_succeeds(measured):
    result = measured["result"]
    assert result.success
    evaluations = check_results(result)
    assert REALISM_CHECKS <= set(evaluations)
    for name in REALISM_CHECKS:
        evaluation = evaluations[name]
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        figures = evaluation.metadata["per_source"].value
        assert {"digit_tc", "stateful_search"} <= set(figures), name
    # the offline engine follows the request rules: no labels, no unseen identifiers; hidden calls
    # only discover, errors state their cause
    for name in (
        "requests_name_no_parameters",
        "requests_system_identifiers_like_stateful_search",
        "hidden_calls_are_read_only",
        "error_texts_state_causes",
    ):
        assert evaluations[name].passed, name


def test_metadata_and_dashboard(measured):
    materialization = measured["result"].asset_materializations_for_node("realism_metrics")[0]
    metadata = materialization.metadata
    assert "| metric | rule | digit_tc |" in metadata["realism"].value
    assert "digit_tc.parameter_named_messages" in metadata
    assert "stateful_search.error_rate" in metadata
    page = dashboard_path().read_text(encoding="utf-8")
    assert "Realism: would a fine-tuning user accept these conversations?" in page


def test_a_variant_without_data_neither_keeps_nor_breaks_a_rule(tmp_path: Path):
    rule = next(rule for rule in RULES if rule.metric == "hidden_calls_state_changing")
    store = StoreResource(database=str(tmp_path / "rules.duckdb"))

    def verdict(digit_tc_writes: int) -> dg.AssetCheckResult:
        rows = [
            ("digit_tc", "digit_tc", digit_tc_writes, 40),
            ("digit_tc", "no_bt", 0, 35),
            ("stateful_search", "stateful_search", 10, 30),
        ]
        frame = pl.DataFrame(
            [
                {"source": s, "variant": v, "metric": rule.metric, "tool": None, "basis": "record_flags", "numerator": n,
                 "denominator": d, "value": n / d, "ci_low": 0.0, "ci_high": 1.0}
                for s, v, n, d in rows
            ],
            schema=REALISM_SCHEMA,
        )
        with store.store().transaction() as conn:
            replace_realism_metrics(conn, frame, Provenance("run", 0, "hash"))
        return _realism_check(rule, store)

    kept = verdict(0)  # no_impl has no row: it has no hidden call
    assert kept.passed and kept.metadata["variants_without_data"].value == []
    broken = verdict(3)
    assert not broken.passed and broken.severity == dg.AssetCheckSeverity.WARN
    assert broken.metadata["variants_breaking_the_rule"].value == ["digit_tc"]
    assert broken.metadata["per_source"].value["stateful_search"] == "33.3% (10/30)"
