"""One check per property of near-duplicate removal and of the training dataset."""

import dagster as dg

from digit_assets.defs.dataset.assets import dataset_directory, near_duplicates, training_dataset
from digit_assets.defs.resources import StoreResource
from digit_assets.engine.synthesis.dataset_card import config_name, read_front_matter
from digit_assets.engine.synthesis.export import dataset_problems, files_fingerprint
from digit_assets.store.dataset import (
    card_facts,
    dataset_variants,
    duplicates_not_pointing_to_kept,
    scenarios_on_both_sides,
    split_counts,
)


@dg.asset_check(
    asset=near_duplicates,
    description="Every removed conversation points to a kept conversation of its own variant.",
)
def duplicates_point_to_kept_conversations(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        wrong = duplicates_not_pointing_to_kept(conn)
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={"wrong": len(wrong), "examples": dg.MetadataValue.json([list(row) for row in wrong[:10]])},
    )


@dg.asset_check(
    asset=training_dataset,
    description="No scenario (domain and offered tool set) has conversations in both train and validation.",
)
def splits_disjoint_by_scenario(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        shared = scenarios_on_both_sides(conn)
        variants = dataset_variants(conn)
    return dg.AssetCheckResult(
        passed=bool(variants) and not shared,
        metadata={"variants": variants, "scenarios_on_both_sides": dg.MetadataValue.json([list(row) for row in shared[:20]])},
    )


@dg.asset_check(
    asset=training_dataset,
    description="Every file loads back: Parquet schema, JSONL keys, messages and tools of every row, the same "
    "conversations in both formats, as many rows as the store exported.",
)
def every_row_loads(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        expected = {variant: split_counts(conn, variant) for variant in dataset_variants(conn)}
    problems = [
        f"{variant}: {problem}"
        for variant, counts in expected.items()
        for problem in dataset_problems(dataset_directory() / variant, counts)
    ]
    return dg.AssetCheckResult(
        passed=bool(expected) and not problems,
        metadata={"rows": sum(sum(c.values()) for c in expected.values()), "problems": dg.MetadataValue.json(problems[:20])},
    )


@dg.asset_check(
    asset=training_dataset,
    description="Each variant's card carries the figures the store holds now (counts, near-duplicates, "
    "domains, distributions, realism, fidelity, provenance, models), and names its config by the files' fingerprint.",
)
def card_matches_store(store: StoreResource) -> dg.AssetCheckResult:
    mismatches = []
    with store.store().connect() as conn:
        variants = dataset_variants(conn)
        facts = {variant: card_facts(conn, variant) for variant in variants}
    for variant in variants:
        card = dataset_directory() / variant / "README.md"
        if not card.exists():
            mismatches.append(f"{variant}: no card at {card}")
            continue
        front = read_front_matter(card.read_text(encoding="utf-8"))
        printed = front.get("digit_tc", {})
        mismatches += [f"{variant}: {key}" for key, value in facts[variant].items() if printed.get(key) != value]
        if [c.get("config_name") for c in front.get("configs", [])] != [config_name(files_fingerprint(card.parent))]:
            mismatches.append(f"{variant}: config_name is not the files' fingerprint (datasets would load a stale cache)")
    return dg.AssetCheckResult(
        passed=bool(variants) and not mismatches,
        metadata={"variants": variants, "mismatched_figures": dg.MetadataValue.json(mismatches)},
    )
