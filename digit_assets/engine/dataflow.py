"""The data-flow graph between tools (method.md steps 1-2): which output field can feed which parameter.

A node is a tool (its qualified name); an edge ``src -> dst`` says that a field of ``src``'s output
can be passed as a parameter of ``dst``, so a plan may call ``src`` to discover a value ``dst``
needs. Edges stay inside one namespace: tools from unrelated sources never share identifiers.

Fields are dotted paths into the output schema with ``[]`` for array items (``orders[].order_id``);
parameters are the top-level properties of the input schema. A pair matches by name, then must be
type-compatible (the field's value must validate against the parameter's type, enum and format).

Match kinds, strongest first (``MATCH_SCORES``):

``exact``
    The field's leaf name is the parameter name, and it names itself: a top-level field, or a
    compound name such as ``customer_id`` (``orders[].order_id`` -> ``order_id``).
``normalized``
    The same, up to naming style (``orderId`` -> ``order_id``).
``entity_id``
    A bare ``id`` qualified by what holds it, against an entity's id: ``orders[].id`` -> ``order_id``
    (the container, singular); a top-level ``id`` or one in a generic container (``data[].id``) is
    the tool's own entity (``get_order`` -> ``order``), and so is a bare ``id`` parameter
    (``orders[].order_id`` -> ``get_order(id)``).
``compound``
    Container and leaf together spell the parameter: ``customer.email`` -> ``customer_email``.
``leaf``
    A one-word leaf under a container equals the parameter: ``customer.email`` -> ``email``. The
    container qualifies the value (the customer's email), so the parameter may mean another one.

Edges by meaning rather than equal names (``synonym``, ``id_suffix``, ``entity_noun``, ``path``,
``numeric``) are proposed per namespace through the LLM port
(:data:`~digit_assets.engine.synthesis.roles.PROPOSE_DATAFLOW`; offline by the rules of
:mod:`~digit_assets.engine.offline.dataflow_proposer`) and kept only when both ends exist, the types fit and
the kind is known; each keeps its confidence as ``score`` and who proposed it.

Generic names (``id``, ``name``, ``status``, ``limit``, ...) say nothing about which thing they
belong to; they only match as ``entity_id`` or ``compound``. No self-loops: a tool feeding its own
parameter back (``list_orders(customer_id)`` echoing ``customer_id``) discovers nothing.
Untyped fields or parameters (no ``type``) are taken as compatible: nothing says they are not.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
from pydantic import BaseModel
from referencing.exceptions import Unresolvable

from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.lexicon import normalize_name, parse_tool_name, singularize
from digit_assets.engine.llm import LLM, LLMError
from digit_assets.engine.provenance import canonical_json, derive_seed
from digit_assets.engine.schema_refs import schema_resolver
from digit_assets.engine.specs import Rejection
from digit_assets.engine.synthesis.model import Link, ToolView
from digit_assets.engine.synthesis.roles import PROPOSE_DATAFLOW, DataflowRequest, ProposedLink

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports no public name for it

NAME_MATCHING = "names"  # ``proposed_by`` of the edges found here, by equal names
MEANING_KINDS = frozenset({"synonym", "id_suffix", "entity_noun", "path", "numeric"})
MATCH_SCORES: dict[str, float] = {"exact": 1.0, "normalized": 0.9, "entity_id": 0.85, "compound": 0.8, "leaf": 0.6}

GENERIC_NAMES = frozenset(
    "id name title type kind status state value description message result results data items count total "
    "limit offset page page_size per_page cursor next_cursor sort sort_by order_by direction query q search "
    "keyword success deleted valid created_at updated_at format fields include expand".split()
)
# Containers that say nothing about what they hold: an ``id`` in them belongs to the tool's entity.
GENERIC_CONTAINERS = frozenset(
    "data items results records entries list values content hits nodes objects rows response result payload".split()
)
_MAX_DEPTH = 8
_BASE_URI = "urn:digit-tc:schema"


@dataclass(frozen=True)
class SchemaField:
    """One value of a schema: ``path`` like ``orders[].order_id``, its JSON types (null dropped)."""

    path: str
    types: frozenset[str]
    enum: tuple[Any, ...] | None = None
    format: str | None = None
    item_types: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        """The property names along the path (``orders[].order_id`` -> ``orders``, ``order_id``)."""
        return tuple(step.removesuffix("[]") for step in self.path.split("."))

    @property
    def leaf(self) -> str:
        return self.names[-1]

    @property
    def type_label(self) -> str:
        return "|".join(sorted(self.types)) or "any"


def output_fields(schema: Mapping[str, Any]) -> list[SchemaField]:
    """Every field of an output schema, containers included, in schema order.

    Local ``$ref`` are followed; ``allOf``/``anyOf``/``oneOf`` contribute the properties and types of
    all their branches. A recursive ``$ref`` is listed once, not expanded again; nesting stops at
    ``_MAX_DEPTH`` levels.
    """
    found: dict[str, SchemaField] = {}
    _walk(_collect(*_root(schema)), "", found, frozenset())
    return list(found.values())


def input_params(schema: Mapping[str, Any]) -> list[SchemaField]:
    """The top-level properties of a parameter schema, each with its types."""
    shape = _collect(*_root(schema))
    return [_field(name, _collect(*node)) for name, node in shape.properties.items()]


# --- Schema walking ---------------------------------------------------------------------------------


@dataclass
class _Shape:
    """What a (sub)schema says once references and combinators are merged."""

    types: set[str] = dataclasses.field(default_factory=set)
    enum: list[Any] | None = None
    format: str | None = None
    properties: dict[str, tuple[Any, Resolver]] = dataclasses.field(default_factory=dict)
    items: list[tuple[Any, Resolver]] = dataclasses.field(default_factory=list)
    referenced: set[int] = dataclasses.field(default_factory=set)  # ids of the $ref targets merged in


def _root(schema: Mapping[str, Any]) -> tuple[Any, Resolver]:
    return schema, schema_resolver(schema, _BASE_URI)


def _collect(schema: Any, resolver: Resolver) -> _Shape:
    shape = _Shape()
    _merge_into(shape, schema, resolver, depth=0)
    shape.types.discard("null")
    return shape


def _merge_into(shape: _Shape, schema: Any, resolver: Resolver, depth: int) -> None:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return
    if isinstance(schema.get("$ref"), str):
        try:
            resolved = resolver.lookup(schema["$ref"])
        except Unresolvable:
            return
        shape.referenced.add(id(resolved.contents))
        _merge_into(shape, resolved.contents, resolved.resolver, depth + 1)
    declared = schema.get("type")
    if isinstance(declared, str):
        shape.types.add(declared)
    elif isinstance(declared, list):
        shape.types.update(t for t in declared if isinstance(t, str))
    if isinstance(schema.get("enum"), list):
        shape.enum = [*(shape.enum or []), *schema["enum"]]
    if "const" in schema:
        shape.enum = [*(shape.enum or []), schema["const"]]
    if isinstance(schema.get("format"), str):
        shape.format = schema["format"]
    if isinstance(schema.get("properties"), Mapping):
        if declared is None:
            shape.types.add("object")
        for name, sub in schema["properties"].items():
            shape.properties.setdefault(name, (sub, resolver))
    if isinstance(schema.get("items"), Mapping):
        if declared is None:
            shape.types.add("array")
        shape.items.append((schema["items"], resolver))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(keyword) or []:
            _merge_into(shape, branch, resolver, depth + 1)


def _field(path: str, shape: _Shape) -> SchemaField:
    item_types: set[str] = set()
    for item in shape.items:
        item_types |= _collect(*item).types
    return SchemaField(
        path=path,
        types=frozenset(shape.types),
        enum=tuple(shape.enum) if shape.enum is not None else None,
        format=shape.format,
        item_types=frozenset(item_types),
    )


def _walk(shape: _Shape, prefix: str, found: dict[str, SchemaField], expanding: frozenset[int]) -> None:
    """Record every property of ``shape``; a $ref target already being expanded on this path is not
    entered again, so a recursive schema (a comment with replies) yields each field once."""
    expanding = expanding | shape.referenced
    if len(prefix.split(".")) > _MAX_DEPTH:
        return
    for name, node in shape.properties.items():
        path = f"{prefix}{name}"
        child = _collect(*node)
        found.setdefault(path, _field(path, child))
        if child.referenced & expanding:
            continue
        _walk(child, f"{path}.", found, expanding)
        for item_node in child.items:
            item = _collect(*item_node)
            if item.properties and not item.referenced & expanding:
                _walk(item, f"{path}[].", found, expanding)
            elif not item.properties:
                found.setdefault(f"{path}[]", _field(f"{path}[]", item))


# --- Matching ---------------------------------------------------------------------------------------


class DataflowEdge(BaseModel):
    """One row of ``dataflow_edges``: ``src_tool``'s ``src_field`` can feed ``dst_tool``'s ``dst_param``."""

    namespace: str
    src_tool: str
    src_field: str
    src_type: str
    dst_tool: str
    dst_param: str
    dst_type: str
    match_kind: str
    score: float
    proposed_by: str = NAME_MATCHING
    why: str = ""


def _singular_key(name: str) -> str:
    """``orderItems`` -> ``order_item``: the thing one element of a container is."""
    head, _, last = normalize_name(name).rpartition("_")
    return f"{head}_{singularize(last)}" if head else singularize(last)


def _id_entity(key: str) -> str | None:
    """``order_id`` -> ``order``; None for a name that is not an entity's id."""
    return key.removesuffix("_id") if key.endswith("_id") else None


