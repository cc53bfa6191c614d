"""Conversations in and out of the ``conversations`` table, for every source."""

from __future__ import annotations

import json

import duckdb

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.records import ConversationRecord


def conversation_row(record: ConversationRecord, provenance: Provenance, *, shard: int | None) -> dict[str, object]:
    return {
        "conversation_id": record.conversation_id,
        "source": record.source,
        "variant": record.variant,
        "domain": record.domain,
        "shard": shard,
        "n_turns": record.n_turns(),
        "n_calls": len(record.tool_calls()),
        "n_errors": record.n_errors(),
        "messages": json.dumps(record.messages, ensure_ascii=False),
        "tools": json.dumps(record.tools, ensure_ascii=False),
        "meta": json.dumps(record.meta, ensure_ascii=False),
        "run_id": provenance.run_id,
        "seed": provenance.seed,
        "config_hash": provenance.config_hash,
    }


def load_conversations(
    conn: duckdb.DuckDBPyConnection, *, source: str | None = None, variant: str | None = None
) -> list[ConversationRecord]:
    """Stored conversations in id order; their provenance stamps are put in ``meta['provenance']``."""
    clauses, params = [], []
    for column, value in (("source", source), ("variant", variant)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        "SELECT conversation_id, source, variant, domain, messages, tools, meta, run_id, seed, config_hash"
        f" FROM conversations{where} ORDER BY conversation_id",
        params,
    ).fetchall()
    return [
        ConversationRecord(
            conversation_id=row[0],
            source=row[1],
            variant=row[2],
            domain=row[3],
            messages=json.loads(row[4]),
            tools=json.loads(row[5]),
            meta={**json.loads(row[6]), "provenance": {"run_id": row[7], "seed": row[8], "config_hash": row[9]}},
        )
        for row in rows
    ]
