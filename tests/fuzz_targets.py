"""Inputs from anywhere, for every spec format and every importer, and what must hold for each.

Shared by the property tests (few examples, in the default suite) and ``scripts/fuzz.py`` (a longer
campaign). A target returns normally when the input ended accepted or quarantined with a reason, and
raises AssertionError (a broken promise) or anything else (a crash) otherwise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from digit_assets import settings
from digit_assets.engine.baselines.importers import import_directory
from digit_assets.engine.ingest import ingest_file

SPEC_SUFFIXES = (".json", ".jsonl", ".yaml", ".yml")
SHIPPED_SPECS = sorted((settings.PROJECT_ROOT / "specs").glob("*.*"))
SHIPPED_BASELINES = sorted(path for path in (settings.PROJECT_ROOT / "tests" / "data" / "baselines").rglob("*") if path.is_file())

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
schema_keys = st.sampled_from(
    ["type", "properties", "required", "items", "$ref", "$schema", "$defs", "enum", "allOf", "anyOf", "format", "nullable", "description"]
)
schemas = st.recursive(
    st.dictionaries(schema_keys, json_scalars | st.sampled_from(["object", "string", "dict", "#/$defs/a", "http://127.0.0.1:1/x"]), max_size=4),
    lambda children: st.dictionaries(schema_keys, children | st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3), max_size=4),
    max_leaves=20,
)
tool_entries = st.one_of(
    st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries({"name": st.text(max_size=10) | json_scalars, "description": json_scalars, "parameters": schemas})}),
    st.fixed_dictionaries({"name": st.text(max_size=10) | json_scalars, "description": json_scalars, "parameters": schemas, "response": schemas}),
    st.fixed_dictionaries({"name": st.text(max_size=10), "inputSchema": schemas | json_values, "outputSchema": schemas}),
    json_values,
)
documents = st.one_of(
    st.lists(tool_entries, max_size=4),
    st.fixed_dictionaries({"tools": st.lists(tool_entries, max_size=4)}),
    st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "result": st.fixed_dictionaries({"tools": st.lists(tool_entries, max_size=3)})}),
    st.fixed_dictionaries(
        {"openapi": st.just("3.0.0"), "paths": st.dictionaries(st.text(max_size=6).map(lambda p: "/" + p), st.dictionaries(st.sampled_from(["get", "post", "x"]), json_values | schemas, max_size=2), max_size=3)}
    ),
    json_values,
)


def _serialize(document: Any, syntax: str) -> bytes:
    if syntax == "jsonl" and isinstance(document, list):
        return "".join(json.dumps(item) + "\n" for item in document).encode()
    if syntax == "yaml":
        return yaml.safe_dump(document, allow_unicode=True).encode()
    return json.dumps(document).encode()


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for position, value in edits:
        if buffer:
            buffer[position % len(buffer)] = value
    return bytes(buffer)


spec_inputs = st.one_of(
    st.binary(max_size=400),
    st.builds(_serialize, documents, st.sampled_from(["json", "jsonl", "yaml"])),
    st.builds(
        lambda path, cut, edits: _mutate(path.read_bytes()[:cut], edits),
        st.sampled_from(SHIPPED_SPECS),
        st.integers(min_value=0, max_value=20_000),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6),
    ),
)

call_strings = st.one_of(
    st.text(alphabet="abf.()=,'\"[]{}:-+1e9 _*", max_size=60),
    st.builds(lambda name, value: f"{name}(a={value})", st.sampled_from(["f", "a.b", "1", "f.g.h"]), st.text(alphabet="-+~()[]{}1e9.'x,", max_size=40)),
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "x"]) | json_scalars},
    optional={
        "content": json_values,
        "tool_calls": st.lists(st.fixed_dictionaries({"id": json_values, "function": st.fixed_dictionaries({"name": json_scalars, "arguments": json_values | st.just("{}")})}), max_size=2) | json_values,
        "tool_call_id": json_values,
    },
)
baseline_records = st.one_of(
    st.fixed_dictionaries({"task_id": json_scalars}, optional={"messages": st.lists(messages, max_size=5) | json_values, "tools": json_values, "reward": json_scalars}),
    st.fixed_dictionaries({"id": json_scalars, "ground_truth": st.lists(st.lists(call_strings | json_scalars, max_size=3), max_size=3) | json_values}),
    st.fixed_dictionaries({"id": json_scalars, "question": st.lists(st.lists(messages, max_size=2), max_size=3) | json_values}),
    json_values,
)
baseline_inputs = st.one_of(
    st.binary(max_size=400),
    st.lists(baseline_records, max_size=5).map(lambda records: "".join(json.dumps(r) + "\n" for r in records).encode()),
    st.lists(baseline_records, max_size=5).map(lambda records: json.dumps(records).encode()),
    st.builds(
        lambda path, cut, edits: _mutate(path.read_bytes()[:cut], edits),
        st.sampled_from(SHIPPED_BASELINES),
        st.integers(min_value=0, max_value=20_000),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=6),
    ),
)
BASELINE_NAMES = ("runs.jsonl", "runs.json", "multi_ground_truth.jsonl", "multi_questions.jsonl")
baseline_names = st.sampled_from(BASELINE_NAMES)


def check_spec(data: bytes, suffix: str) -> None:
    """Every tool either accepted or rejected with a reason; a file that yields nothing says why."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / f"fuzz{suffix}").write_bytes(data)
        result = ingest_file(root / f"fuzz{suffix}", root)
    if result.format is None:  # the file as a whole was refused: it says why
        assert result.file_error and len(result.rejections) == 1, result
    # A file that was read may yield nothing: an empty tool list, OpenAPI without operations.
    assert all(rejection.reason.startswith(f"fuzz{suffix}") for rejection in result.rejections)
    assert all(rejection.raw is None or len(rejection.raw) <= 2_000 for rejection in result.rejections)
    for tool in result.tools:
        json.dumps(tool.parameters, allow_nan=False)


def check_baselines(files: dict[str, bytes]) -> None:
    """Every file imported or rejected with a reason; what is imported is valid JSON."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for name, data in files.items():
            (root / name).write_bytes(data)
        results = import_directory(root)
    for result in results:
        assert all(rejection.reason for rejection in result.rejections)
        for record in result.records:
            json.dumps(record.model_dump(mode="json"), allow_nan=False)
