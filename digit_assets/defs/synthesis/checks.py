"""One check per property of the synthesized conversations."""


import json
from collections.abc import Callable

import dagster as dg

from digit_assets.defs.resources import StoreResource
from digit_assets.defs.synthesis.assets import conversation_exports, export_directory, synthetic_conversations
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.synthesis import audit
from digit_assets.store.catalog import load_enriched_tools
from digit_assets.store.conversations import hidden_calls_per_variant, load_conversations


def _audit(store: StoreResource, find: Callable[[ConversationRecord, dict], list[str]]) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        records = load_conversations(conn, source="digit_tc")
        schemas: dict[str, dict[str, dict]] = {}
        for tool in load_enriched_tools(conn):
            schemas.setdefault(tool.spec.namespace, {})[tool.spec.name] = tool.output_schema
    problems = [problem for record in records for problem in find(record, schemas.get(record.domain or "", {}))]
    failing = len({p.split(" ", 1)[0] for p in problems})
    return dg.AssetCheckResult(
        passed=bool(records) and not problems,
        metadata={
            "conversations": len(records),
            "conversations_failing": failing,
            "problems": len(problems),
            "examples": dg.MetadataValue.json(problems[:20]),
        },
    )


@dg.asset_check(asset=synthetic_conversations, description="Every executed call validates against its tool's parameter schema.")
def calls_match_parameter_schemas(store: StoreResource) -> dg.AssetCheckResult:
    return _audit(store, lambda record, _: audit.invalid_arguments(record))


@dg.asset_check(asset=synthetic_conversations, description="Every simulated result validates against its tool's output schema.")
def outputs_match_output_schemas(store: StoreResource) -> dg.AssetCheckResult:
    return _audit(store, audit.invalid_outputs)


@dg.asset_check(asset=synthetic_conversations, description="No user message names a tool or parameter or leaks a $k reference.")
def user_messages_do_not_leak(store: StoreResource) -> dg.AssetCheckResult:
    return _audit(store, lambda record, _: audit.leaks(record))


@dg.asset_check(asset=synthetic_conversations, description="Every argument value is in the user's words or an earlier result.")
def arguments_are_grounded(store: StoreResource) -> dg.AssetCheckResult:
    return _audit(store, lambda record, _: audit.ungrounded_arguments(record))


@dg.asset_check(asset=synthetic_conversations, description="DiGiT-TC has hidden (implicit) calls; no_impl has none.")
def hidden_calls_only_where_intended(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = hidden_calls_per_variant(conn, "digit_tc")
    hidden = {variant: total for variant, _, total in rows}
    counts = {variant: n for variant, n, _ in rows}
    passed = hidden.get("digit_tc", 0) > 0 and hidden.get("no_impl", 0) == 0
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "hidden_calls_per_variant": dg.MetadataValue.json(hidden),
            "conversations_per_variant": dg.MetadataValue.json(counts),
        },
    )


@dg.asset_check(asset=conversation_exports, description="Every exported line parses as JSON with exactly messages and tools.")
def exports_are_chat_records(store: StoreResource) -> dg.AssetCheckResult:
    directory = export_directory()
    bad, lines = [], 0
    for path in sorted(directory.glob("*.jsonl")):
        if path.name.endswith(".index.jsonl"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            lines += 1
            try:
                parsed = json.loads(line)
            except ValueError as exc:
                bad.append(f"{path.name}:{number}: not JSON ({exc})")
                continue
            if set(parsed) != {"messages", "tools"} or not parsed["messages"]:
                bad.append(f"{path.name}:{number}: keys {sorted(parsed)}")
    return dg.AssetCheckResult(passed=lines > 0 and not bad, metadata={"lines": lines, "bad": dg.MetadataValue.json(bad[:20])})
