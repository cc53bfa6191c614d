"""Conversations in and out of the ``conversations`` table, for every source."""

from __future__ import annotations

import json

import duckdb
from pydantic import ValidationError

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.records import ConversationRecord
from digit_assets.store import provenance_columns


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
        **provenance_columns(provenance),
    }


def load_conversations(
    conn: duckdb.DuckDBPyConnection,
    *,
    source: str | None = None,
    variant: str | None = None,
    problems: list[str] | None = None,
) -> list[ConversationRecord]:
    """Stored conversations in id order; their provenance stamps are put in ``meta['provenance']``.

    A row that does not parse as a record raises, or, when ``problems`` is given, is reported there
    (``"<conversation_id>: <why>"``) and skipped, so a check can show it instead of crashing.
    """
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
    records = []
    for row in rows:
        try:
            records.append(
                ConversationRecord(
                    conversation_id=row[0],
                    source=row[1],
                    variant=row[2],
                    domain=row[3],
                    messages=json.loads(row[4]),
                    tools=json.loads(row[5]),
                    meta={**json.loads(row[6]), "provenance": {"run_id": row[7], "seed": row[8], "config_hash": row[9]}},
                )
            )
        except ValidationError as error:
            if problems is None:
                raise
            problems.append(f"{row[0]}: {error.errors()[0]['msg']}")
    return records


def conversation_counts(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, int]]:
    """(source, variant, domain or '-', conversations), sorted."""
    return conn.execute(
        "SELECT source, variant, coalesce(domain, '-'), count(*) FROM conversations GROUP BY ALL ORDER BY source, variant, 3"
    ).fetchall()


def hidden_calls_per_variant(conn: duckdb.DuckDBPyConnection, source: str) -> list[tuple[str, int, int]]:
    """(variant, conversations, hidden calls) of one source, from each conversation's ``meta.hidden_calls``."""
    rows = conn.execute(
        "SELECT variant, count(*), sum(CAST(json_extract(meta, '$.hidden_calls') AS INTEGER))"
        " FROM conversations WHERE source = ? GROUP BY variant ORDER BY variant",
        [source],
    ).fetchall()
    return [(variant, n, int(hidden or 0)) for variant, n, hidden in rows]
