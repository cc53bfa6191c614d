"""The rules of a turn's user request (method.md step 4), whoever writes it, the offline writer
(:mod:`digit_assets.engine.offline.request_writer`) or a model.

A request is what a person would write: no tool or parameter names (neither verbatim nor as a label
for a value, "the min size bytes 500"), no schema vocabulary, and no identifier the system made up
unless the user has seen it (:func:`~digit_assets.engine.synthesis.text.known_to_user`)."""

from __future__ import annotations

from collections.abc import Sequence

from digit_assets.engine.lexicon import words_of
from digit_assets.engine.synthesis.model import REFERENCE_LEAK, Scenario, TurnPlan
from digit_assets.engine.synthesis.text import (
    awkward_counts,
    find_value,
    is_mentionable,
    is_system_identifier,
    known_to_user,
    labelled_parameters,
    leaked_identifiers,
    schema_vocabulary,
    switch_readouts,
    system_codes,
    third_person_speaker,
    value_text,
)

# --- The rules ----------------------------------------------------------------------------------------

MAX_REQUEST_CHARS = 2_000


def request_problems(text: str, plan: TurnPlan, scenario: Scenario, seen: Sequence[str] = ()) -> list[str]:
    """Why a request cannot be used for this plan (empty: accepted). ``seen``: the messages of the
    conversation so far (the user's requests and the assistant's replies); the persona counts too."""
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
    literal_values = [value for call in plan.calls for value in call.literals().values()]
    problems += [
        f"The request uses the parameter name {name!r} as a label for a value; a person says what they want."
        for name in labelled_parameters(stripped, _all_parameter_names(scenario), literal_values)
        if name not in leaked_identifiers(stripped, [name])
    ]
    problems += [f"The request uses the schema word {word!r}." for word in schema_vocabulary(stripped)]
    problems += [
        f"The request speaks of its writer in the third person ({phrase!r}); the user writes as themselves."
        for phrase in third_person_speaker(stripped, _users_are_objects(scenario))
    ]
    problems += [
        f"The request reads a yes/no setting out as a switch ({phrase!r}); a person says what they want."
        for phrase in switch_readouts(stripped, _boolean_parameters(scenario))
    ]
    problems += [f"The request counts like a machine ({phrase!r}); a person says \"just the first one\"." for phrase in awkward_counts(stripped)]
    known = [scenario.persona, *seen]
    unknown_codes = [code for code in system_codes(stripped) if not known_to_user(code, known)]
    problems += [f"The request carries the identifier {code}, which the user has not seen." for code in unknown_codes]
    for call in plan.calls:
        for param, value in call.literals().items():
            if (
                is_system_identifier(param, value)
                and is_mentionable(value)
                and not known_to_user(value, known)
                and value_text(value) not in unknown_codes
            ):
                problems.append(
                    f"The plan needs the identifier {value_text(value)!r} ({param} of {call.ref} {call.tool}), "
                    "which the user has not seen; a lookup must discover it."
                )
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


def _all_parameter_names(scenario: Scenario) -> set[str]:
    """Every property name of the scenario's parameter schemas, nested records included."""
    names: set[str] = set()
    stack: list[object] = [tool.parameters for tool in scenario.tools]
    while stack:
        schema = stack.pop()
        if isinstance(schema, dict):
            properties = schema.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
                stack.extend(properties.values())
            stack.extend(schema[key] for key in ("items", "anyOf", "oneOf") if key in schema)
        elif isinstance(schema, list):
            stack.extend(schema)
    return names


def _schemas(scenario: Scenario) -> list[dict]:
    """Every schema in the scenario's parameters, nested ones included."""
    found: list[dict] = []
    stack: list[object] = [tool.parameters for tool in scenario.tools]
    while stack:
        schema = stack.pop()
        if isinstance(schema, dict):
            found.append(schema)
            stack.extend(value for value in schema.values() if isinstance(value, (dict, list)))
        elif isinstance(schema, list):
            stack.extend(schema)
    return found


def _boolean_parameters(scenario: Scenario) -> set[str]:
    return {
        name
        for schema in _schemas(scenario)
        if isinstance(schema.get("properties"), dict)
        for name, prop in schema["properties"].items()
        if isinstance(prop, dict) and prop.get("type") == "boolean"
    }


def _users_are_objects(scenario: Scenario) -> bool:
    """Whether the tools manage users (``remove_user``, ``user_id``): then "the user" may be one."""
    names = [tool.name for tool in scenario.tools] + [name for schema in _schemas(scenario) for name in schema.get("properties", {}) or {}]
    return any(word in ("user", "users") for name in names for word in words_of(name))
