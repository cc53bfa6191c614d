"""Per-request response schemas built from the catalog, so a server that enforces the schema
(llama.cpp, vLLM, Ollama by grammar; OpenAI in strict mode) cannot answer with a structurally
invalid plan, output or verdict.

* plan and back-translation: the calls are one of the chains the scenario's data flow allows. A
  chain is a sequence of the scenario's tools in which every call after the first is fed by a
  data-flow link from an earlier call; each call has its own ref (``$next_ref`` on), its tool
  name, and that tool's own argument schema, the fed parameter restricted to the ``$k.field``
  references that earlier calls of the chain (or executed calls of earlier turns) produce for it.
  Up to :data:`CHAIN_LIMIT` chains are listed one by one; beyond that (large scenarios, long
  plans) each position lists the tools a link can feed there and the references any earlier
  position may produce for them, and the plan filters judge the pairing;
* simulation: the tool's own output schema, with the fields that repeat an argument fixed to the
  argument's value;
* request, summary, judge, wrong call, data-flow links: as tight as their content allows.

Every schema stands alone (no ``$defs``: llama.cpp does not resolve them) and carries no regex
escape (llama.cpp's grammar builder rejects ``\\d``): tool patterns with a backslash are left to the
filters. Every answer a schema admits also validates against the role's response model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from digit_assets.engine.schema_refs import RefProblem, standalone
from digit_assets.engine.synthesis.model import ExecutedCall, Link, ToolView, resolve_path
from digit_assets.engine.synthesis.planning import MIN_CONNECTED_CALLS, plannable_field, reference_path, usable_outputs
from digit_assets.engine.synthesis.simulation import MISSING, IdentityCache, RecentCache, argument_problems

CHAIN_LIMIT = 64
"""Chains listed one by one at most; a scenario with more gets the per-position schema."""
NO_DOLLAR = "^[^$\n\r\t]{1,600}$"
"""Free text that cannot leak a ``$k`` reference, on one line (the class holds the control characters
themselves, not escapes) and bounded, so a small model can neither put a raw line break inside the
JSON string nor ramble to its token cap (HTTP 500 ``Failed to parse input`` from llama.cpp)."""
LITERAL_TEXT = '^[^$"\n\r\t_][^"\n\r\t_]{0,99}$'
"""A free string argument written as a literal: it cannot pose as a ``$k.field`` reference, and holds
no ``_`` (a 135M model fills free strings with ``snake_case`` junk and tool names; what a person types
there, names, titles, search words, has none). No ``"``: llama.cpp applies a pattern to the raw
characters between the quotes, so a class that admits ``"`` lets the model end the JSON string early
(and an escape in the pattern its grammar builder rejects)."""
EMAIL = "^[a-z0-9][a-z0-9._-]{0,30}@[a-z0-9-]{1,30}([.][a-z]{2,10}){1,2}$"
"""A ``format: email`` argument (llama.cpp enforces no ``email`` format; a 135M model wrote
``johnny_paul_johnny_johnny...`` there)."""
_ENFORCED_FORMATS = frozenset({"date", "time", "date-time", "uuid"})
"""Formats llama.cpp's grammar builder enforces itself (a pattern would replace them)."""
_IN_SENTENCE = '([^$"\n\r\t.!?]|[.!?][^$"\n\r\t .!?])'
_SENTENCES = f"I {_IN_SENTENCE}{{1,200}}([.!?] {_IN_SENTENCE}{{1,200}}){{0,%d}}[.!?]?"
SUMMARY_TEXT = f"^({_SENTENCES % 2}|[A-Za-z ]{{1,24}}: {_SENTENCES % 2}|[A-Za-z ]{{1,24}}[.!] {_SENTENCES % 1})$"
"""A turn's closing message: first person from its first clause (``I ...``, ``Done: I ...``, ``All set.
I ...``), three sentences at most (a stop inside ``12.50`` or ``a@b.com`` ends none), one bounded line,
no ``$`` reference, no ``"``. SmolLM2-135M wrote ``The ...`` summaries and sentence after sentence to
its cap."""
OUTPUT_ITEMS = 3
"""Items a simulated list holds at most where its schema sets no bound (the offline simulator's own
default): under a 256-token cap a small model's open-ended list is cut mid-item."""
OUTPUT_TEXT = 60
"""Characters a simulated free string holds at most, for the same reason."""
_DROPPED = frozenset({"$schema", "$id", "$defs", "definitions", "examples", "default", "title"})
_SANITIZED = IdentityCache(4_096)


