"""Step 11: accepted conversations as fine-tuning records, one JSONL file per variant.

Each line of ``<variant>.jsonl`` is exactly ``{"messages": [...], "tools": [...]}`` (the OpenAI
fine-tuning / Hugging Face chat shape); ``<variant>.index.jsonl`` gives, line for line, the
conversation id, domain and provenance (run id, seed, config hash) of the same record.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from digit_assets.engine.records import ConversationRecord


def export_jsonl(records: Iterable[ConversationRecord], directory: Path) -> dict[str, tuple[Path, int]]:
    """Write every variant's file atomically (temp file, then rename); returns path and row count."""
    by_variant: dict[str, list[ConversationRecord]] = defaultdict(list)
    for record in records:
        by_variant[record.variant].append(record)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for variant, rows in sorted(by_variant.items()):
        data = directory / f"{variant}.jsonl"
        index = directory / f"{variant}.index.jsonl"
        _write_lines(data, ({"messages": r.messages, "tools": r.tools} for r in rows))
        _write_lines(
            index,
            (
                {"conversation_id": r.conversation_id, "domain": r.domain, **r.meta.get("provenance", {})}
                for r in rows
            ),
        )
        written[variant] = (data, len(rows))
    return written


def _write_lines(path: Path, lines: Iterable[dict]) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    os.replace(partial, path)
