"""The near-duplicate and dataset tables, and the figures of the dataset card, read back from the store.

The card is rendered from :func:`card_facts` and its check compares the card with the same
function, so what the card says is what these queries return at the time of the check.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.dedup import DedupSettings, NearDuplicate
from digit_assets.store import insert_rows, provenance_columns

# The card's fidelity headline: against stateful search, length-controlled, pooled over domains (the
# other baselines, raw figures and domains are in the fidelity tables and the dashboard).
HEADLINE_BASELINE = "stateful_search"
HEADLINE_CONTROL = "length"
POOLED_DOMAIN = "all"


def replace_deduplication(
    conn: duckdb.DuckDBPyConnection,
    duplicates: Sequence[NearDuplicate],
    examined: dict[str, int],
    settings: DedupSettings,
    provenance: Provenance,
) -> None:
    """Replace both tables whole: a deduplication run covers every accepted conversation."""
    conn.execute("DELETE FROM near_duplicates")
    conn.execute("DELETE FROM deduplication")
    stamps = provenance_columns(provenance)
    insert_rows(
        conn,
        "near_duplicates",
        [
            {"conversation_id": d.conversation_id, "variant": d.variant, "duplicate_of": d.duplicate_of, "similarity": d.similarity, **stamps}
            for d in duplicates
        ],
    )
    removed = {variant: 0 for variant in examined}
    for duplicate in duplicates:
        removed[duplicate.variant] += 1
    insert_rows(
        conn,
        "deduplication",
        [
            {
                "variant": variant,
                "examined": count,
                "removed": removed[variant],
                "threshold": settings.threshold,
                "num_perm": settings.num_perm,
                "shingle_words": settings.shingle_words,
                "shingle_calls": settings.shingle_calls,
                **stamps,
            }
            for variant, count in examined.items()
        ],
    )


def removed_conversations(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT conversation_id FROM near_duplicates").fetchall()}


def deduplication_events(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, None, str, bool]]:
    """The funnel's ``near_duplicate`` stage: one (variant, None, stage, kept) event per examined conversation."""
    rows = conn.execute("SELECT variant, examined, removed FROM deduplication ORDER BY variant").fetchall()
    return [
        (variant, None, "near_duplicate", kept)
        for variant, examined, removed in rows
        for kept in [True] * (examined - removed) + [False] * removed
    ]


def replace_dataset_rows(
    conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[str, str, str, str]], provenance: Provenance
) -> None:
    """(conversation_id, variant, split, scenario) of every exported conversation, replacing the last export."""
    conn.execute("DELETE FROM dataset_rows")
    stamps = provenance_columns(provenance)
    insert_rows(
        conn,
        "dataset_rows",
        [{"conversation_id": c, "variant": v, "split": s, "scenario": g, **stamps} for c, v, s, g in rows],
    )


