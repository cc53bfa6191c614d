"""Data flow by meaning: the offline default of the dataflow role (:data:`PROPOSE_DATAFLOW`).

Equal names are matched in :mod:`~digit_assets.engine.dataflow`; these rules propose edges whose
names differ but whose values are the same thing, each with a kind and a confidence:

``id_suffix`` (0.75)
    One id's entity is the other's with qualifiers (:data:`QUALIFIERS`): ``folder_id`` ->
    ``parent_folder_id``, ``account_id`` -> ``source_account_id``.
``synonym`` (0.7)
    The entities are names of the same thing (:data:`SYNONYMS`): ``user_id`` -> ``receiver_id``.
``entity_noun`` (0.6)
    A parameter named by an entity noun alone takes that entity's id: ``user_id`` -> ``user``.
``path`` (0.6, or 0.5 from a single path field)
    Names a listing returns (``ls`` -> ``current_directory_content[]``, ``files[].path``) into a path
    or file parameter (``cd(folder)``, ``cat(file_name)``, ``mv(source)``).
``numeric`` (0.5)
    A computed number (``result``, ``sum``, ``product``) into an operand (``a``, ``x``, ``num1``).

Every proposal must still fit by type; the graph keeps only those (:func:`add_proposed_edges`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from digit_assets.engine.dataflow import (
    SchemaField,
    input_params,
    output_fields,
    source_id_entity,
    target_id_entity,
    types_compatible,
)
from digit_assets.engine.lexicon import parse_tool_name, singularize, split_words
from digit_assets.engine.synthesis.roles import DataflowRequest, DataflowResponse, ProposedLink

# Names of one thing; a role noun (a receiver, an assignee) names a person, and people are users.
SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset(
        "user person receiver recipient sender owner assignee author member contact friend follower payee payer "
        "requester reporter creator addressee participant attendee".split()
    ),
    frozenset({"file", "document", "doc"}),
    frozenset({"folder", "directory", "dir"}),
    frozenset({"message", "msg"}),
)
_GROUP = {word: index for index, group in enumerate(SYNONYMS) for word in group}

PATH_NOUNS = frozenset({"path", "file", "filename", "folder", "directory", "dir", "filepath"})
_PATH_PARAMS = frozenset({"source", "src"})  # ``mv(source, ...)``: a path when the value comes from a listing
# Arrays whose strings are entries of a listing.
LISTING_NOUNS = frozenset(
    "content contents entries entry matches match files folders directories paths names children listing".split()
)
LISTING_TOOLS = frozenset({"ls", "find", "tree", "glob", "dir", "locate"})
RESULT_WORDS = frozenset(
    "result value sum product difference quotient answer output average mean remainder total square root power".split()
)
OPERAND_NAMES = frozenset(
    "a b c x y z n m num num1 num2 number number1 number2 operand operand1 operand2 first second first_number "
    "second_number value base exponent dividend divisor numerator denominator input".split()
)
_NUMERIC = frozenset({"number", "integer"})
_ID_WORDS = frozenset({"id", "uuid", "key", "code", "token", "hash"})
# Words that qualify which one of an entity a parameter means (``parent_folder_id`` is a folder's id).
QUALIFIERS = frozenset(
    "parent child source target destination dest from to new old original primary secondary current default "
    "home main other related linked base root".split()
)


def _same_thing(left: str, right: str) -> bool:
    return left == right or (left in _GROUP and _GROUP.get(left) == _GROUP.get(right))


def _id_match(field: SchemaField, src_tool: str, param: SchemaField, dst_tool: str) -> tuple[str, float] | None:
    source, target = source_id_entity(field, src_tool), target_id_entity(param, dst_tool)
    if not source or not target or source == target:
        return None
    src_words, dst_words = source.split("_"), target.split("_")
    shorter, longer = sorted((src_words, dst_words), key=len)
    extra = longer[: len(longer) - len(shorter)]
    if extra and longer[len(extra) :] == shorter and set(extra) <= QUALIFIERS:
        return "id_suffix", 0.75
    if src_words[-1] != dst_words[-1] and _same_thing(src_words[-1], dst_words[-1]):
        return "synonym", 0.7
    return None


def _entity_noun_match(field: SchemaField, src_tool: str, param: SchemaField) -> tuple[str, float] | None:
    words = split_words(param.path)
    source = source_id_entity(field, src_tool)
    if len(words) != 1 or not source or "string" not in (param.types or {"string"}):
        return None
    noun = singularize(words[0])
    return ("entity_noun", 0.6) if _same_thing(source.split("_")[-1], noun) else None


_FILE_NOUNS = frozenset({"file", "filename", "document", "doc"})
_FOLDER_NOUNS = frozenset({"folder", "directory", "dir", "subdirectory", "subfolder"})


def _path_class(word: str) -> str:
    """``file``, ``folder`` or ``path`` (either) for the noun that names a path value."""
    word = singularize(word)
    return "file" if word in _FILE_NOUNS else "folder" if word in _FOLDER_NOUNS else "path"


def _path_param_class(param: SchemaField) -> str | None:
    """The class of path a parameter takes (``cd(folder)``, ``cat(file_name)``, ``mv(source)``); None if none."""
    words = split_words(param.path)
    if not words or not param.types <= {"string"}:
        return None
    if words[-1] in PATH_NOUNS:
        return _path_class(words[-1])
    if len(words) > 1 and words[-1] == "name" and words[-2] in PATH_NOUNS:
        return _path_class(words[-2])
    return "path" if param.path.lower() in _PATH_PARAMS else None


def _path_source(field: SchemaField, src_tool: str) -> tuple[str, float] | None:
    """(class, confidence) of a field holding paths: 0.6 for entries of a listing
    (``current_directory_content[]``, ``files[].name``), 0.5 for one field named as a path
    (``current_working_directory``); None for anything else, ids included."""
    if not field.types or not field.types <= {"string"}:
        return None
    leaf = split_words(field.leaf)
    containers = [word for name in field.names[:-1] for word in split_words(name)]
    if not leaf or leaf[-1] in _ID_WORDS:
        return None
    if field.path.endswith("[]"):
        top_level_listing = len(field.names) == 1 and (
            src_tool.lower() in LISTING_TOOLS or parse_tool_name(src_tool).action == "list"
        )
        if top_level_listing or leaf[-1] in LISTING_NOUNS | PATH_NOUNS:
            return _path_class(leaf[-1]), 0.6
        return None
    owner = leaf[-2:-1] or containers[-1:]
    if leaf[-1] in PATH_NOUNS:
        noun = leaf[-1]
    elif leaf[-1] == "name" and owner and singularize(owner[0]) in PATH_NOUNS | _FOLDER_NOUNS:
        noun = owner[0]
    else:
        return None
    return _path_class(noun), 0.6 if "[]" in field.path else 0.5


def _path_match(field: SchemaField, src_tool: str, param: SchemaField) -> tuple[str, float] | None:
    wanted = _path_param_class(param)
    found = _path_source(field, src_tool) if wanted else None
    if found is None or "path" not in (wanted, found[0]) and wanted != found[0]:
        return None
    return "path", found[1]


def _numeric_match(field: SchemaField, param: SchemaField) -> tuple[str, float] | None:
    if not field.types or not field.types <= _NUMERIC or not param.types or not param.types & _NUMERIC:
        return None
    leaf_words = split_words(field.leaf)
    if "[]" in field.path or not leaf_words or leaf_words[-1] not in RESULT_WORDS:
        return None
    return ("numeric", 0.5) if param.path.lower() in OPERAND_NAMES else None


def meaning_match(field: SchemaField, src_tool: str, param: SchemaField, dst_tool: str) -> tuple[str, float] | None:
    """The kind and confidence of an edge by meaning from ``field`` of ``src_tool`` to ``param``; None if none."""
    return (
        _id_match(field, src_tool, param, dst_tool)
        or _entity_noun_match(field, src_tool, param)
        or _path_match(field, src_tool, param)
        or _numeric_match(field, param)
    )


def propose_links_offline(request: DataflowRequest, rng: random.Random) -> DataflowResponse:
    """Every type-compatible edge by meaning between two tools of the request; ``rng`` is unused."""
    known = {(link.src_tool, link.src_field, link.dst_tool, link.dst_param) for link in request.known}
    fields = {tool.name: output_fields(tool.output_schema) for tool in request.tools}
    params = {tool.name: input_params(tool.parameters) for tool in request.tools}
    links: list[ProposedLink] = []
    for src in request.tools:
        for dst in request.tools:
            if dst.name == src.name:
                continue
            links += _links(src.name, fields[src.name], dst.name, params[dst.name], known)
    return DataflowResponse(links=links)


def _links(
    src_tool: str, fields: Sequence[SchemaField], dst_tool: str, params: Sequence[SchemaField], known: set[tuple[str, str, str, str]]
) -> list[ProposedLink]:
    links = []
    for param in params:
        for field in fields:
            if (src_tool, field.path, dst_tool, param.path) in known:
                continue
            found = meaning_match(field, src_tool, param, dst_tool)
            if found is None or not types_compatible(field, param):
                continue
            kind, confidence = found
            links.append(
                ProposedLink(
                    src_tool=src_tool,
                    src_field=field.path,
                    dst_tool=dst_tool,
                    dst_param=param.path,
                    kind=kind,
                    confidence=confidence,
                    why=f"{kind}: {field.path} of {src_tool} holds what {param.path} of {dst_tool} takes",
                )
            )
    return links
