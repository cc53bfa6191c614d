"""The rules of a turn's user request (method.md step 4), whoever writes it, the offline writer
(:mod:`digit_assets.engine.offline.request_writer`) or a model."""

from __future__ import annotations

from digit_assets.engine.synthesis.model import REFERENCE_LEAK, Scenario, TurnPlan
from digit_assets.engine.synthesis.text import (
    find_value,
    is_mentionable,
    leaked_identifiers,
    value_text,
)

# --- The rules ----------------------------------------------------------------------------------------

MAX_REQUEST_CHARS = 2_000


def request_problems(text: str, plan: TurnPlan, scenario: Scenario) -> list[str]:
    """Why a request cannot be used for this plan (empty: accepted)."""
    stripped = text.strip()
    if not stripped:
        return ["The request is empty."]
    problems: list[str] = []
    if len(stripped) > MAX_REQUEST_CHARS:
        problems.append(f"The request is {len(stripped)} characters long; at most {MAX_REQUEST_CHARS} are allowed.")
    tool_names = [tool.name for tool in scenario.tools]
    param_names = sorted({param for tool in scenario.tools for param in tool.parameters.get("properties", {})})
    problems += [f"The request names the tool {name}." for name in leaked_identifiers(stripped, tool_names)]
    problems += [f"The request names the parameter {name}." for name in leaked_identifiers(stripped, param_names)]
    leak = REFERENCE_LEAK.search(stripped)
    if leak:
        problems.append(f"The request leaks the call reference {leak.group(0)}.")
    hidden = set(plan.hidden)
    hidden_positions: list[int] = []
    explicit_positions: list[int] = []
    for call in plan.calls:
        for param, value in call.literals().items():
            if not is_mentionable(value):
                continue
            position = find_value(stripped, value)
            if position < 0:
                kind = "hidden call" if call.ref in hidden else "call"
                problems.append(
                    f"The request does not mention the value {value_text(value)!r} "
                    f"({param} of the {kind} {call.ref} {call.tool})."
                )
            elif call.ref in hidden:
                hidden_positions.append(position)
            else:
                explicit_positions.append(position)
    if hidden_positions and explicit_positions and max(hidden_positions) < min(explicit_positions):
        problems.append("Every value of the hidden calls comes before the first value of the explicit calls.")
    return problems
