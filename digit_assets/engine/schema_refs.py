"""Every ``$ref``/``allOf`` resolution of the engine: inlining local ``$ref``s (through
``referencing``) so that a JSON Schema stands alone, and following them one level at a time.

Two consumers cannot follow references: a tool's schemas taken out of an OpenAPI document, and the
response schema sent to a model server (llama.cpp builds its grammar without resolving ``$defs``,
so every nested model would go unconstrained). The planner and the simulator read schemas level by
level, thousands of times, and only need the level in front of them: :func:`resolve_local`.

Nothing is ever fetched: spec files come from anywhere, and a ``$ref`` or ``$schema`` naming
``http://127.0.0.1:...`` or ``file:///...`` would make the pipeline contact a host or read a file.
Every validator and resolver is built over :func:`refusing_registry` (``jsonschema``) or with
:func:`refuse_uri` as its retriever (``jsonschema_rs``), and :func:`dialect_problem` refuses an
unknown ``$schema``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolved, Resolver  # referencing exports no public names for them

# Inlining copies a component at every use; a document that reuses components in deep layers
# (each using the next twice) grows exponentially, so the copies one inliner may make are capped.
_MAX_INLINED_REFS = 10_000
_STANDALONE_URI = "urn:digit-tc:schema"
_MAX_LOCAL_HOPS = 8
# The JSON Schema drafts validators know without fetching anything (draft 3 is not supported).
KNOWN_DIALECTS = frozenset(
    variant
    for uri in (
        "http://json-schema.org/draft-04/schema",
        "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    )
    for variant in (uri, f"{uri}#")
)


class FetchRefused(Exception):
    """A schema named a URI outside itself; schemas are never fetched."""


def refuse_uri(uri: str) -> NoReturn:
    """The retriever of every validator: no URI is fetched or read, whatever its scheme."""
    raise FetchRefused(f"{uri!r} is outside the schema; schemas are never fetched or read from files")


def refusing_registry() -> Registry[Any]:
    """A ``referencing`` registry that resolves nothing beyond what is added to it."""
    return Registry(retrieve=refuse_uri)


def dialect_problem(schema: Any) -> str | None:
    """Why ``schema``'s ``$schema`` cannot be used (not a known draft identifier); None when absent or known."""
    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    if dialect is None or (isinstance(dialect, str) and dialect in KNOWN_DIALECTS):
        return None
    if not isinstance(dialect, str):
        return f"$schema must be a draft identifier string, not {type(dialect).__name__}"
    return f"$schema {dialect[:200]!r} is not a known JSON Schema draft identifier (nothing is fetched)"


class RefProblem(Exception):
    """A reference that cannot be inlined: unresolvable, cyclic, or too many copies."""


def document_resolver(document: Any, uri: str) -> Resolver[Any]:
    """Resolves ``#/...`` references against ``document``, known as ``uri``, and nothing else."""
    return refusing_registry().with_resource(uri, Resource.opaque(document)).resolver(base_uri=uri)


def schema_resolver(schema: Mapping[str, Any], uri: str) -> Resolver[Any]:
    """Resolves the references of one JSON Schema, known as ``uri``, against itself (2020-12 rules:
    ``$id`` and anchors count)."""
    resource = Resource.from_contents(dict(schema), default_specification=DRAFT202012)
    return refusing_registry().with_resource(uri, resource).resolver(base_uri=uri)