def _sanitized(schema: Any) -> Any:
    """A copy without annotations and without patterns a grammar builder would reject."""
    if isinstance(schema, list):
        return [_sanitized(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _DROPPED or (key == "pattern" and (not isinstance(value, str) or "\\" in value)):
            continue
        if key == "type" and value == "dict":  # BFCL's spelling, kept by some catalogs
            value = "object"
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _sanitized(item) for name, item in value.items()}  # names, not keywords
        else:
            out[key] = value if key in ("enum", "const", "required") else _sanitized(value)
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def standalone_tool_schemas(tool: ToolView) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tool's parameter and output schemas, references inlined and sanitized (once per tool)."""
    found = _SANITIZED.get(tool)
    if isinstance(found, tuple):
        return found
    schemas = []
    for schema in (tool.parameters, tool.output_schema):
        try:
            schemas.append(_sanitized(standalone(dict(schema))))
        except RefProblem:
            schemas.append({"type": "object"})
    return _SANITIZED.put((schemas[0], schemas[1]), tool)


def _closed(properties: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    """An object with exactly ``properties``, a dict the caller built for it (taken as is: a plan
    schema makes thousands)."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


# --- Plans -------------------------------------------------------------------------------------------


def _feeds(tools: Sequence[ToolView], links: Sequence[Link]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(producer, consumer) -> [(parameter, output path)] for every link a plan may use."""
    by_name = {tool.name: tool for tool in tools}
    feeds: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for link in links:
        producer, consumer = by_name.get(link.src_tool), by_name.get(link.dst_tool)
        if producer is None or consumer is None or producer is consumer:
            continue
        path = reference_path(link.src_field)
        if path is None or plannable_field(link, producer, consumer) is None:
            continue
        pair = feeds.setdefault((link.src_tool, link.dst_tool), [])
        if (link.dst_param, path) not in pair:
            pair.append((link.dst_param, path))
    return feeds


_LISTED_ITEMS = 8
"""Items of an earlier turn's listing a later call may pick (``$3.orders[0..7].order_id``)."""


def _indexed_paths(output: Any, path: str) -> list[str]:
    """``path`` (``[0]`` for array items) at every index the actual output has, up to :data:`_LISTED_ITEMS`."""
    head, marker, rest = path.partition("[0]")
    if not marker:
        return [path]
    try:
        items = resolve_path(output, head)
    except (KeyError, IndexError, TypeError):
        return []
    if not isinstance(items, list):
        return []
    found = []
    for index, item in enumerate(items[:_LISTED_ITEMS]):
        if not rest:
            found.append(f"{head}[{index}]")
        elif rest.startswith("."):
            found += [f"{head}[{index}].{tail}" for tail in _indexed_paths(item, rest[1:])]
    return found


_SINGLE_PARAMETERS = IdentityCache(4_096)
"""tool -> the tool with no parameter required, to check one argument at a time."""


def _earlier_refs(tool: ToolView, links_into: Sequence[Link], earlier: Mapping[str, ExecutedCall]) -> dict[str, list[str]]:
    """param -> references into executed calls of earlier turns, along one of the links into ``tool``,
    whose actual value the parameter takes (the actual output counts: an optional field it carries may
    be read)."""
    found: dict[str, list[str]] = {}
    for ref, call in earlier.items():
        for link in links_into:
            if link.src_tool == call.tool:
                for indexed in _offered_paths(call, link, tool):
                    found.setdefault(link.dst_param, []).append(f"{ref}.{indexed}")
    return found


_OFFERED_PATHS = RecentCache(8_192)
"""(executed call, link, tool) -> :func:`_offered_paths`: every later turn's plan and back-translation
ask again about the calls of the turns before."""


def _offered_paths(call: ExecutedCall, link: Link, tool: ToolView) -> tuple[str, ...]:
    """Paths into the call's actual output, along the link, whose value ``tool`` takes for the link's parameter."""
    key = (id(call), id(link), id(tool))
    found = _OFFERED_PATHS.get(key)
    if found is not MISSING:
        return found
    single = _SINGLE_PARAMETERS.get(tool)
    if single is MISSING:
        view = ToolView(name=tool.name, description="", parameters={**tool.parameters, "required": []}, output_schema={})
        single = _SINGLE_PARAMETERS.put(view, tool)
    path = reference_path(link.src_field)
    offered = []
    for indexed in _indexed_paths(call.output, path) if path is not None else ():
        try:
            value = resolve_path(call.output, indexed)
        except (KeyError, IndexError, TypeError):
            continue
        if not argument_problems(single, {link.dst_param: value}):
            offered.append(indexed)
    return _OFFERED_PATHS.put(key, tuple(offered), pinned=(call, link, tool))


def _literal(schema: Any) -> Any:
    """A string parameter with no shape of its own takes :data:`LITERAL_TEXT`, an email :data:`EMAIL`
    (a 135M model wrote ``"$2.orders[0].order_id"`` into a first call's email: llama.cpp enforces no
    ``email`` format); the formats llama.cpp enforces keep their own grammar."""
    if not isinstance(schema, dict) or schema.get("type") != "string" or {"pattern", "enum", "const", "anyOf", "oneOf"} & schema.keys():
        return schema
    if schema.get("format") in _ENFORCED_FORMATS:
        return schema
    return {**schema, "pattern": EMAIL if schema.get("format") == "email" else LITERAL_TEXT}


_CALL_PARTS = IdentityCache(4_096)
"""tool -> its parameters as a call's schema writes them: None for any object, else each property's
:func:`_literal` and the required names."""


def _call_parts(tool: ToolView) -> tuple[dict[str, Any] | None, list[str]]:
    found = _CALL_PARTS.get(tool)
    if found is not MISSING:
        return found
    parameters, _ = standalone_tool_schemas(tool)
    properties = dict(parameters.get("properties") or {})
    required = [name for name in parameters.get("required", ()) if isinstance(name, str)]
    if not properties and parameters.get("additionalProperties") is not False:
        return _CALL_PARTS.put((None, required), tool)
    return _CALL_PARTS.put(({param: _literal(schema) for param, schema in properties.items()}, required), tool)


_CALL_SHAPES = RecentCache(8_192)
"""Call schemas by tool, ref, references and consume: plans of the same tools in other turns and
conversations repeat most of them."""


def _call_shape(tool: ToolView, ref: str, fed: tuple[tuple[str, tuple[str, ...]], ...], consume: bool) -> dict[str, Any]:
    """One call of ``tool`` numbered ``ref``. A parameter ``fed`` names takes a literal or one of its
    references (sorted, none repeated); with ``consume``, one of them must take a reference (anyOf
    over those parameters). Shared between plan schemas: do not mutate."""
    key = (id(tool), ref, fed, consume)
    found = _CALL_SHAPES.get(key)
    if found is MISSING:
        found = _CALL_SHAPES.put(key, _new_call_shape(tool, ref, {param: list(refs) for param, refs in fed}, consume), pinned=tool)
    return found


def _new_call_shape(tool: ToolView, ref: str, fed: Mapping[str, list[str]], consume: bool) -> dict[str, Any]:
    literal, required = _call_parts(tool)
    if literal is None:
        base: list[dict[str, Any]] = [{"type": "object"}]
    else:
        either = {
            param: {"anyOf": [literal[param], {"enum": refs}]} if param in literal else {"enum": refs}
            for param, refs in fed.items()
        }
        merged = {**literal, **either}
        if not consume or not fed:
            base = [_closed(merged, required)]
        else:
            base = [
                _closed({**merged, param: {"enum": refs}}, [*required, *([] if param in required else [param])])
                for param, refs in sorted(fed.items())
            ]
    shapes = [
        _closed({"ref": {"const": ref}, "tool": {"const": tool.name}, "arguments": arguments}, ["ref", "tool", "arguments"])
        for arguments in base
    ]
    return shapes[0] if len(shapes) == 1 else {"anyOf": shapes}


def _chains(
    names: Sequence[str],
    feeds: Mapping[tuple[str, str], list[tuple[str, str]]],
    first: Sequence[str],
    lengths: range,
    limit: int,
    fed_anyway: frozenset[str] = frozenset(),
) -> list[tuple[str, ...]] | None:
    """Every tool sequence whose calls after the first are fed by an earlier call (or, for the tools
    ``fed_anyway`` names, by an earlier turn); None past ``limit``."""
    found: list[tuple[str, ...]] = []
    stack: list[tuple[str, ...]] = [(name,) for name in reversed(first)]
    while stack:
        chain = stack.pop()
        if len(chain) in lengths:
            found.append(chain)
            if len(found) > limit:
                return None
        if len(chain) < lengths.stop - 1:
            stack += [
                (*chain, name)
                for name in reversed(names)
                if name in fed_anyway or any((earlier, name) in feeds for earlier in chain)
            ]
    return found


_PLAN_SCHEMAS = RecentCache(512)
"""Plan schemas of the latest requests: a turn's back-translation gets its plan's schema again."""


def plan_schema(
    tools: Sequence[ToolView],
    links: Sequence[Link],
    earlier_calls: Sequence[ExecutedCall],
    *,
    next_ref: int,
    min_calls: int,
    max_calls: int,
    start_from_earlier_turn: bool = True,
    chain_limit: int = CHAIN_LIMIT,
) -> dict[str, Any]:
    """The schema of a plan (``{"calls": [...]}``) the scenario's data flow allows; see the module doc.
    Shared with every request that gets the same schema: do not mutate.

    ``start_from_earlier_turn``: in a later turn, the first call consumes an earlier turn's output
    where some tool can (the planner's plans must cross turns; the back-translation may cross anywhere)."""
    by_name = {tool.name: tool for tool in tools}
    names = sorted(by_name)
    earlier = usable_outputs(earlier_calls)
    into: dict[str, list[Link]] = {}
    for link in links:
        into.setdefault(link.dst_tool, []).append(link)
    crossing = {name: _earlier_refs(by_name[name], into.get(name, ()), earlier) for name in names}
    crossing = {name: refs for name, refs in crossing.items() if refs}
    # A later turn starts from an earlier turn's output where it can, so the plan crosses turns.
    starts_crossing = start_from_earlier_turn and bool(earlier and crossing)
    # The earlier calls count only through ``crossing``: a turn's plan and back-translation, and
    # scenarios drawn again, share one schema.
    flow = (tuple(map(id, tools)), tuple(map(id, links)))
    key = (
        *flow,
        tuple((name, tuple((param, tuple(paths)) for param, paths in refs.items())) for name, refs in crossing.items()),
        starts_crossing, next_ref, min_calls, max_calls, chain_limit,
    )
    found = _PLAN_SCHEMAS.get(key)
    if found is MISSING:
        pinned = (tuple(tools), tuple(links))
        schema = _plan_schema(by_name, links, flow, pinned, crossing, starts_crossing, next_ref, min_calls, max_calls, chain_limit)
        found = _PLAN_SCHEMAS.put(key, schema, pinned=pinned)
    return found


_FLOWS = RecentCache(1_024)
"""The links' feeds and the chains they allow, by the scenario's tools and links (and the chains'
first tools and lengths): later turns and other conversations over the same tools ask again."""


def _plan_schema(
    by_name: Mapping[str, ToolView],
    links: Sequence[Link],
    flow: tuple[tuple[int, ...], tuple[int, ...]],
    pinned: Any,
    crossing: Mapping[str, Mapping[str, list[str]]],
    starts_crossing: bool,
    next_ref: int,
    min_calls: int,
    max_calls: int,
    chain_limit: int,
) -> dict[str, Any]:
    names = sorted(by_name)
    feeds = _FLOWS.get_or_put(("feeds", *flow), lambda: _feeds(list(by_name.values()), links), pinned)
    first = sorted(crossing) if starts_crossing else names
    low = max(MIN_CONNECTED_CALLS, min_calls)
    lengths = range(low, max(low, max_calls) + 1)

    def ref(position: int) -> str:
        return f"${next_ref + position}"

    built: dict[tuple[Any, ...], dict[str, Any]] = {}

    def shape(name: str, position: int, fed: Mapping[str, list[str]], consume: bool) -> dict[str, Any]:
        """One call's schema, built once per plan schema: chains share their calls (a third of the
        shapes are distinct), and a shared object encodes to the same JSON."""
        references = [(param, tuple(sorted(set(refs)))) for param, refs in fed.items()]
        key = (name, position, consume, tuple(sorted(references)))
        found = built.get(key)
        if found is None:
            given = tuple((param, refs) for param, refs in references if refs)
            found = built[key] = _call_shape(by_name[name], ref(position), given, consume)
        return found

    fed_anyway = frozenset(crossing)
    chains = _FLOWS.get_or_put(
        ("chains", *flow, tuple(first), lengths, chain_limit, fed_anyway),
        lambda: _chains(names, feeds, first, lengths, chain_limit, fed_anyway), pinned,
    )
    plans: list[dict[str, Any]] = []
    if chains is not None:
        # A chain's call depends on the chain up to it only; chains share their beginnings.
        by_prefix: dict[tuple[str, ...], dict[str, Any]] = {}

        def call_after(prefix: tuple[str, ...]) -> dict[str, Any]:
            found = by_prefix.get(prefix)
            if found is None:
                position, name = len(prefix) - 1, prefix[-1]
                fed = {param: list(refs) for param, refs in crossing.get(name, {}).items()}
                for earlier_position, producer in enumerate(prefix[:position]):
                    for param, path in feeds.get((producer, name), ()):
                        fed.setdefault(param, []).append(f"{ref(earlier_position)}.{path}")
                found = by_prefix[prefix] = shape(name, position, fed, position > 0 or starts_crossing)
            return found

        for chain in chains:
            items = [call_after(chain[: position + 1]) for position in range(len(chain))]
            plans.append({"type": "array", "prefixItems": items, "minItems": len(chain), "maxItems": len(chain)})
    else:
        # A position's calls do not depend on the plan's length.
        items = []
        for position in range(lengths.stop - 1):
            shapes = []
            for name in first if position == 0 else names:
                fed = {param: list(refs) for param, refs in crossing.get(name, {}).items()}
                for producer in names:
                    for param, path in feeds.get((producer, name), ()):
                        fed.setdefault(param, []).extend(f"{ref(p)}.{path}" for p in range(position))
                if position > 0 and not any(fed.values()):
                    continue
                consume = position > 0 or starts_crossing
                shapes.append(shape(name, position, fed, consume))
            items.append(shapes[0] if len(shapes) == 1 else {"anyOf": shapes})
        for length in lengths:
            plans.append({"type": "array", "prefixItems": items[:length], "minItems": length, "maxItems": length})
    calls: dict[str, Any] = plans[0] if len(plans) == 1 else {"anyOf": plans} if plans else {"type": "array", "maxItems": 0}
    return _closed({"calls": calls}, ["calls"])


# --- Simulated outputs ---------------------------------------------------------------------------------


def output_schema_for(tool: ToolView, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``{"output": <the tool's output schema>}``, a top-level output field named like an argument fixed
    to that argument's value (where the value is valid there): a result describes the call it answers."""
    _, output = standalone_tool_schemas(tool)
    properties = output.get("properties")
    if isinstance(properties, dict):
        echoed = dict(properties)
        for name, value in arguments.items():
            schema = properties.get(name)
            if isinstance(schema, dict) and not isinstance(value, (dict, list)) and _valid(schema, name, value):
                echoed[name] = {"const": value}
        output = {**output, "properties": echoed}
    return _closed({"output": _bounded(output)}, ["output"])


def _bounded(schema: Any) -> Any:
    """Lists and free strings without a bound of their own get :data:`OUTPUT_ITEMS` and
    :data:`OUTPUT_TEXT`, so a whole answer fits a small server's token cap."""
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: value if key in ("enum", "const", "required") else
        {name: _bounded(item) for name, item in value.items()} if key in ("properties", "patternProperties") and isinstance(value, dict) else
        _bounded(value)
        for key, value in schema.items()
    }
    if out.get("type") == "array" and "maxItems" not in out:
        out["maxItems"] = max(OUTPUT_ITEMS, int(out.get("minItems", 0)))
    if out.get("type") == "string" and not ({"pattern", "enum", "const", "format", "maxLength"} & out.keys()):
        out["maxLength"] = max(OUTPUT_TEXT, int(out.get("minLength", 0)))
    return out


def _valid(schema: Mapping[str, Any], name: str, value: Any) -> bool:
    probe = ToolView(name="echo", description="", parameters=_closed({name: schema}, [name]), output_schema={})
    return not argument_problems(probe, {name: value})


# --- Text and verdicts ---------------------------------------------------------------------------------


def text_schema(field: str, pattern: str = NO_DOLLAR) -> dict[str, Any]:
    """One non-empty free-text field with no ``$`` in it."""
    return _closed({field: {"type": "string", "pattern": pattern}}, [field])


JUDGE_PROBLEMS = 5
"""Problems a rejection lists at most, each one bounded: a rejection needs one, and a 135M model
listed them until its token cap, which made the verdict unreadable."""
JUDGE_SCHEMA = {
    "anyOf": [
        _closed({"accept": {"const": True}, "problems": {"type": "array", "maxItems": 0}}, ["accept", "problems"]),
        _closed(
            {
                "accept": {"const": False},
                "problems": {"type": "array", "minItems": 1, "maxItems": JUDGE_PROBLEMS, "items": {"type": "string", "minLength": 1, "maxLength": 200}},
            },
            ["accept", "problems"],
        ),
    ]
}
"""Accepted with no problem, or rejected with one to :data:`JUDGE_PROBLEMS`."""


ERROR_SCHEMA = _closed(
    {
        "code": {"type": "integer", "minimum": 400, "maximum": 599},
        "status": {"type": "string", "pattern": "^[A-Z][A-Z_]*$"},
        "message": {"type": "string", "minLength": 1, "pattern": NO_DOLLAR},
    },
    ["code", "status", "message"],
)
"""A failed call's result: an HTTP-style code, a status word in capitals, the cause."""


def wrong_call_schema(tool: ToolView) -> dict[str, Any]:
    """The gold call's tool with arguments named as the tool names them, and the error it gets. The
    values and the required list are left open: a wrong call is made of a missing argument, a value
    of the wrong type or one outside its options, which the tool's own schema would forbid."""
    names = sorted((tool.parameters.get("properties") or {}).keys())
    arguments = _closed({name: {} for name in names}, []) if names else {"type": "object"}
    return _closed({"tool": {"const": tool.name}, "arguments": arguments, "error": ERROR_SCHEMA}, ["tool", "arguments", "error"])


DATAFLOW_KINDS = ("synonym", "id_suffix", "entity_noun", "path", "numeric")


def dataflow_schema(tools: Sequence[ToolView]) -> dict[str, Any]:
    """Links between the request's tools, of the known kinds."""
    names = sorted(tool.name for tool in tools)
    link = _closed(
        {
            "src_tool": {"enum": names},
            "src_field": {"type": "string", "minLength": 1},
            "dst_tool": {"enum": names},
            "dst_param": {"enum": sorted({p for tool in tools for p in tool.parameters.get("properties", {})})},
            "kind": {"enum": list(DATAFLOW_KINDS)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "why": {"type": "string"},
        },
        ["src_tool", "src_field", "dst_tool", "dst_param", "kind", "confidence"],
    )
    return _closed({"links": {"type": "array", "items": link}}, ["links"])


_FIELD_TYPES = ["string", "integer", "number", "boolean", "array", "object"]
OUTPUT_SCHEMA_SCHEMA = _closed(
    {
        "output_schema": _closed(
            {
                "type": {"const": "object"},
                "properties": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "type": {"anyOf": [{"enum": _FIELD_TYPES}, {"type": "array", "items": {"enum": [*_FIELD_TYPES, "null"]}}]},
                            "description": {"type": "string"},
                        },
                        "required": ["type"],
                    },
                },
                "required": {"type": "array", "items": {"type": "string"}},
            },
            ["type", "properties", "required"],
        )
    },
    ["output_schema"],
)
"""An inferred output schema: an object whose fields each have a type."""
