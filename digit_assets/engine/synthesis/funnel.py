"""The acceptance funnel: how many turns and conversations reach, pass and fail each stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from digit_assets.engine.synthesis.dedup import NEAR_DUPLICATE_STAGE
from digit_assets.engine.synthesis.rollout import CONVERSATION_STAGES, REASK_STAGE, TURN_STAGES, Outcome

Event = tuple[str, "int | None", str, bool]  # (variant, turn, stage, accepted)


def funnel_rows(events: Iterable[Event]) -> list[dict[str, object]]:
    """Rows (variant, level, stage, attempted, accepted, rejected) in pipeline order.

    A turn ends in one event: ``turn`` accepted, or a failure at its stage; so a turn that failed at
    a stage also reached (and passed) every stage before it. Conversation stages are counted as seen.
    Injected error recoveries are counted as their own stage (a refused proposal does not fail a turn),
    and so are re-asked simulations (a refused re-ask fails its turn at ``simulation`` as well).
    Near-duplicate removal, run over every shard's accepted conversations, comes last when it has run.
    """
    turn_end: Counter = Counter()
    conversation: Counter = Counter()
    recovery: Counter = Counter()
    reask: Counter = Counter()
    variants: set[str] = set()
    for variant, turn, stage, accepted in events:
        variants.add(variant)
        if stage == "recovery":
            recovery[(variant, accepted)] += 1
        elif stage == REASK_STAGE:
            reask[(variant, accepted)] += 1
        elif turn is None:
            conversation[(variant, stage, accepted)] += 1
        else:
            turn_end[(variant, "done" if accepted else stage)] += 1
    rows: list[dict[str, object]] = []
    for variant in sorted(variants):
        for stage in CONVERSATION_STAGES[:1]:
            rows.append(_row(variant, "conversation", stage, conversation[(variant, stage, True)], conversation[(variant, stage, False)]))
        reaching = sum(count for (v, _), count in turn_end.items() if v == variant)
        for stage in TURN_STAGES:
            rejected = turn_end[(variant, stage)]
            rows.append(_row(variant, "turn", stage, reaching - rejected, rejected))
            reaching -= rejected
        rows.append(_row(variant, "turn", "recovery_injection", recovery[(variant, True)], recovery[(variant, False)]))
        rows.append(_row(variant, "turn", REASK_STAGE, reask[(variant, True)], reask[(variant, False)]))
        for stage in CONVERSATION_STAGES[1:]:
            rows.append(_row(variant, "conversation", stage, conversation[(variant, stage, True)], conversation[(variant, stage, False)]))
        kept, removed = conversation[(variant, NEAR_DUPLICATE_STAGE, True)], conversation[(variant, NEAR_DUPLICATE_STAGE, False)]
        if kept or removed:
            rows.append(_row(variant, "conversation", NEAR_DUPLICATE_STAGE, kept, removed))
    return rows


def _row(variant: str, level: str, stage: str, accepted: int, rejected: int) -> dict[str, object]:
    return {"variant": variant, "level": level, "stage": stage, "attempted": accepted + rejected, "accepted": accepted, "rejected": rejected}


def funnel_markdown(rows: list[dict[str, object]]) -> str:
    lines = ["| variant | level | stage | attempted | accepted | rejected |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['variant']} | {r['level']} | {r['stage']} | {r['attempted']} | {r['accepted']} | {r['rejected']} |"
        for r in rows
    ]
    return "\n".join(lines)


_EVENT_STAGE = {"recovery_injection": "recovery"}  # funnel row name -> the stage its events carry


def zero_yield_problem(outcomes: Sequence[Outcome], rows: Sequence[dict[str, object]]) -> str | None:
    """Why a synthesis run produced nothing usable, with the dominant rejection reason; None when it did.

    A run fails when a variant accepted no conversation, or when a stage rejected everything that
    reached it (a filter or role that never lets anything through is broken, not strict).
    """
    problems: list[str] = []
    attempted = Counter(o.variant for o in outcomes)
    accepted = Counter(o.variant for o in outcomes if o.accepted)
    for variant in sorted(attempted):
        if not accepted[variant]:
            problems.append(f"{variant} accepted 0 of {attempted[variant]} conversations; {_dominant(outcomes, variant)}")
    for row in rows:
        # Re-asks that all fail leave their turns to the simulation row, which reports them.
        if row["stage"] != REASK_STAGE and row["attempted"] and not row["accepted"] and accepted[str(row["variant"])]:
            problems.append(
                f"{row['variant']}: stage {row['stage']} rejected all {row['attempted']} {row['level']}s that reached it; "
                f"{_dominant(outcomes, str(row['variant']), _EVENT_STAGE.get(str(row['stage']), str(row['stage'])))}"
            )
    return "\n".join(problems) or None


def _dominant(outcomes: Sequence[Outcome], variant: str, stage: str | None = None) -> str:
    """The stage that rejected most often and its most frequent reason."""
    failures = [
        e for o in outcomes if o.variant == variant for e in o.events if not e.accepted and (stage is None or e.stage == stage)
    ]
    # "no complete turn" only wraps the failure of a turn stage: name that stage instead.
    failures = [e for e in failures if e.stage != "rollout"] or failures
    if not failures:
        return "no rejection was recorded"
    top_stage, count = Counter(e.stage for e in failures).most_common(1)[0]
    reason, times = Counter(e.reason for e in failures if e.stage == top_stage).most_common(1)[0]
    return f"most rejections at {top_stage} ({count} of {len(failures)}), most often ({times}x): {reason}"
