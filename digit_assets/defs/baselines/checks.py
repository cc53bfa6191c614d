"""One check per property of the stored baselines."""


from collections.abc import Callable

import dagster as dg

from digit_assets.defs.baselines.assets import imported_baselines, stateful_search_baselines
from digit_assets.defs.resources import StoreResource
from digit_assets.engine.baselines.audit import schema_problems, structure_problems, ungrounded_ids
from digit_assets.engine.baselines.search import recoveries
from digit_assets.engine.records import ConversationRecord
from digit_assets.store.baselines import attempts_per_domain
from digit_assets.store.conversations import conversation_counts, load_conversations
from digit_assets.store.quarantine import counts_by_source, first_reasons


def _records(store: StoreResource, source: str) -> tuple[list[ConversationRecord], list[str]]:
    """Stored rows of one source parsed as records; rows that do not parse are reported, not raised."""
    problems: list[str] = []
    with store.store().connect() as conn:
        records = load_conversations(conn, source=source, problems=problems)
    return records, problems


def _audit(records: list[ConversationRecord], problems: list[str], find: Callable[[ConversationRecord], list[str]]) -> dg.AssetCheckResult:
    problems = problems + [problem for record in records for problem in find(record)]
    return dg.AssetCheckResult(
        passed=bool(records) and not problems,
        metadata={
            "conversations": len(records),
            "problems": len(problems),
            "conversations_failing": len({p.split(":", 1)[0].split(" ", 1)[0] for p in problems}),
            "examples": dg.MetadataValue.json(problems[:20]),
        },
    )


@dg.asset_check(
    asset=stateful_search_baselines,
    description="Stored stateful-search conversations parse as records, every call is answered, every turn closed.",
)
def stateful_baselines_are_well_formed(store: StoreResource) -> dg.AssetCheckResult:
    records, problems = _records(store, "stateful_search")
    return _audit(records, problems, lambda record: structure_problems(record, complete=True))


@dg.asset_check(
    asset=stateful_search_baselines,
    description="Every call and every real output validates against its environment's input and output schemas.",
)
def stateful_baselines_match_schemas(store: StoreResource) -> dg.AssetCheckResult:
    records, problems = _records(store, "stateful_search")
    return _audit(records, problems, schema_problems)


@dg.asset_check(
    asset=stateful_search_baselines,
    description="Ids are discovered: every id argument appeared in an earlier tool output, never only in the user's words.",
)
def stateful_baselines_discover_ids(store: StoreResource) -> dg.AssetCheckResult:
    records, problems = _records(store, "stateful_search")
    return _audit(records, problems, ungrounded_ids)


@dg.asset_check(
    asset=stateful_search_baselines,
    description="Each domain's stateful-search output holds real tool errors and recoveries from them.",
)
def stateful_baselines_have_recoveries(store: StoreResource) -> dg.AssetCheckResult:
    records, _ = _records(store, "stateful_search")
    per_domain: dict[str, dict[str, int]] = {}
    for record in records:
        counts = per_domain.setdefault(record.domain or "", {"conversations": 0, "with_errors": 0, "errors": 0, "recoveries": 0})
        counts["conversations"] += 1
        counts["with_errors"] += bool(record.n_errors())
        counts["errors"] += record.n_errors()
        counts["recoveries"] += recoveries(record.messages)
    lines = ["| domain | conversations | with errors | errors | recoveries |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {c['conversations']} | {c['with_errors']} | {c['errors']} | {c['recoveries']} |" for d, c in sorted(per_domain.items())]
    return dg.AssetCheckResult(
        passed=bool(per_domain) and all(c["errors"] > 0 and c["recoveries"] > 0 for c in per_domain.values()),
        metadata={"per_domain": dg.MetadataValue.md("\n".join(lines))},
    )


@dg.asset_check(
    asset=stateful_search_baselines,
    description="Stored conversations per source, variant and domain; every searched domain has conversations.",
)
def baseline_counts(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = conversation_counts(conn)
        attempts = attempts_per_domain(conn)
    stored = {domain: n for source, _, domain, n in rows if source == "stateful_search"}
    empty = [domain for domain, _, _ in attempts if not stored.get(domain)]
    table = "| source | variant | domain | conversations |\n|---|---|---|---|\n" + "".join(f"| {s} | {v} | {d} | {n} |\n" for s, v, d, n in rows)
    return dg.AssetCheckResult(
        passed=bool(attempts) and not empty,
        metadata={
            "by_source": dg.MetadataValue.md(table),
            "turns_per_domain": dg.MetadataValue.json({d: {"solved": s, "unsolved": u} for d, s, u in attempts}),
            "searched_domains_without_conversations": dg.MetadataValue.json(empty),
        },
    )


@dg.asset_check(asset=imported_baselines, description="Imported trajectories parse as records with well-formed chat structure.")
def imported_baselines_are_well_formed(store: StoreResource) -> dg.AssetCheckResult:
    records, problems = _records(store, "import")
    result = _audit(records, problems, lambda record: structure_problems(record, complete=False))
    reused = [r.conversation_id for r in records if r.meta.get("reused_tool_call_ids")]
    note = f"{len(reused)} runs reuse tool-call ids; renumbered on import, results paired with their calls in order"
    return dg.AssetCheckResult(
        passed=result.passed,
        metadata={**result.metadata, "note": note if reused else "", "reused_tool_call_ids": dg.MetadataValue.json(reused[:20])},
    )


@dg.asset_check(asset=imported_baselines, description="Records quarantined by the importers, per file, with the first reasons.")
def imported_baselines_quarantine(store: StoreResource) -> dg.AssetCheckResult:
    with store.store().connect() as conn:
        rows = [(source, n) for _, source, n in counts_by_source(conn, ("import",))]
        reasons = first_reasons(conn, ("import",))
    table = "| file | quarantined |\n|---|---|\n" + "".join(f"| {source} | {n} |\n" for source, n in rows)
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": sum(n for _, n in rows),
            "by_file": dg.MetadataValue.md(table),
            "first_reasons": dg.MetadataValue.json(reasons),
        },
    )
