"""What the LLM roles cost, into the ``llm_usage`` table."""

from __future__ import annotations

import duckdb

from digit_assets.engine.llm.usage import Usage
from digit_assets.engine.provenance import Provenance
from digit_assets.store import provenance_columns


def usage_rows(
    usage: Usage, *, asset: str, shard: int | None, variant: str, llm: str, provenance: Provenance
) -> list[dict[str, object]]:
    """One row per role, keyed by the asset execution (asset, shard, variant) and stamped."""
    key = {"asset": asset, "shard": shard, "variant": variant, "llm": llm, **provenance_columns(provenance)}
    return [{**key, **row} for row in usage.rows()]


def total_requests(conn: duckdb.DuckDBPyConnection) -> int:
    """HTTP requests the LLM port sent (first tries, retries, repairs) over every stored row."""
    return int(conn.execute("SELECT coalesce(sum(requests), 0) FROM llm_usage").fetchone()[0])


def usage_per_model(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(model, role, calls, failures, repairs, prompt tokens, cached prompt tokens, completion tokens) per row."""
    return conn.execute(
        """
        SELECT model, role, calls, failures, repairs, prompt_tokens, cached_prompt_tokens, completion_tokens
        FROM llm_usage_per_model ORDER BY model, role
        """
    ).fetchall()
