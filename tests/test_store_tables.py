"""Per-table row mapping in ``store/``: what an asset writes is what its checks read back."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from digit_assets.engine.provenance import Provenance
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.specs import Rejection
from digit_assets.store import Store, insert_rows
from digit_assets.store.conversations import conversation_counts, conversation_row, hidden_calls_per_variant, load_conversations
from digit_assets.engine.synthesis.dedup import DedupSettings, NearDuplicate
from digit_assets.store.dataset import deduplication_events, duplicates_not_pointing_to_kept, replace_deduplication
from digit_assets.store.quarantine import counts_by_source, first_reasons, quarantine_rows

PROVENANCE = Provenance(run_id="run-1", seed=7, config_hash="cafe")


def _record(conversation_id: str, variant: str = "digit_tc", hidden: int = 1) -> ConversationRecord:
    return ConversationRecord(
        conversation_id=conversation_id,
        source="digit_tc",
        variant=variant,
        domain="shop",
        messages=[{"role": "user", "content": "Where is my order?"}, {"role": "assistant", "content": "On its way."}],
        tools=[],
        meta={"hidden_calls": hidden},
    )


def test_conversations_round_trip_with_their_stamps_and_counts(tmp_path):
    with Store(tmp_path / "s.duckdb").transaction() as conn:
        rows = [conversation_row(_record("c1"), PROVENANCE, shard=0), conversation_row(_record("c2", "no_impl", 0), PROVENANCE, shard=1)]
        insert_rows(conn, "conversations", rows)
        loaded = load_conversations(conn, source="digit_tc")
        assert [r.conversation_id for r in loaded] == ["c1", "c2"]
        assert loaded[0].meta == {"hidden_calls": 1, "provenance": {"run_id": "run-1", "seed": 7, "config_hash": "cafe"}}
        assert conversation_counts(conn) == [("digit_tc", "digit_tc", "shop", 1), ("digit_tc", "no_impl", "shop", 1)]
        assert hidden_calls_per_variant(conn, "digit_tc") == [("digit_tc", 1, 1), ("no_impl", 1, 0)]


def test_a_row_that_is_not_a_record_raises_or_is_reported(tmp_path):
    with Store(tmp_path / "s.duckdb").transaction() as conn:
        good = conversation_row(_record("c1"), PROVENANCE, shard=0)
        bad = {**conversation_row(_record("c0"), PROVENANCE, shard=0), "messages": json.dumps("not a list")}
        insert_rows(conn, "conversations", [bad, good])
        with pytest.raises(ValidationError):
            load_conversations(conn, source="digit_tc")
        problems: list[str] = []
        loaded = load_conversations(conn, source="digit_tc", problems=problems)
    assert [r.conversation_id for r in loaded] == ["c1"]
    assert len(problems) == 1 and problems[0].startswith("c0: ")


def test_quarantine_rows_are_counted_and_explained_per_stage(tmp_path):
    rejections = [
        Rejection(stage="import", source="runs.jsonl", item="r2", position="line 2", reason="line 2: no messages"),
        Rejection(stage="import", source="runs.jsonl", item="r1", position="line 1", reason="line 1: not JSON"),
        Rejection(stage="ingestion", source="shop.json", item="t", position="[0]", reason="shop.json: t has no name"),
    ]
    with Store(tmp_path / "s.duckdb").transaction() as conn:
        insert_rows(conn, "quarantine", quarantine_rows(rejections, PROVENANCE))
        assert counts_by_source(conn, ("import",)) == [("import", "runs.jsonl", 2)]
        assert counts_by_source(conn, ("import", "ingestion")) == [("import", "runs.jsonl", 2), ("ingestion", "shop.json", 1)]
        assert first_reasons(conn, ("import",)) == ["line 1: not JSON", "line 2: no messages"]
        assert first_reasons(conn, ("import",), limit=1) == ["line 1: not JSON"]
        stamps = conn.execute("SELECT DISTINCT run_id, seed, config_hash FROM quarantine").fetchall()
    assert stamps == [("run-1", 7, "cafe")]


def test_near_duplicates_replace_their_tables_feed_the_funnel_and_must_point_to_kept_conversations(tmp_path):
    with Store(tmp_path / "s.duckdb").transaction() as conn:
        insert_rows(conn, "conversations", [conversation_row(_record(c), PROVENANCE, shard=0) for c in ("c1", "c2", "c3")])
        stale = [NearDuplicate("c1", "digit_tc", "c9", 0.9)]
        replace_deduplication(conn, stale, {"digit_tc": 3}, DedupSettings(), PROVENANCE)
        good = [NearDuplicate("c2", "digit_tc", "c1", 0.91)]
        replace_deduplication(conn, good, {"digit_tc": 3}, DedupSettings(threshold=0.9), PROVENANCE)
        assert conn.execute("SELECT conversation_id, duplicate_of FROM near_duplicates").fetchall() == [("c2", "c1")]
        assert conn.execute("SELECT examined, removed, threshold FROM deduplication").fetchall() == [(3, 1, 0.9)]
        assert sorted(deduplication_events(conn)) == [("digit_tc", None, "near_duplicate", False)] + [("digit_tc", None, "near_duplicate", True)] * 2
        assert duplicates_not_pointing_to_kept(conn) == []
        # A duplicate of a removed conversation, of a missing one: both reported.
        replace_deduplication(
            conn, [*good, NearDuplicate("c3", "digit_tc", "c2", 0.95), NearDuplicate("c1", "digit_tc", "gone", 0.8)],
            {"digit_tc": 3}, DedupSettings(), PROVENANCE,
        )
        assert duplicates_not_pointing_to_kept(conn) == [
            ("c1", "gone", "not a stored conversation"), ("c2", "c1", "itself removed"), ("c3", "c2", "itself removed"),
        ]
