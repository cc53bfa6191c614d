"""Error recovery (method.md step 10): before some gold calls, a plausible wrong call answered by a
short hint, so the data shows an assistant noticing a mistake and fixing it.

This module holds the method's part: where recoveries go and the rules any proposed mistake must
pass (schema-valid, different from the gold call, a hint that names no tool or parameter). The
offline proposer is :mod:`digit_assets.engine.offline.mistakes`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from digit_assets.engine.synthesis.model import REFERENCE_LEAK, ExecutedCall, ToolView
from digit_assets.engine.synthesis.simulation import (
    argument_problems,
)
from digit_assets.engine.synthesis.text import leaked_identifiers

MAX_RECOVERIES = 3


def choose_recovery_positions(n_calls: int, rng: random.Random, rate: float) -> list[int]:
    """With probability ``rate``, 1..3 distinct call positions of a turn (never more than it has)."""
    if n_calls <= 0 or rng.random() >= rate:
        return []
    return sorted(rng.sample(range(n_calls), rng.randint(1, min(MAX_RECOVERIES, n_calls))))


def wrong_call_problems(
    wrong_tool: str, wrong_arguments: dict[str, Any], hint: str, gold: ExecutedCall, tools: Sequence[ToolView]
) -> list[str]:
    """Why a proposed wrong call may not be inserted: unknown tool, schema-invalid, same as gold, bad hint."""
    problems = []
    tool = next((t for t in tools if t.name == wrong_tool), None)
    if tool is None:
        problems.append(f"the wrong call before {gold.ref} uses {wrong_tool!r}, which is not in the tool subset")
    else:
        problems += argument_problems(tool, wrong_arguments)
    if wrong_tool == gold.tool and wrong_arguments == gold.arguments:
        problems.append(f"the wrong call before {gold.ref} is identical to the gold call")
    if not hint.strip():
        problems.append(f"the hint before {gold.ref} is empty")
    names = [t.name for t in tools] + [p for t in tools for p in t.parameters.get("properties", {})]
    problems += [f"the hint before {gold.ref} names the identifier {name!r}" for name in leaked_identifiers(hint, names)]
    if REFERENCE_LEAK.search(hint):
        problems.append(f"the hint before {gold.ref} leaks a $k reference")
    return problems