def dataset_variants(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT DISTINCT variant FROM dataset_rows ORDER BY variant").fetchall()]


def split_counts(conn: duckdb.DuckDBPyConnection, variant: str) -> dict[str, int]:
    return dict(conn.execute("SELECT split, count(*) FROM dataset_rows WHERE variant = ? GROUP BY split", [variant]).fetchall())


def scenarios_on_both_sides(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(variant, scenario) pairs whose conversations sit in both splits: must be none."""
    return conn.execute(
        "SELECT variant, scenario FROM dataset_rows GROUP BY variant, scenario HAVING count(DISTINCT split) > 1 ORDER BY 1, 2"
    ).fetchall()


def _records(conn: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def card_facts(conn: duckdb.DuckDBPyConnection, variant: str) -> dict:
    """Every figure of one variant's dataset card, read from the store."""
    exported = "FROM conversations c JOIN dataset_rows d USING (conversation_id) WHERE d.variant = ?"
    splits = split_counts(conn, variant)
    scenarios = dict(
        conn.execute("SELECT split, count(DISTINCT scenario) FROM dataset_rows WHERE variant = ? GROUP BY split", [variant]).fetchall()
    )
    dedup = _records(
        conn,
        "SELECT examined, removed, threshold, num_perm, shingle_words, shingle_calls FROM deduplication WHERE variant = ?",
        [variant],
    )
    return {
        "variant": variant,
        "conversations": {split: splits.get(split, 0) for split in ("train", "validation")},
        "scenarios": {split: scenarios.get(split, 0) for split in ("train", "validation")},
        "near_duplicates": dedup[0] if dedup else {
            "examined": sum(splits.values()), "removed": 0, "threshold": None, "num_perm": None,
            "shingle_words": None, "shingle_calls": None,
        },
        "domains": _records(
            conn,
            f"""
            WITH called AS (
                SELECT coalesce(c.domain, '-') AS domain, c.conversation_id,
                       unnest(CAST(json_extract_string(c.messages, '$[*].tool_calls[*].function.name') AS VARCHAR[])) AS tool
                {exported}
            )
            SELECT domain, count(DISTINCT conversation_id) AS conversations, count(DISTINCT tool) AS tools_called
            FROM called GROUP BY domain ORDER BY domain
            """,
            [variant],
        ),
        "tools_called": conn.execute(
            f"""
            SELECT count(DISTINCT coalesce(domain, '-') || '.' || tool) FROM (
                SELECT c.domain, unnest(CAST(json_extract_string(c.messages, '$[*].tool_calls[*].function.name') AS VARCHAR[])) AS tool
                {exported})
            """,
            [variant],
        ).fetchone()[0],
        "turns": {int(k): n for k, n in conn.execute(f"SELECT c.n_turns, count(*) {exported} GROUP BY 1 ORDER BY 1", [variant]).fetchall()},
        "calls": {int(k): n for k, n in conn.execute(f"SELECT c.n_calls, count(*) {exported} GROUP BY 1 ORDER BY 1", [variant]).fetchall()},
        "realism": _records(
            conn,
            "SELECT metric, numerator, denominator, value, ci_low, ci_high FROM realism_metrics"
            " WHERE source = 'digit_tc' AND variant = ? AND tool IS NULL ORDER BY metric",
            [variant],
        ),
        "fidelity_scores": _records(
            conn,
            "SELECT family, value, ci_low, ci_high FROM fidelity_scores"
            " WHERE variant = ? AND baseline = ? AND control = ? AND domain = ? ORDER BY family",
            [variant, HEADLINE_BASELINE, HEADLINE_CONTROL, POOLED_DOMAIN],
        ),
        "fidelity_claims": _records(
            conn,
            "SELECT reference, family, difference, ci_low, ci_high, perm_p, holds, reason FROM fidelity_claims"
            " WHERE variant = ? AND baseline = ? AND control = ? AND domain = ? ORDER BY reference, family",
            [variant, HEADLINE_BASELINE, HEADLINE_CONTROL, POOLED_DOMAIN],
        ),
        "provenance": _records(
            conn,
            f"SELECT c.seed, c.config_hash, count(*) AS conversations {exported} GROUP BY 1, 2 ORDER BY 1, 2",
            [variant],
        ),
        "models": _records(
            conn,
            "SELECT role, llm, sum(calls)::BIGINT AS calls FROM llm_usage"
            " WHERE asset = 'synthetic_conversations' AND variant = ? GROUP BY role, llm ORDER BY role, llm",
            [variant],
        ),
    }


def duplicates_not_pointing_to_kept(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(removed, duplicate_of, why) where the conversation a duplicate points to is not a kept one of its variant."""
    return conn.execute(
        """
        SELECT n.conversation_id, n.duplicate_of,
               CASE WHEN c.conversation_id IS NULL THEN 'not a stored conversation'
                    WHEN c.variant <> n.variant THEN 'of another variant'
                    ELSE 'itself removed' END
        FROM near_duplicates n
        LEFT JOIN conversations c ON c.conversation_id = n.duplicate_of
        LEFT JOIN near_duplicates m ON m.conversation_id = n.duplicate_of
        WHERE c.conversation_id IS NULL OR c.variant <> n.variant OR m.conversation_id IS NOT NULL
        ORDER BY 1
        """
    ).fetchall()


def variant_summary(conn: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """Per synthesis variant: conversations attempted, accepted, removed as near-duplicates, and exported per split."""
    return _records(
        conn,
        """
        WITH attempted AS (SELECT variant, count(DISTINCT conversation_id) AS attempted FROM synthesis_attempts GROUP BY variant),
             accepted AS (SELECT variant, count(*) AS accepted FROM conversations WHERE source = 'digit_tc' GROUP BY variant),
             removed AS (SELECT variant, count(*) AS near_duplicates FROM near_duplicates GROUP BY variant),
             exported AS (
                SELECT variant, count(*) FILTER (WHERE split = 'train') AS train,
                       count(*) FILTER (WHERE split = 'validation') AS validation
                FROM dataset_rows GROUP BY variant)
        SELECT variant, coalesce(attempted, 0) AS attempted, coalesce(accepted, 0) AS accepted,
               coalesce(near_duplicates, 0) AS near_duplicates, coalesce(train, 0) AS train, coalesce(validation, 0) AS validation
        FROM attempted FULL JOIN accepted USING (variant) FULL JOIN removed USING (variant) FULL JOIN exported USING (variant)
        ORDER BY variant
        """,
        [],
    )
