"""The offline mistake proposer (method.md step 10, role ``propose_wrong_call``).

Plausible means what assistants actually get wrong, in the arguments of the call they were about
to make, and an error a real API returns for it, derived from the parameter schema and the session:

- an id of another kind of record from the history (a customer id where an order id belongs), or a
  mis-copied id (two digits swapped): ``404 NOT_FOUND order 'CUS-10442' not found``;
- the record the history shows was already acted on, for a once-only action (cancel, delete):
  ``409 CONFLICT order 'ORD-10001' is already cancelled``;
- a required argument left out, a number sent as text, a date in another format, a value outside
  the enum or the range: ``400 INVALID_ARGUMENT invalid value for 'size': must be one of S, M, L;
  got 'XXL'``.

Every message states the cause and names the offending value; none says what to do. The gold call
that follows changes exactly that argument. Values come from the gold call and the history.
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from digit_assets.engine.lexicon import ACTIONS, ONCE_ONLY_VERBS, is_entity_key, name_words, tool_verb
from digit_assets.engine.llm.port import LLMError
from digit_assets.engine.offline.fields import is_number, parse_moment
from digit_assets.engine.offline.session import SessionState
from digit_assets.engine.synthesis.model import ExecutedCall, ToolError, ToolView
from digit_assets.engine.synthesis.recovery import wrong_call_problems
from digit_assets.engine.synthesis.roles import PROPOSE_WRONG_CALL, WrongCallRequest, WrongCallResponse

_ENUM_SHOWN = 8  # options a message lists before "..."
_ID_WORDS = frozenset({"id", "uuid", "number", "code", "ref", "reference", "key"})
_JSON_TYPES = {"integer": "an integer", "number": "a number", "boolean": "a boolean", "string": "a string"}

_NOT_FOUND = ("{noun} {value} not found", "no {noun} with id {value}", "{noun} {value} does not exist")
_ALREADY = ("{noun} {value} is already {state}", "cannot {verb} {noun} {value}: it is already {state}")


@dataclass(frozen=True)
class Mistake:
    kind: str
    arguments: dict[str, Any]
    error: ToolError


def _noun(param: str) -> str:
    """``order_id`` -> "order": what a reference parameter points at, in plain words."""
    words = [w for w in name_words(param) if w not in _ID_WORDS]
    return " ".join(words) or "record"


def _quoted(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _typo(value: str, rng: random.Random) -> str | None:
    """Two adjacent different digits swapped: ``ORD-12345`` -> ``ORD-12435``."""
    spots = [i for i in range(len(value) - 1) if value[i].isdigit() and value[i + 1].isdigit() and value[i] != value[i + 1]]
    if not spots:
        return None
    i = rng.choice(spots)
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def _not_found(param: str, value: Any, rng: random.Random) -> ToolError:
    message = rng.choice(_NOT_FOUND).format(noun=_noun(param), value=_quoted(value))
    return ToolError(code=404, status="NOT_FOUND", message=message)


def _invalid(message: str) -> ToolError:
    return ToolError(code=400, status="INVALID_ARGUMENT", message=message)


def _foreign_ids(param: str, value: Any, pool: Mapping[str, Mapping[Hashable, None]]) -> list[Any]:
    """Ids the session holds for another kind of record (a customer id for an order id), of the
    same type as ``value`` and never a value ``param`` itself has taken."""
    own = set(pool.get(param, ()))
    return [
        other
        for name, values in pool.items()
        if name != param and is_entity_key(name) and _noun(name) != _noun(param)
        for other in values
        if type(other) is type(value) and other != value and other not in own
    ]


def _reference_mistakes(param: str, value: Any, pool: Mapping[str, Mapping[Hashable, None]], rng: random.Random) -> Iterator[Mistake]:
    foreign = _foreign_ids(param, value, pool)
    if foreign:
        wrong = rng.choice(sorted(foreign, key=str))
        yield Mistake("foreign_id", {param: wrong}, _not_found(param, wrong, rng))
    if isinstance(value, str) and (typo := _typo(value, rng)) and typo not in pool.get(param, ()):
        yield Mistake("miscopied_id", {param: typo}, _not_found(param, typo, rng))


def _enum_mistake(param: str, value: Any, options: Sequence[Any]) -> Mistake | None:
    """The option as a person writes it (another case, spaces for underscores), when that is not an option."""
    if not isinstance(value, str):
        return None
    for written in (value.replace("_", " "), value.upper(), value.title(), value.lower()):
        if written != value and written not in options:
            shown = ", ".join(str(option) for option in options[:_ENUM_SHOWN]) + (", ..." if len(options) > _ENUM_SHOWN else "")
            return Mistake("enum", {param: written}, _invalid(f"invalid value for '{param}': must be one of {shown}; got '{written}'"))
    return None


def _format_mistakes(param: str, value: Any, schema: Mapping[str, Any]) -> Iterator[Mistake]:
    """A value of the right meaning in the wrong form: text for a number, another date format, out of range."""
    declared = schema.get("type")
    if is_number(value) and declared in ("integer", "number"):
        yield Mistake("type", {param: str(value)}, _invalid(f"invalid value for '{param}': must be {_JSON_TYPES[declared]}, got string '{value}'"))
        for bound, step, word in (("maximum", 1, "at most"), ("minimum", -1, "at least")):
            limit = schema.get(bound)
            if is_number(limit) and isinstance(value, int) and value == limit:
                yield Mistake("range", {param: value + step}, _invalid(f"invalid value for '{param}': must be {word} {limit}, got {value + step}"))
    moment = parse_moment(value)
    if moment is not None and isinstance(value, str) and len(value) == 10:
        written = moment.strftime("%m/%d/%Y")
        yield Mistake("format", {param: written}, _invalid(f"invalid value for '{param}': expected a date in YYYY-MM-DD format, got '{written}'"))


@dataclass(frozen=True)
class _Session:
    """What the history says for mistakes: values seen per name, and the records each once-only
    tool already acted on (per tool and parameter)."""

    pool: Mapping[str, Mapping[Hashable, None]]
    acted_on: Mapping[tuple[str, str], tuple[Any, ...]]


def _session(history: Sequence[ExecutedCall]) -> _Session:
    acted_on: dict[tuple[str, str], list[Any]] = {}
    for call in history:
        if call.error is None and tool_verb(call.tool) in ONCE_ONLY_VERBS:
            for param, value in call.arguments.items():
                if is_entity_key(param) and isinstance(value, Hashable):
                    acted_on.setdefault((call.tool, param), []).append(value)
    return _Session(SessionState.read(history).pool, {key: tuple(values) for key, values in acted_on.items()})


def argument_mistakes(gold: ExecutedCall, tool: ToolView, state: _Session, rng: random.Random) -> list[Mistake]:
    """Every plausible one-argument mistake on the gold call, each with its error."""
    properties: Mapping[str, Any] = tool.parameters.get("properties", {})
    required = tool.parameters.get("required", ())
    mistakes: list[Mistake] = []
    for param, value in gold.arguments.items():
        schema = properties.get(param, {})
        options = schema.get("enum")
        changes: list[Mistake] = []
        if isinstance(options, list) and value in options:
            changes += [m for m in (_enum_mistake(param, value, options),) if m is not None]
        elif is_entity_key(param) or (isinstance(value, str) and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
            changes += _reference_mistakes(param, value, state.pool, rng)
        changes += _format_mistakes(param, value, schema)
        mistakes += [Mistake(change.kind, {**gold.arguments, **change.arguments}, change.error) for change in changes]
        if param in required:
            rest = {p: v for p, v in gold.arguments.items() if p != param}
            mistakes.append(Mistake("missing", rest, _invalid(f"missing required field '{param}'")))
    return mistakes + conflict_mistakes(gold, state, rng)


def conflict_mistakes(gold: ExecutedCall, state: _Session, rng: random.Random) -> list[Mistake]:
    """A once-only action (cancel, delete, close...) on a record the session shows was already acted
    on by the same tool: the wrong record, picked up from earlier in the conversation."""
    verb = tool_verb(gold.tool)
    if verb not in ONCE_ONLY_VERBS:
        return []
    done = ACTIONS.get(verb, (f"{verb}d",))[0]
    mistakes = []
    for param, value in gold.arguments.items():
        if not is_entity_key(param):
            continue
        for acted_on in state.acted_on.get((gold.tool, param), ()):
            if acted_on != value and type(acted_on) is type(value):
                message = rng.choice(_ALREADY).format(noun=_noun(param), value=_quoted(acted_on), state=done, verb=verb)
                mistakes.append(Mistake("conflict", {**gold.arguments, param: acted_on}, ToolError(code=409, status="CONFLICT", message=message)))
    return mistakes


def propose_wrong_call_offline(request: WrongCallRequest, rng: random.Random) -> WrongCallResponse:
    """A plausible wrong call and its error that pass :func:`wrong_call_problems`, of a random kind."""
    gold = request.gold
    gold_tool = next((t for t in request.tools if t.name == gold.tool), None)
    if gold_tool is None:
        raise LLMError(PROPOSE_WRONG_CALL.name, f"the gold call uses {gold.tool}, which is not among the tools")
    by_kind: dict[str, list[Mistake]] = {}
    for mistake in argument_mistakes(gold, gold_tool, _session(request.history), rng):
        by_kind.setdefault(mistake.kind, []).append(mistake)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)  # each kind of mistake as likely as the others, however many candidates it has
    for mistake in (m for kind in kinds for m in rng.sample(by_kind[kind], len(by_kind[kind]))):
        if not wrong_call_problems(gold.tool, mistake.arguments, mistake.error, gold, request.tools, request.history):
            return WrongCallResponse(tool=gold.tool, arguments=mistake.arguments, error=mistake.error)
    raise LLMError(PROPOSE_WRONG_CALL.name, f"no plausible mistake on {gold.ref} {gold.tool} passes the recovery rules")