@dataclass(frozen=True)
class _Source:
    """An output field with the names it can match by."""

    field: SchemaField
    key: str
    self_naming: bool
    id_entity: str | None
    compound: str | None

    @classmethod
    def of(cls, field: SchemaField, tool_entity: str) -> "_Source":
        key = normalize_name(field.leaf)
        containers = [normalize_name(name) for name in field.names[:-1]]
        holder = containers[-1] if containers and containers[-1] not in GENERIC_CONTAINERS else None
        if key != "id":
            id_entity = _id_entity(key)
        elif holder is not None:
            id_entity = _singular_key(holder)
        elif len(containers) <= 1:  # top level, or the items of a top-level generic container
            id_entity = tool_entity or None
        else:
            id_entity = None
        return cls(
            field=field,
            key=key,
            self_naming=len(field.names) == 1 or "_" in key,
            id_entity=id_entity,
            compound=f"{_singular_key(holder)}_{key}" if holder is not None and key != "id" else None,
        )


@dataclass(frozen=True, eq=False)
class _Target:
    """A parameter with the names it can be matched by."""

    param: SchemaField
    key: str
    id_entity: str | None

    @classmethod
    def of(cls, param: SchemaField, tool_entity: str) -> "_Target":
        key = normalize_name(param.path)
        return cls(param=param, key=key, id_entity=(tool_entity or None) if key == "id" else _id_entity(key))


