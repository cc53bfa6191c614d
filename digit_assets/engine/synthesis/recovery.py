"""Error recovery (method.md step 10): before some gold calls, a plausible wrong call answered by the
error a real API would return, so the data shows an assistant reading a failure and repairing it.

This module holds the method's part: where recoveries go and the rules any proposed mistake must
pass, whoever proposed it (the offline proposer is :mod:`digit_assets.engine.offline.mistakes`):

- the mistake is in the arguments of the gold call's tool (a call of another tool would not fail,
  it would do something else), differs from the gold call, and repeats no call that already
  succeeded in the conversation (the same call would succeed again);
- the wrong call may break the parameter schema only if its error is a 400/422 that names the
  broken argument (a missing field, a wrong type, a value outside the options);
- the error has a code, a status word and a cause naming the offending value; it gives no advice
  ("use ...", "try ...", "please ...", "did you mean"), names no tool and leaks no ``$k`` reference;
  the message is about the call, never about the user or the request (a tool cannot know them);
- the gold call that follows repairs the cause: it changes an argument the error names.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from digit_assets.engine.synthesis.model import REFERENCE_LEAK, ExecutedCall, ToolError, ToolView
from digit_assets.engine.synthesis.simulation import (
    argument_problems,
)
from digit_assets.engine.synthesis.text import find_value, leaked_identifiers

MAX_RECOVERIES = 3
# In the stateful search's turns that have an error, about three in four have exactly one.
FURTHER_RECOVERY_RATE = 0.25
SCHEMA_ERROR_CODES = frozenset({400, 422})

# Sentence openings that instruct instead of reporting, and advisory phrases anywhere. The analytics
# detector that measures advice is kept apart on purpose (the measure must not share the rule).
_INSTRUCTING_STARTS = frozenset(
    "use try please check ensure make provide specify pass retry choose select supply include verify call consider "
    "refer look pick double remember first search list fetch get find set ask run".split()
)
_ADVICE = re.compile(
    r"\b(please|make sure|be sure|you should|you must|you need|you can|you could|you may want|you might want|"
    r"did you mean|try again|instead|remember to|don'?t forget|the earlier result|an earlier result|the user|"
    r"was asked|was requested|was meant|for this request)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[.;!?\n]+|:\s+")
_STATUS_WORD = re.compile(r"^[A-Z][A-Z_]{2,}$")
_WORD = re.compile(r"[A-Za-z']+")


def choose_recovery_positions(n_calls: int, rng: random.Random, rate: float) -> list[int]:
    """With probability ``rate``, 1..3 distinct call positions of a turn (never more than it has):
    one, and each further one with probability :data:`FURTHER_RECOVERY_RATE`, the shape of the
    turns with errors in stateful trajectories (docs/recovery.md)."""
    if n_calls <= 0 or rng.random() >= rate:
        return []
    count = 1
    while count < min(MAX_RECOVERIES, n_calls) and rng.random() < FURTHER_RECOVERY_RATE:
        count += 1
    return sorted(rng.sample(range(n_calls), count))


def advice_in(message: str) -> str | None:
    """The advisory phrase or instructing sentence opening of an error message, or None."""
    phrase = _ADVICE.search(message)
    if phrase:
        return phrase.group(0)
    for sentence in _SENTENCE.split(message):
        words = _WORD.findall(sentence)
        if words and words[0].lower() in _INSTRUCTING_STARTS:
            return " ".join(words[:3])
    return None


_ABSENT = object()


def _changed_arguments(wrong: dict[str, Any], gold: dict[str, Any]) -> set[str]:
    return {name for name in wrong.keys() | gold.keys() if wrong.get(name, _ABSENT) != gold.get(name, _ABSENT)}


def _named_arguments(message: str, wrong: dict[str, Any], gold: dict[str, Any]) -> set[str]:
    """The arguments an error message names: by parameter name (quoted or as a word), or by the
    value the wrong call sent."""
    named = set()
    for name in wrong.keys() | gold.keys():
        if re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", message):
            named.add(name)
        elif name in wrong and not isinstance(wrong[name], bool) and find_value(message, wrong[name]) >= 0:
            named.add(name)
    return named


def wrong_call_problems(
    wrong_tool: str,
    wrong_arguments: dict[str, Any],
    error: ToolError,
    gold: ExecutedCall,
    tools: Sequence[ToolView],
    history: Sequence[ExecutedCall] = (),
) -> list[str]:
    """Why a proposed wrong call and its error may not be inserted before ``gold`` (empty: they may).

    ``history``: the calls of the conversation before the wrong call; a wrong call equal to one of
    its successful calls is refused.
    """
    where = f"the wrong call before {gold.ref}"
    problems: list[str] = []
    tool = next((t for t in tools if t.name == wrong_tool), None)
    if tool is None:
        problems.append(f"{where} uses {wrong_tool!r}, which is not in the tool subset")
    elif wrong_tool != gold.tool:
        problems.append(
            f"{where} calls {wrong_tool}, not {gold.tool}: the mistake must be in the arguments of the call it "
            f"precedes (another tool would not fail, it would do something else)"
        )
    if wrong_tool == gold.tool and wrong_arguments == gold.arguments:
        problems.append(f"{where} is identical to the gold call")
    repeated = next(
        (call for call in history if call.error is None and call.tool == wrong_tool and call.arguments == wrong_arguments),
        None,
    )
    if repeated is not None:
        problems.append(f"{where} repeats {repeated.ref} {repeated.tool}, which succeeded: the same call would succeed again")
    violations = argument_problems(tool, wrong_arguments) if tool is not None else []
    if violations and error.code not in SCHEMA_ERROR_CODES:
        problems.append(
            f"{where} breaks the parameter schema ({'; '.join(violations)}) but its error is a {error.code}, not a 400/422"
        )
    problems += _error_problems(error, where, tools)
    if not error.message.strip():
        return problems
    named = _named_arguments(error.message, wrong_arguments, gold.arguments)
    changed = _changed_arguments(wrong_arguments, gold.arguments)
    if not named:
        problems.append(f"the error of {where} names no argument or value of the call: {error.message!r}")
    elif wrong_tool == gold.tool and not named & changed:
        problems.append(
            f"the repair {gold.ref} does not change what the error of {where} names ({', '.join(sorted(named))}); "
            f"it changes {', '.join(sorted(changed)) or 'nothing'}"
        )
    return problems


def _error_problems(error: ToolError, where: str, tools: Sequence[ToolView]) -> list[str]:
    """Why the error does not read like a real API's: status, cause, advice, names, references."""
    problems = []
    if not _STATUS_WORD.match(error.status):
        problems.append(f"the error of {where} has status {error.status!r}, not a status word in capitals")
    message = error.message
    if not message.strip():
        problems.append(f"the error of {where} has an empty message")
        return problems
    advice = advice_in(message)
    if advice is not None:
        problems.append(f"the error of {where} gives advice ({advice!r}) instead of stating the cause: {message!r}")
    problems += [
        f"the error of {where} names the tool {name!r}" for name in leaked_identifiers(message, [t.name for t in tools])
    ]
    if REFERENCE_LEAK.search(message):
        problems.append(f"the error of {where} leaks a $k reference")
    return problems
