"""Spec files written by an attacker or a careless publisher: nothing is fetched, read outside
``specs/``, expanded without bound, or skipped without a word."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from jsonschema import Draft202012Validator

from digit_assets.engine.baselines.environments.base import Environment, Tool
from digit_assets.engine.ingest import ingest_file
from digit_assets.engine.ingest.directory import list_spec_files, skipped_files
from digit_assets.engine.schema_refs import refusing_registry
from digit_assets.engine.synthesis.simulation import argument_problems
from digit_assets.engine.synthesis.model import ToolView

from pipeline_helpers import resources


class _Listener:
    """An HTTP server on 127.0.0.1 that counts every request it gets."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"type": "string"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Every path Python opens while the test runs (an audit hook; hooks cannot be removed, so it filters by flag)."""
    opened: list[str] = []
    active = [True]

    def hook(event: str, args: tuple) -> None:
        if active[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        yield opened
    finally:
        active[0] = False


def _tool(parameters: dict) -> dict:
    return {"type": "function", "function": {"name": "lookup", "description": "d", "parameters": parameters}}


def test_a_schema_naming_a_host_or_a_local_file_is_refused_at_ingestion_and_nothing_is_fetched(
    tmp_path: Path, listener: _Listener, opened_paths: list[str]
) -> None:
    secret = tmp_path / "outside" / "secret.json"
    secret.parent.mkdir()
    secret.write_text('{"type": "string"}')
    opened_paths.clear()
    specs = tmp_path / "specs"
    specs.mkdir()
    object_schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    tools = [
        _tool({**object_schema, "$schema": f"{listener.url}/meta.json"}),
        _tool({**object_schema, "$schema": secret.as_uri()}),
        _tool({"type": "object", "properties": {"q": {"$ref": f"{listener.url}/q.json"}}}),
        _tool({"type": "object", "properties": {"q": {"$ref": secret.as_uri()}}}),
    ]
    for index, tool in enumerate(tools):
        tool["function"]["name"] = f"lookup_{index}"
    (specs / "evil.json").write_text(json.dumps(tools))
    result = ingest_file(specs / "evil.json", specs)
    assert result.tools == []
    reasons = [rejection.reason for rejection in result.rejections]
    assert "is not a known JSON Schema draft identifier" in reasons[0] and listener.url in reasons[0]
    assert "is not a known JSON Schema draft identifier" in reasons[1] and "file://" in reasons[1]
    assert "unresolvable $ref" in reasons[2] and "unresolvable $ref" in reasons[3]
    assert listener.hits == []
    assert str(secret) not in opened_paths


def test_validators_never_fetch_what_a_schema_names(tmp_path: Path, listener: _Listener, opened_paths: list[str]) -> None:
    """The validators synthesis and the stateful baselines use, given schemas that slipped past ingestion."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string"}')
    opened_paths.clear()
    for target in (f"{listener.url}/q.json", secret.as_uri()):
        parameters = {"type": "object", "properties": {"q": {"$ref": target}}}
        view = ToolView(name="lookup", description="", parameters=parameters, output_schema={"type": "object"})
        [problem] = argument_problems(view, {"q": 1})
        assert "not valid JSON Schema" in problem and "never fetched" in problem
        with pytest.raises(Exception) as raised:  # referencing wraps the refusal as Unresolvable
            Draft202012Validator(parameters, registry=refusing_registry()).is_valid({"q": 1})
        assert "Unresolvable" in str(raised.value)
        tool = Tool(name="lookup", description="", input_schema=parameters, output_schema={"type": "object"}, handler=None, writes=False)
        environment = Environment("d", [tool], {})
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; what matters is no request below
            environment._input_validators["lookup"].is_valid({"q": 1})
    assert listener.hits == []
    assert str(secret) not in opened_paths


def test_a_symlink_out_of_specs_is_quarantined_without_any_content_of_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("TOP-SECRET first line\nmore\n")
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "tools.json").symlink_to(outside)
    (specs / "sub").mkdir()
    (specs / "sub" / "up.json").symlink_to(Path("..") / ".." / "private.txt")
    assert list_spec_files(specs) == ["sub/up.json", "tools.json"]
    for name in ("tools.json", "sub/up.json"):
        result = ingest_file(specs / name, specs)
        [rejection] = result.rejections
        assert result.tools == [] and "lies outside the directory" in rejection.reason
        assert rejection.raw is None and result.sha256 == "" and result.size_bytes == 0
        assert "TOP-SECRET" not in rejection.model_dump_json()


def test_a_symlink_inside_specs_is_read(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    (specs / "real").mkdir(parents=True)
    (specs / "real" / "a.json").write_text(json.dumps([_tool({"type": "object", "properties": {}})]))
    (specs / "b.json").symlink_to(specs / "real" / "a.json")
    assert [tool.name for tool in ingest_file(specs / "b.json", specs).tools] == ["lookup"]


BILLION_LAUGHS = """\
tools:
  - type: function
    function:
      name: laugh
      description: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      parameters:
        type: object
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_yaml_alias_bomb_is_quarantined_with_bounded_memory(tmp_path: Path, suffix: str) -> None:
    """9**9 (387 million) strings once expanded; refused from the node graph before any is built."""
    (tmp_path / f"bomb{suffix}").write_text(BILLION_LAUGHS)
    tracemalloc.start()
    try:
        result = ingest_file(tmp_path / f"bomb{suffix}", tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [rejection] = result.rejections
    assert result.tools == [] and "alias bomb" in rejection.reason and "(detected format: YAML)" in rejection.reason
    assert rejection.raw is not None and len(rejection.raw) <= 2_000
    print(f"alias bomb ({len(BILLION_LAUGHS)} bytes): peak traced memory {peak / 1e6:.2f} MB")
    assert peak < 20_000_000


def test_one_non_utf8_line_in_json_lines_loses_only_itself(tmp_path: Path) -> None:
    lines = [
        json.dumps({"type": "function", "function": {"name": f"tool_{n}", "parameters": {"type": "object"}}}) for n in range(3)
    ]
    data = (lines[0] + "\n" + lines[1]).encode() + b"\n{\"name\": \"caf\xe9\"}\n" + lines[2].encode() + b"\n"
    (tmp_path / "docs.json").write_bytes(data)  # one object per line under .json, as such docs are published
    result = ingest_file(tmp_path / "docs.json", tmp_path)
    assert [tool.name for tool in result.tools] == ["tool_0", "tool_1", "tool_2"]
    [rejection] = result.rejections
    assert rejection.position == "line 3" and "not UTF-8" in rejection.reason and "JSON Lines" in rejection.reason


def test_format_is_read_from_content_whatever_the_extension(tmp_path: Path) -> None:
    bfcl = [
        json.dumps({"name": f"fn_{n}", "description": "d", "parameters": {"type": "dict", "properties": {}}}) for n in range(2)
    ]
    (tmp_path / "docs.json").write_text("\n".join(bfcl) + "\n")
    (tmp_path / "list.yaml").write_text(json.dumps([_tool({"type": "object", "properties": {}})]))
    (tmp_path / "tools.json").write_text("- type: function\n  function:\n    name: from_yaml\n")
    assert [t.name for t in ingest_file(tmp_path / "docs.json", tmp_path).tools] == ["fn_0", "fn_1"]
    assert [t.name for t in ingest_file(tmp_path / "list.yaml", tmp_path).tools] == ["lookup"]
    assert [t.name for t in ingest_file(tmp_path / "tools.json", tmp_path).tools] == ["from_yaml"]
    (tmp_path / "broken.json").write_text('{\n  "tools": [\n    {"name": "x",}\n  ]\n}\n')
    broken = ingest_file(tmp_path / "broken.json", tmp_path)
    assert broken.file_error is not None
    assert broken.file_error.startswith("invalid JSON at line 3 column")
    assert "(detected format: JSON document)" in broken.file_error and broken.rejections[0].position == "line 3"


def test_unknown_extensions_are_in_the_ingestion_metadata_and_log(specs_dir: Path, tmp_path: Path) -> None:
    from digit_assets.defs.ingestion.assets import spec_file_partitions, tool_specs

    (specs_dir / "tools.json").write_text(json.dumps([_tool({"type": "object", "properties": {}})]))
    (specs_dir / "notes.txt").write_text("hello")
    (specs_dir / "api.toml").write_text("x = 1")
    assert {"notes.txt", "api.toml"} <= set(skipped_files(specs_dir))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(spec_file_partitions.name, ["tools.json"])
        result = dg.materialize(
            [tool_specs], partition_key="tools.json", instance=instance, resources=resources(tmp_path / "db.duckdb")
        )
        [materialization] = result.asset_materializations_for_node("tool_specs")
        skipped = materialization.metadata["skipped_files"].value
        assert {"notes.txt", "api.toml"} <= set(skipped) and "'.txt' is none of" in skipped["notes.txt"]
        logs = [record.user_message for record in instance.all_logs(result.run_id)]
        assert any("notes.txt" in message and "not ingested" in message for message in logs)


def test_a_schema_keyword_that_is_not_a_string_is_refused_with_its_reason(tmp_path: Path) -> None:
    """Found by the fuzz campaign: ``"$schema": {}`` once raised TypeError instead of a rejection."""
    (tmp_path / "odd.json").write_text(json.dumps([_tool({"type": "object", "$schema": {"x": 1}})]))
    [rejection] = ingest_file(tmp_path / "odd.json", tmp_path).rejections
    assert "$schema must be a draft identifier string, not dict" in rejection.reason


def test_the_spec_sensor_does_not_read_a_file_that_escapes_specs(specs_dir: Path, tmp_path: Path) -> None:
    import hashlib

    from digit_assets.defs.ingestion.sensors import spec_files_sensor

    outside = tmp_path / "private.txt"
    outside.write_text("TOP-SECRET")
    (specs_dir / "leak.json").symlink_to(outside)
    with dg.instance_for_test() as instance:
        result = spec_files_sensor(dg.build_sensor_context(instance=instance))
    cursor = json.loads(result.cursor)
    assert cursor["leak.json"] == "outside the directory"
    assert hashlib.sha256(b"TOP-SECRET").hexdigest() not in result.cursor
    assert "leak.json" in {request.partition_key for request in result.run_requests}