def source_id_entity(field: SchemaField, tool_name: str) -> str | None:
    """The entity whose id this output field holds (``orders[].id`` -> ``order``), if any."""
    return _Source.of(field, parse_tool_name(tool_name).entity_key).id_entity


def target_id_entity(param: SchemaField, tool_name: str) -> str | None:
    """The entity whose id this parameter takes (``receiver_id`` -> ``receiver``), if any."""
    return _Target.of(param, parse_tool_name(tool_name).entity_key).id_entity


def _match_kind(source: _Source, target: _Target) -> str | None:
    if source.key == target.key and source.key not in GENERIC_NAMES:
        if not source.self_naming:
            return "leaf"
        return "exact" if source.field.leaf == target.param.path else "normalized"
    if source.id_entity is not None and source.id_entity == target.id_entity:
        return "entity_id"
    if source.compound is not None and source.compound == target.key:
        return "compound"
    return None


def types_compatible(field: SchemaField, param: SchemaField) -> bool:
    """Whether every value the field may hold is acceptable to the parameter (type, enum, format)."""
    if not _types_accepted(field.types, param.types):
        return False
    if field.types == {"array"} and param.types == {"array"} and not _types_accepted(field.item_types, param.item_types):
        return False
    if param.enum is not None:
        if field.enum is None:
            return False
        if not {canonical_json(v) for v in field.enum} & {canonical_json(v) for v in param.enum}:
            return False
    return not (field.format and param.format and field.format != param.format)


def _types_accepted(given: frozenset[str], accepted: frozenset[str]) -> bool:
    """An integer is a number; an untyped side accepts or gives anything."""
    if not given or not accepted:
        return True
    return given <= accepted | ({"integer"} if "number" in accepted else set())


# --- The graph --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ToolFlow:
    tool: EnrichedTool
    sources: list[_Source]
    targets: list[_Target]


