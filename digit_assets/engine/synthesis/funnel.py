"""The acceptance funnel: how many turns and conversations reach, pass and fail each stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from digit_assets.engine.synthesis.rollout import CONVERSATION_STAGES, TURN_STAGES

Event = tuple[str, "int | None", str, bool]  # (variant, turn, stage, accepted)


def funnel_rows(events: Iterable[Event]) -> list[dict[str, object]]:
    """Rows (variant, level, stage, attempted, accepted, rejected) in pipeline order.

    A turn ends in one event: ``turn`` accepted, or a failure at its stage; so a turn that failed at
    a stage also reached (and passed) every stage before it. Conversation stages are counted as seen.
    Injected error recoveries are counted as their own stage (a refused proposal does not fail a turn).
    """
    turn_end: Counter = Counter()
    conversation: Counter = Counter()
    recovery: Counter = Counter()
    variants: set[str] = set()
    for variant, turn, stage, accepted in events:
        variants.add(variant)
        if stage == "recovery":
            recovery[(variant, accepted)] += 1
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
        for stage in CONVERSATION_STAGES[1:]:
            rows.append(_row(variant, "conversation", stage, conversation[(variant, stage, True)], conversation[(variant, stage, False)]))
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
