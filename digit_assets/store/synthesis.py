"""Synthesis attempts in and out of the ``synthesis_attempts`` table: every stage's verdict, accepted or not."""

from __future__ import annotations

import duckdb

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.synthesis.rollout import Outcome
from digit_assets.store import provenance_columns
from digit_assets.store.dataset import deduplication_events


def attempt_rows(outcome: Outcome, shard: int, provenance: Provenance) -> list[dict[str, object]]:
    """One row per event; a conversation refused after it was built keeps its record on the refusing row."""
    rejected_record = (
        outcome.record.model_dump_json() if outcome.record is not None and not outcome.accepted else None
    )
    return [
        {
            "conversation_id": outcome.conversation_id,
            "variant": outcome.variant,
            "shard": shard,
            "turn": event.turn,
            "stage": event.stage,
            "accepted": event.accepted,
            "reason": event.reason,
            "record": rejected_record if event.turn is None and not event.accepted else None,
            **provenance_columns(provenance),
        }
        for event in outcome.events
    ]


def funnel_events(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int | None, str, bool]]:
    """(variant, turn, stage, accepted) of every stored attempt event, the input of the acceptance funnel,
    then the near-duplicate removal's verdicts when it has run."""
    attempts = conn.execute("SELECT variant, turn, stage, accepted FROM synthesis_attempts").fetchall()
    return attempts + deduplication_events(conn)


def acceptance_by_variant(conn: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """Per variant: conversations attempted and accepted, and at which stage the rejected ones stopped."""
    attempts = conn.execute(
        """
        SELECT variant, count(DISTINCT conversation_id),
               count(DISTINCT conversation_id) FILTER (WHERE turn IS NULL AND NOT accepted)
        FROM synthesis_attempts GROUP BY variant ORDER BY variant
        """
    ).fetchall()
    stages = conn.execute(
        """
        SELECT variant, stage, count(*) FROM synthesis_attempts
        WHERE turn IS NULL AND NOT accepted GROUP BY variant, stage ORDER BY variant, count(*) DESC, stage
        """
    ).fetchall()
    rejected_at: dict[str, dict[str, int]] = {}
    for variant, stage, count in stages:
        rejected_at.setdefault(variant, {})[stage] = count
    return [
        {"variant": variant, "attempted": attempted, "accepted": attempted - rejected, "rejected_at": rejected_at.get(variant, {})}
        for variant, attempted, rejected in attempts
    ]


def turn_rejections(conn: duckdb.DuckDBPyConnection, limit: int = 3) -> list[tuple[str, str, int, str]]:
    """(variant, stage, failed turn attempts, the commonest reason) per stage where turns failed."""
    return conn.execute(
        """
        WITH failed AS (
            SELECT variant, stage, left(reason, 160) AS reason, count(*) AS n FROM synthesis_attempts
            WHERE turn IS NOT NULL AND NOT accepted GROUP BY ALL
        )
        SELECT variant, stage, sum(n)::BIGINT, arg_max(reason, n) FROM failed GROUP BY variant, stage
        ORDER BY variant, sum(n) DESC
        """
    ).fetchall()[: limit * 10]