def build_dataflow_graph(tools: Sequence[EnrichedTool]) -> nx.MultiDiGraph:
    """Nodes are qualified tool names (attributes ``namespace``, ``name``); one edge per field -> param.

    Edge keys are ``"<src_field> -> <dst_param>"`` and edge attributes are the :class:`DataflowEdge`
    fields, so :func:`graph_edges` reads them back and the planner can query the graph directly.
    Parameters are indexed by the names they match, so a namespace costs fields x candidates, not
    tools squared.
    """
    graph = nx.MultiDiGraph()
    by_namespace: dict[str, list[_ToolFlow]] = defaultdict(list)
    for tool in sorted(tools, key=lambda t: t.spec.qualified_name):
        graph.add_node(tool.spec.qualified_name, namespace=tool.spec.namespace, name=tool.spec.name)
        entity = parse_tool_name(tool.spec.name).entity_key
        by_namespace[tool.spec.namespace].append(
            _ToolFlow(
                tool=tool,
                sources=[_Source.of(f, entity) for f in output_fields(tool.output_schema)],
                targets=[_Target.of(p, entity) for p in input_params(tool.spec.parameters)],
            )
        )
    for namespace, flows in by_namespace.items():
        _link_namespace(graph, namespace, flows)
    return graph


def _link_namespace(graph: nx.MultiDiGraph, namespace: str, flows: list[_ToolFlow]) -> None:
    by_key: dict[str, list[tuple[_ToolFlow, _Target]]] = defaultdict(list)
    by_id_entity: dict[str, list[tuple[_ToolFlow, _Target]]] = defaultdict(list)
    for flow in flows:
        for target in flow.targets:
            by_key[target.key].append((flow, target))
            if target.id_entity is not None:
                by_id_entity[target.id_entity].append((flow, target))
    for src in flows:
        for source in src.sources:
            candidates = [*by_key.get(source.key, ()), *by_key.get(source.compound or "", ())]
            candidates += by_id_entity.get(source.id_entity or "", ())
            for dst, target in dict.fromkeys(candidates):
                if dst is src:
                    continue
                kind = _match_kind(source, target)
                if kind is None or not types_compatible(source.field, target.param):
                    continue
                edge = DataflowEdge(
                    namespace=namespace,
                    src_tool=src.tool.spec.name,
                    src_field=source.field.path,
                    src_type=source.field.type_label,
                    dst_tool=dst.tool.spec.name,
                    dst_param=target.param.path,
                    dst_type=target.param.type_label,
                    match_kind=kind,
                    score=MATCH_SCORES[kind],
                )
                key = f"{source.field.path} -> {target.param.path}"
                graph.add_edge(src.tool.spec.qualified_name, dst.tool.spec.qualified_name, key=key, **edge.model_dump())


def propose_links(
    tools: Sequence[EnrichedTool], graph: nx.MultiDiGraph, llm: LLM, *, seed: int
) -> tuple[list[tuple[str, ProposedLink]], list[Rejection]]:
    """Ask the dataflow role, once per namespace with two or more tools, for edges by meaning.

    A role that fails is a rejection of its namespace (the name edges stand); its answer is judged
    by :func:`add_proposed_edges`.
    """
    by_namespace: dict[str, list[EnrichedTool]] = defaultdict(list)
    for tool in tools:
        by_namespace[tool.spec.namespace].append(tool)
    proposals: list[tuple[str, ProposedLink]] = []
    rejections: list[Rejection] = []
    for namespace, members in sorted(by_namespace.items()):
        if len(members) < 2:
            continue
        known = [
            Link(src_tool=e.src_tool, src_field=e.src_field, dst_tool=e.dst_tool, dst_param=e.dst_param)
            for e in graph_edges(graph)
            if e.namespace == namespace
        ]
        views = [
            ToolView(
                name=t.spec.name,
                description=t.spec.description,
                parameters=t.spec.parameters,
                output_schema=t.output_schema,
                side_effect=t.spec.side_effect,
            )
            for t in members
        ]
        request = DataflowRequest(namespace=namespace, tools=views, known=known)
        try:
            answer = llm.call(PROPOSE_DATAFLOW, request, seed=derive_seed(seed, namespace))
        except LLMError as exc:
            rejections.append(Rejection(stage="dataflow", source=namespace, reason=f"{namespace}: data-flow proposal failed: {exc}"))
            continue
        proposals += [(namespace, link) for link in answer.links]
    return proposals, rejections


