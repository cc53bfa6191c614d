"""Step 11: accepted conversations as fine-tuning records: one JSONL file per variant, and the
training dataset (near-duplicates removed, train/validation split by scenario, Parquet + JSONL).

Each line of ``<variant>.jsonl`` is exactly ``{"messages": [...], "tools": [...]}`` (the OpenAI
fine-tuning / Hugging Face chat shape); ``<variant>.index.jsonl`` gives, line for line, the
conversation id, domain and provenance (run id, seed, config hash) of the same record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from digit_assets.engine.provenance import derive_seed, stable_hash
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


# --- The training dataset: splits by scenario, Parquet + JSONL per split --------------------------

SPLITS = ("train", "validation")


@dataclass(frozen=True)
class DatasetSettings:
    validation_share: float = 0.1  # expected share of scenarios (not conversations) in the validation split

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_share < 1.0:
            raise ValueError(f"validation_share must be strictly between 0 and 1, got {self.validation_share}")


def scenario_of(record: ConversationRecord) -> str:
    """The group a conversation's split follows: its domain and the tool set it was offered (the scenario's
    tool subset), so two conversations over the same tools never sit on both sides of the split."""
    tools = sorted(tool.get("function", {}).get("name", "") for tool in record.tools)
    return f"{record.domain or '-'}:{stable_hash(tools, 12)}"


def split_of(scenario: str, seed: int, settings: DatasetSettings) -> str:
    """The scenario's side, from a hash of (seed, scenario) alone: the same in every variant, and a
    scenario keeps its side when the run grows."""
    return "validation" if derive_seed(seed, scenario) / 2**60 < settings.validation_share else "train"


def _chat_message(message: dict) -> dict:
    """A message with every field of the Parquet schema (absent ones null)."""
    return {
        "role": message["role"],
        "content": message.get("content"),
        "tool_calls": message.get("tool_calls"),
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


_FUNCTION_CALL = pa.struct([("name", pa.string()), ("arguments", pa.string())])
_TOOL_CALL = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", _FUNCTION_CALL)])
_MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(_TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("name", pa.string()),
    ]
)
# Tool lists stay one JSON string per row: each tool's parameter schema has its own shape, which no
# single Parquet struct can hold; ``json.loads(row["tools"])`` gives the OpenAI tools list.
PARQUET_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(_MESSAGE)),
        ("tools", pa.string()),
        ("conversation_id", pa.string()),
        ("variant", pa.string()),
        ("domain", pa.string()),
        ("scenario", pa.string()),
        ("n_turns", pa.int32()),
        ("n_calls", pa.int32()),
        ("run_id", pa.string()),
        ("seed", pa.int64()),
        ("config_hash", pa.string()),
    ]
)


@dataclass(frozen=True)
class DatasetFiles:
    variant: str
    directory: Path
    rows: dict[str, int]  # split -> conversations

    def files(self) -> list[Path]:
        return [self.directory / f"{split}.{suffix}" for split in SPLITS for suffix in ("parquet", "jsonl")]


def files_fingerprint(directory: Path) -> str:
    """A hash of the Parquet files' bytes. Hugging Face ``datasets`` caches a local dataset by its folder
    and config name, not by the files' contents: a config named by this fingerprint makes a re-export
    load fresh instead of from the cache of the previous one."""
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update((directory / f"{split}.parquet").read_bytes())
    return digest.hexdigest()[:12]


def write_dataset(
    records: Iterable[ConversationRecord], splits: dict[str, str], directory: Path
) -> dict[str, DatasetFiles]:
    """Per variant, ``<directory>/<variant>/{train,validation}.{parquet,jsonl}`` (atomic writes).

    JSONL lines are exactly ``{"messages", "tools"}`` (OpenAI fine-tuning); Parquet rows add the id,
    scenario and provenance of each conversation. ``splits`` maps conversation id to its split.
    """
    grouped: dict[tuple[str, str], list[ConversationRecord]] = defaultdict(list)
    for record in records:
        grouped[(record.variant, splits[record.conversation_id])].append(record)
    written = {}
    for variant in sorted({variant for variant, _ in grouped}):
        target = directory / variant
        target.mkdir(parents=True, exist_ok=True)
        counts = {}
        for split in SPLITS:
            rows = grouped.get((variant, split), [])
            counts[split] = len(rows)
            _write_lines(target / f"{split}.jsonl", ({"messages": r.messages, "tools": r.tools} for r in rows))
            _write_parquet(target / f"{split}.parquet", rows)
        written[variant] = DatasetFiles(variant, target, counts)
    return written


def _write_parquet(path: Path, rows: list[ConversationRecord]) -> None:
    table = pa.Table.from_pylist(
        [
            {
                "messages": [_chat_message(m) for m in r.messages],
                "tools": json.dumps(r.tools, ensure_ascii=False),
                "conversation_id": r.conversation_id,
                "variant": r.variant,
                "domain": r.domain,
                "scenario": scenario_of(r),
                "n_turns": r.n_turns(),
                "n_calls": len(r.tool_calls()),
                **{key: r.meta.get("provenance", {}).get(key) for key in ("run_id", "seed", "config_hash")},
            }
            for r in rows
        ],
        schema=PARQUET_SCHEMA,
    )
    partial = path.with_suffix(path.suffix + ".partial")
    pq.write_table(table, partial)
    os.replace(partial, path)


def write_text(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


_ROLES = {"user", "assistant", "tool", "system"}


def message_problems(messages: list[dict]) -> list[str]:
    """Why a message list is not a trainable chat: unknown roles, tool results answering no call, calls unanswered."""
    problems = []
    open_calls: set[str] = set()
    for position, message in enumerate(messages):
        role = message.get("role")
        if role not in _ROLES:
            problems.append(f"message {position} has role {role!r}")
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                json.loads(function.get("arguments") or "")
            except ValueError:
                problems.append(f"message {position}: call {call.get('id')} has arguments that are not JSON")
            open_calls.add(call.get("id"))
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                problems.append(f"message {position} answers no earlier call ({message.get('tool_call_id')!r})")
            open_calls.discard(message.get("tool_call_id"))
    if open_calls:
        problems.append(f"calls never answered: {sorted(open_calls)}")
    if not messages or messages[0].get("role") not in {"user", "system"}:
        problems.append("the conversation does not open with a user (or system) message")
    return problems


def dataset_problems(directory: Path, expected: dict[str, int]) -> list[str]:
    """Load every file of one variant back and say what does not load or does not match: the Parquet
    schema, each JSONL line's keys, each conversation's messages and tools, the row counts, and that
    the two formats hold the same conversations in the same order."""
    problems: list[str] = []
    for split in SPLITS:
        parquet, lines = directory / f"{split}.parquet", directory / f"{split}.jsonl"
        missing = [str(path) for path in (parquet, lines) if not path.exists()]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
            continue
        table = pq.read_table(parquet)
        if not table.schema.equals(PARQUET_SCHEMA):
            problems.append(f"{parquet}: schema differs from the dataset schema: {table.schema}")
            continue
        rows = table.to_pylist()
        with lines.open(encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle]
        for name, count in (("Parquet", len(rows)), ("JSONL", len(records))):
            if count != expected.get(split, 0):
                problems.append(f"{split}: {name} has {count} rows, the store says {expected.get(split, 0)}")
        for number, (row, record) in enumerate(zip(rows, records), start=1):
            where = f"{split} row {number} ({row['conversation_id']})"
            if set(record) != {"messages", "tools"}:
                problems.append(f"{where}: JSONL keys {sorted(record)} are not messages and tools")
                continue
            if json.loads(row["tools"]) != record["tools"]:
                problems.append(f"{where}: Parquet and JSONL tools differ")
            if [_chat_message(m) for m in record["messages"]] != row["messages"]:
                problems.append(f"{where}: Parquet and JSONL messages differ")
            problems += [f"{where}: {p}" for p in message_problems(record["messages"])]
            if not record["tools"] or any(not (t.get("function") or {}).get("name") for t in record["tools"]):
                problems.append(f"{where}: a tool without a function name, or no tools")
    return problems