def standalone(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with every local ``$ref`` inlined and its ``$defs`` dropped."""
    resolver = document_resolver(schema, _STANDALONE_URI)
    return RefInliner(resolver).inline({key: value for key, value in schema.items() if key != "$defs"})


class RefInliner:
    """Copies of parts of one document with every ``$ref`` replaced by its target.

    A cycle cannot be inlined (the copy would be infinite); it is reported with the refs that form it.
    """

    def __init__(self, resolver: Resolver[Any]) -> None:
        self._resolver = resolver
        self._budget = _MAX_INLINED_REFS

    def follow(self, value: Any) -> Any:
        """An object that may itself be a ``$ref`` (parameter, body, response, path item): its target."""
        seen: list[str] = []
        resolver = self._resolver
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            if ref in seen:
                raise RefProblem(f"cyclic $ref: {' -> '.join([*seen, ref])}")
            seen.append(ref)
            resolved = _lookup(ref, resolver)
            value, resolver = resolved.contents, resolved.resolver
        return value

    def inline(self, value: Any) -> Any:
        """A copy of ``value`` with no ``$ref`` left in it."""
        return self._inline(value, self._resolver, ())

    def _inline(self, value: Any, resolver: Resolver[Any], chain: tuple[tuple[int, str], ...]) -> Any:
        if isinstance(value, list):
            return [self._inline(item, resolver, chain) for item in value]
        if not isinstance(value, dict):
            return value
        ref = value.get("$ref")
        if not isinstance(ref, str):
            return {key: self._inline(item, resolver, chain) for key, item in value.items()}
        resolved = _lookup(ref, resolver)
        targets = [target for target, _ in chain]
        if id(resolved.contents) in targets:
            cycle = [chained_ref for _, chained_ref in chain[targets.index(id(resolved.contents)) :]]
            raise RefProblem(f"cyclic $ref: {' -> '.join([*cycle, ref])} (a recursive schema cannot be inlined)")
        self._budget -= 1
        if self._budget < 0:
            raise RefProblem(f"inlining its $refs takes more than {_MAX_INLINED_REFS} copies")
        target = self._inline(resolved.contents, resolved.resolver, (*chain, (id(resolved.contents), ref)))
        siblings = {key: self._inline(item, resolver, chain) for key, item in value.items() if key != "$ref"}
        return {**target, **siblings} if isinstance(target, dict) else target


def _lookup(ref: str, resolver: Resolver[Any]) -> Resolved[Any]:
    try:
        return resolver.lookup(ref)
    except Unresolvable:
        where = "" if ref.startswith("#") else " (references to other documents are not supported)"
        raise RefProblem(f"unresolvable $ref {ref!r}{where}") from None


def local_target(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    """The object a ``#/...`` JSON pointer names inside ``root``; None for any other reference or a
    pointer that leads nowhere or to a non-object."""
    if not ref.startswith("#"):
        return None
    target: Any = root
    for step in filter(None, ref[1:].split("/")):
        step = step.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or step not in target:
            return None
        target = target[step]
    return target if isinstance(target, Mapping) else None


def resolve_local(schema: Any, root: Mapping[str, Any], *, nullable_branch: bool = False) -> Mapping[str, Any] | None:
    """The top level of ``schema`` with local ``$ref``s followed (keywords beside a ``$ref`` override
    its target's) and ``allOf`` merged (properties merged, ``required`` lists added up).

    With ``nullable_branch``, an ``anyOf``/``oneOf`` with no type or properties of its own is read
    as its first non-null branch (how a generator reads an optional value). None when ``schema`` is
    not an object, a reference leads nowhere, or references chain more than eight times.
    """
    for _ in range(_MAX_LOCAL_HOPS):
        if not isinstance(schema, Mapping):
            return None
        if isinstance(schema.get("$ref"), str):
            target = local_target(root, schema["$ref"])
            if target is None:
                return None
            schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        elif isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
            for part in schema["allOf"]:
                part = resolve_local(part, root, nullable_branch=nullable_branch) or {}
                merged = {
                    **merged,
                    **part,
                    "properties": {**merged.get("properties", {}), **part.get("properties", {})},
                    "required": [*merged.get("required", ()), *part.get("required", ())],
                }
            schema = merged
        elif nullable_branch and (options := schema.get("anyOf") or schema.get("oneOf")) and not {"type", "properties"} & schema.keys():
            chosen = next((option for option in options if not (isinstance(option, dict) and option.get("type") == "null")), options[0])
            schema = {**{key: value for key, value in schema.items() if key not in ("anyOf", "oneOf")}, **chosen}
        else:
            return schema
    return None