def add_proposed_edges(
    graph: nx.MultiDiGraph, tools: Sequence[EnrichedTool], proposals: Sequence[tuple[str, ProposedLink]], proposed_by: str
) -> list[Rejection]:
    """Add each proposal that names a real output field and parameter of two tools of its namespace,
    with fitting types and a known kind; the others come back as rejections with the reason. A
    proposal for a pair the names already join adds nothing."""
    by_name = {(t.spec.namespace, t.spec.name): t for t in tools}
    rejections: list[Rejection] = []
    for namespace, link in proposals:
        label = f"{namespace}: {link.src_tool}.{link.src_field} -> {link.dst_tool}({link.dst_param})"
        src, dst = by_name.get((namespace, link.src_tool)), by_name.get((namespace, link.dst_tool))
        field = next((f for f in output_fields(src.output_schema) if f.path == link.src_field), None) if src else None
        param = next((p for p in input_params(dst.spec.parameters) if p.path == link.dst_param), None) if dst else None
        if src is None or dst is None:
            problem = "names a tool that is not in the namespace"
        elif src is dst:
            problem = "joins a tool to itself"
        elif field is None:
            problem = f"{link.src_tool} has no output field {link.src_field!r}"
        elif param is None:
            problem = f"{link.dst_tool} has no parameter {link.dst_param!r}"
        elif link.kind not in MEANING_KINDS:
            problem = f"unknown kind {link.kind!r} (expected one of {', '.join(sorted(MEANING_KINDS))})"
        elif not types_compatible(field, param):
            problem = f"{field.type_label} values do not fit the {param.type_label} parameter"
        else:
            problem = None
        if problem is not None:
            rejections.append(Rejection(stage="dataflow", source=namespace, item=label, reason=f"{label}: {problem}", raw=link.model_dump_json()))
            continue
        key = f"{field.path} -> {param.path}"
        src_node, dst_node = src.spec.qualified_name, dst.spec.qualified_name
        if graph.has_edge(src_node, dst_node, key=key):
            continue
        edge = DataflowEdge(
            namespace=namespace,
            src_tool=link.src_tool,
            src_field=field.path,
            src_type=field.type_label,
            dst_tool=link.dst_tool,
            dst_param=param.path,
            dst_type=param.type_label,
            match_kind=link.kind,
            score=link.confidence,
            proposed_by=proposed_by,
            why=link.why,
        )
        graph.add_edge(src_node, dst_node, key=key, **edge.model_dump())
    return rejections


def graph_edges(graph: nx.MultiDiGraph) -> list[DataflowEdge]:
    """The edges as table rows, in the order the store reads them back."""
    edges = [DataflowEdge(**data) for _, _, data in graph.edges(data=True)]
    return sorted(edges, key=lambda e: (e.namespace, e.src_tool, e.dst_tool, e.src_field, e.dst_param))


def producers_for(graph: nx.MultiDiGraph, tool: str, param: str) -> list[DataflowEdge]:
    """Edges that can fill ``param`` of ``tool`` (qualified name), best score first."""
    edges = [DataflowEdge(**data) for _, _, data in graph.in_edges(tool, data=True) if data["dst_param"] == param]
    return sorted(edges, key=lambda e: (-e.score, e.src_tool, e.src_field))


def graph_stats(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Sizes and connectivity, overall and per namespace; the integers are Dagster asset metadata."""
    namespaces: dict[str, dict[str, int]] = {}
    for namespace in sorted({data["namespace"] for _, data in graph.nodes(data=True)}):
        nodes = [node for node, data in graph.nodes(data=True) if data["namespace"] == namespace]
        namespaces[namespace] = _connectivity(graph.subgraph(nodes))
    isolated = sorted(nx.isolates(graph))
    return {
        **_connectivity(graph),
        "namespaces": namespaces,
        "isolated_examples": isolated[:20],
    }


def _connectivity(graph: nx.MultiDiGraph) -> dict[str, Any]:
    tools = graph.number_of_nodes()
    linked = tools - nx.number_of_isolates(graph)
    return {
        "tools": tools,
        "linked_tools": linked,
        "linked_share": round(linked / tools, 3) if tools else 0.0,
        "edges": graph.number_of_edges(),
        "tool_pairs": nx.DiGraph(graph).number_of_edges(),
        "components": nx.number_weakly_connected_components(graph),
        "isolated_tools": nx.number_of_isolates(graph),
        "producers": sum(1 for node in graph if graph.out_degree(node) > 0),
        "consumers": sum(1 for node in graph if graph.in_degree(node) > 0),
    }
