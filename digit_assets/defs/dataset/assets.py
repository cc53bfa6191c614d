"""Near-duplicate removal over every shard's accepted conversations, then the training dataset:
splits by scenario, Parquet + JSONL per variant and a card with the run's figures."""

import time
from collections import Counter
from pathlib import Path

import dagster as dg

from digit_assets import settings
from digit_assets.defs.fidelity.assets import fidelity_analysis, realism_metrics
from digit_assets.defs.resources import StoreResource
from digit_assets.defs.settings_config import config_from, settings_of
from digit_assets.defs.synthesis.assets import synthetic_conversations
from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.dataset_card import render_card
from digit_assets.engine.synthesis.dedup import DedupSettings, find_near_duplicates
from digit_assets.engine.synthesis.export import (
    DatasetSettings,
    files_fingerprint,
    scenario_of,
    split_of,
    write_dataset,
    write_text,
)
from digit_assets.store.conversations import load_conversations
from digit_assets.store.dataset import card_facts, removed_conversations, replace_dataset_rows, replace_deduplication


class DedupConfig(config_from(DedupSettings)):
    """Knobs of near-duplicate removal: the engine's ``DedupSettings`` (threshold, permutations, shingles, seed)."""


class DatasetConfig(config_from(DatasetSettings)):
    """Knobs of the export: the engine's ``DatasetSettings`` plus the seed of the split."""

    seed: int = 2026


def dataset_directory() -> Path:
    return settings.data_dir() / "dataset"


@dg.asset(
    group_name="dataset",
    deps=[synthetic_conversations],
    kinds={"duckdb"},
    description="Near-duplicates among the accepted conversations of each variant (MinHash LSH over user "
    "messages and call sequences), each with the kept conversation it duplicates.",
)
def near_duplicates(context: dg.AssetExecutionContext, config: DedupConfig, store: StoreResource) -> dg.MaterializeResult:
    dedup = settings_of(config, DedupSettings)
    provenance = Provenance.for_config(context.run.run_id, dedup.seed, config.model_dump())
    started = time.perf_counter()
    with store.store().connect() as conn:
        records = load_conversations(conn, source="digit_tc")
    if not records:
        raise dg.Failure(description=f"no accepted conversation in {store.database}: materialize synthesis first")
    duplicates, examined = find_near_duplicates(records, dedup)
    with store.store().transaction() as conn:
        replace_deduplication(conn, duplicates, examined, dedup, provenance)
    removed = Counter(d.variant for d in duplicates)
    return dg.MaterializeResult(
        metadata={
            **{f"removed_{variant}": removed.get(variant, 0) for variant in examined},
            **{f"kept_{variant}": count - removed.get(variant, 0) for variant, count in examined.items()},
            "threshold": dedup.threshold,
            "seconds": round(time.perf_counter() - started, 2),
            "examples": dg.MetadataValue.json(
                [{"removed": d.conversation_id, "duplicate_of": d.duplicate_of, "similarity": d.similarity} for d in duplicates[:10]]
            ),
        }
    )


@dg.asset(
    group_name="dataset",
    deps=[near_duplicates, realism_metrics, fidelity_analysis],
    kinds={"parquet", "json"},
    description="The training dataset per variant: near-duplicates removed, train/validation split by "
    "scenario, Parquet + JSONL (messages + tools) and a dataset card with the run's figures.",
)
def training_dataset(context: dg.AssetExecutionContext, config: DatasetConfig, store: StoreResource) -> dg.MaterializeResult:
    split_settings = settings_of(config, DatasetSettings)
    provenance = Provenance.for_config(context.run.run_id, config.seed, config.model_dump())
    directory = dataset_directory()
    with store.store().connect() as conn:
        removed = removed_conversations(conn)
        records = [r for r in load_conversations(conn, source="digit_tc") if r.conversation_id not in removed]
    if not records:
        raise dg.Failure(description=f"no conversation left to export from {store.database}")
    scenarios = {r.conversation_id: scenario_of(r) for r in records}
    splits = {cid: split_of(scenario, config.seed, split_settings) for cid, scenario in scenarios.items()}
    written = write_dataset(records, splits, directory)
    with store.store().transaction() as conn:
        replace_dataset_rows(
            conn, [(r.conversation_id, r.variant, splits[r.conversation_id], scenarios[r.conversation_id]) for r in records], provenance
        )
    with store.store().connect() as conn:
        facts = {variant: card_facts(conn, variant) for variant in written}
    for variant, files in written.items():
        card = render_card(card_run_facts(facts[variant], files.directory, config), files_fingerprint(files.directory))
        write_text(files.directory / "README.md", card)
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            **{f"{split}_{variant}": count for variant, files in written.items() for split, count in files.rows.items()},
            "bytes": dg.MetadataValue.json(
                {variant: sum(path.stat().st_size for path in files.files()) for variant, files in written.items()}
            ),
        }
    )


def card_run_facts(store_facts: dict, directory: Path, config: DatasetConfig) -> dict:
    """The card's figures: the store's, plus where the files are and how they were split."""
    return {**store_facts, "directory": str(directory), "split_seed": config.seed, "validation_share": config.validation_share}
