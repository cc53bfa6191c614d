"""The dataset stage over a small real pipeline: near-duplicates removed and counted, the export loaded
with Hugging Face ``datasets``, and the card's figures equal to what DuckDB holds."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import dagster as dg
import pytest

from digit_assets.defs.baselines.assets import baseline_domains, imported_baselines, stateful_search_baselines
from digit_assets.defs.dataset import checks as dataset_checks
from digit_assets.defs.dataset.assets import dataset_directory, near_duplicates, training_dataset
from digit_assets.defs.dataset.checks import card_matches_store
from digit_assets.defs.fidelity.assets import fidelity_analysis, realism_metrics
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.engine.synthesis.dataset_card import read_front_matter
from digit_assets.engine.synthesis.funnel import funnel_rows
from digit_assets.store import Store
from digit_assets.store.synthesis import funnel_events
from pipeline_helpers import build_catalog, check_results, checks_of, resources, synthesize_all_shards

# No hub: the loader reads local files only (read when ``datasets`` is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
datasets = pytest.importorskip("datasets")

COPY_ID = "digit_tc-2026-999999"
ORIGINAL_ID = "digit_tc-2026-000003"
UPSTREAM = [synthetic_conversations, stateful_search_baselines, imported_baselines, realism_metrics, fidelity_analysis]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("dataset")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DIGIT_TC_DATA_DIR", str(root / "data"))
    database = root / "data" / "digit_tc.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    build_catalog(instance, database, Path(__file__).parents[1] / "specs")
    synthesize_all_shards(instance, database, conversations=40)
    # A generator repeating itself: the same conversation stored again under another id.
    with Store(database).transaction() as conn:
        conn.execute(
            "INSERT INTO conversations SELECT ? AS conversation_id, * EXCLUDE (conversation_id) FROM conversations WHERE conversation_id = ?",
            [COPY_ID, ORIGINAL_ID],
        )
    for domain in baseline_domains.get_partition_keys():
        dg.materialize(
            [stateful_search_baselines],
            partition_key=domain,
            run_config={"ops": {"stateful_search_baselines": {"config": {"conversations": 20, "max_attempts": 40}}}},
            instance=instance,
            resources=resources(database),
        )
    dg.materialize([imported_baselines], instance=instance, resources=resources(database))
    dedup = dg.materialize(
        [synthetic_conversations, near_duplicates, *checks_of(dataset_checks), training_dataset],
        selection=dg.AssetSelection.assets(near_duplicates),
        instance=instance,
        resources=resources(database),
    )
    dg.materialize(
        [*UPSTREAM, near_duplicates],
        selection=dg.AssetSelection.assets(realism_metrics, fidelity_analysis),
        run_config={"ops": {"fidelity_analysis": {"config": {"n_bootstrap": 20, "permutation_resamples": 99, "claim_permutations": 49}}}},
        instance=instance,
        resources=resources(database),
    )
    result = dg.materialize(
        [*UPSTREAM, near_duplicates, training_dataset, *checks_of(dataset_checks)],
        selection=dg.AssetSelection.assets(training_dataset),
        run_config={"ops": {"training_dataset": {"config": {"validation_share": 0.3}}}},
        instance=instance,
        resources=resources(database),
    )
    yield {
        "database": database, "dedup": dedup, "result": result, "instance": instance,
        "directory": dataset_directory(), "cache": str(root / "hf_cache"),
    }
    monkeypatch.undo()


def test_the_repeated_conversation_is_removed_kept_in_duckdb_and_in_the_funnel(exported):
    assert exported["dedup"].success
    assert check_results(exported["dedup"])["duplicates_point_to_kept_conversations"].passed
    with Store(exported["database"]).connect() as conn:
        removed = conn.execute("SELECT conversation_id, duplicate_of, similarity FROM near_duplicates WHERE variant = 'digit_tc'").fetchall()
        exported_ids = {row[0] for row in conn.execute("SELECT conversation_id FROM dataset_rows").fetchall()}
        stamps = conn.execute("SELECT count(*) FROM deduplication WHERE run_id = '' OR config_hash = ''").fetchone()[0]
        funnel = funnel_rows(funnel_events(conn))
    assert (COPY_ID, ORIGINAL_ID, 1.0) in removed
    assert COPY_ID not in exported_ids and ORIGINAL_ID in exported_ids
    assert stamps == 0
    [row] = [r for r in funnel if r["variant"] == "digit_tc" and r["stage"] == "near_duplicate"]
    assert row["rejected"] == len(removed) and row["accepted"] + row["rejected"] == row["attempted"] > 0


def test_every_dataset_check_passes(exported):
    result = exported["result"]
    assert result.success
    evaluations = check_results(result)
    assert {name for name, e in evaluations.items() if e.passed} == {"splits_disjoint_by_scenario", "every_row_loads", "card_matches_store"}


def test_hugging_face_datasets_loads_each_variant_from_its_card(exported):
    with Store(exported["database"]).connect() as conn:
        counts = dict(conn.execute(
            "SELECT variant || '/' || split, count(*) FROM conversations JOIN dataset_rows USING (conversation_id, variant) GROUP BY 1"
        ).fetchall())
    for variant in ("digit_tc", "no_impl", "no_bt"):
        loaded = datasets.load_dataset(str(exported["directory"] / variant), cache_dir=exported["cache"])
        assert {split: loaded[split].num_rows for split in loaded} == {
            split: counts[f"{variant}/{split}"] for split in ("train", "validation")
        }
        row = loaded["train"][0]
        assert row["messages"][0]["role"] == "user"
        assert {m["role"] for m in row["messages"]} <= {"user", "assistant", "tool"}
        calls = [c for m in row["messages"] for c in (m["tool_calls"] or [])]
        assert calls and all(isinstance(json.loads(c["function"]["arguments"]), dict) for c in calls)
        assert {tool["function"]["name"] for tool in json.loads(row["tools"])} >= {c["function"]["name"] for c in calls}
        lines = datasets.load_dataset(
            "json", data_files=str(exported["directory"] / variant / "validation.jsonl"), cache_dir=exported["cache"]
        )["train"]
        assert lines.column_names == ["messages", "tools"] and lines.num_rows == counts[f"{variant}/validation"]


def test_the_card_figures_are_the_figures_in_duckdb(exported):
    card_text = (exported["directory"] / "digit_tc" / "README.md").read_text()
    card = read_front_matter(card_text)["digit_tc"]
    with Store(exported["database"]).connect() as conn:
        q = lambda sql, *params: conn.execute(sql, list(params)).fetchall()  # noqa: E731
        accepted = q("SELECT count(*) FROM conversations WHERE variant = 'digit_tc'")[0][0]
        removed = q("SELECT count(*) FROM near_duplicates WHERE variant = 'digit_tc'")[0][0]
        splits = dict(q("SELECT split, count(*) FROM dataset_rows WHERE variant = 'digit_tc' GROUP BY split"))
        turns = dict(q(
            "SELECT n_turns, count(*) FROM conversations WHERE variant = 'digit_tc'"
            " AND conversation_id NOT IN (SELECT conversation_id FROM near_duplicates) GROUP BY 1"
        ))
        error_rate = q(
            "SELECT numerator, denominator, value, ci_low, ci_high FROM realism_metrics"
            " WHERE source = 'digit_tc' AND variant = 'digit_tc' AND metric = 'error_rate' AND tool IS NULL"
        )[0]
        claim = q(
            "SELECT difference, ci_low, ci_high, holds FROM fidelity_claims WHERE baseline = 'stateful_search'"
            " AND domain = 'all' AND control = 'length' AND reference = 'no_impl' AND family = 'dependency_graph'"
        )[0]
        stamps = q("SELECT DISTINCT seed, config_hash FROM conversations WHERE variant = 'digit_tc'")
        planner = q("SELECT llm, sum(calls) FROM llm_usage WHERE asset = 'synthetic_conversations' AND variant = 'digit_tc' AND role = 'plan' GROUP BY llm")
    assert card["near_duplicates"]["examined"] == accepted and card["near_duplicates"]["removed"] == removed >= 1
    assert sum(card["conversations"].values()) == accepted - removed
    assert card["conversations"] == {"train": splits["train"], "validation": splits["validation"]}
    assert card["turns"] == turns
    [realism] = [r for r in card["realism"] if r["metric"] == "error_rate"]
    assert (realism["numerator"], realism["denominator"], realism["value"], realism["ci_low"], realism["ci_high"]) == error_rate
    [headline] = [c for c in card["fidelity_claims"] if c["reference"] == "no_impl" and c["family"] == "dependency_graph"]
    assert (headline["difference"], headline["ci_low"], headline["ci_high"], headline["holds"]) == claim
    assert [(p["seed"], p["config_hash"]) for p in card["provenance"]] == stamps
    assert [(m["llm"], m["calls"]) for m in card["models"] if m["role"] == "plan"] == planner
    # And in the text a reader sees:
    assert f"{removed} of {accepted} accepted conversations were near-duplicates" in card_text
    assert re.search(rf"\| error_rate \| {error_rate[0]} / {error_rate[1]} \| {error_rate[2]:.3f} ", card_text)


def test_a_card_that_no_longer_matches_the_store_fails_its_check(exported):
    card = exported["directory"] / "no_impl" / "README.md"
    original = card.read_text()
    try:
        card.write_text(re.sub(r"(\n    train: )(\d+)", lambda m: f"{m.group(1)}{int(m.group(2)) + 1}", original, count=1))
        result = dg.materialize(
            [*UPSTREAM, near_duplicates, training_dataset, *checks_of(dataset_checks)],
            selection=dg.AssetSelection.checks(card_matches_store),
            instance=exported["instance"],
            resources=resources(exported["database"]),
            raise_on_error=False,
        )
    finally:
        card.write_text(original)
    evaluation = check_results(result)["card_matches_store"]
    assert not evaluation.passed
    assert evaluation.metadata["mismatched_figures"].value == ["no_impl: conversations"]


def test_a_re_export_loads_fresh_not_from_the_cache_of_the_previous_one(exported):
    """``datasets`` caches a local folder by its name and config, not by the files: the config is named
    by the files' fingerprint, so the same folder loaded after a new export gives the new rows."""
    directory = str(exported["directory"] / "digit_tc")
    before = datasets.load_dataset(directory, cache_dir=exported["cache"])["validation"].num_rows
    result = dg.materialize(
        [*UPSTREAM, near_duplicates, training_dataset, *checks_of(dataset_checks)],
        selection=dg.AssetSelection.assets(training_dataset),
        run_config={"ops": {"training_dataset": {"config": {"validation_share": 0.6, "seed": 7}}}},
        instance=exported["instance"],
        resources=resources(exported["database"]),
    )
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    with Store(exported["database"]).connect() as conn:
        expected = conn.execute("SELECT count(*) FROM dataset_rows WHERE variant = 'digit_tc' AND split = 'validation'").fetchone()[0]
    after = datasets.load_dataset(directory, cache_dir=exported["cache"])["validation"].num_rows
    assert after == expected != before
