"""OpenAPI 3.x documents (JSON or YAML): one tool per operation.

- Name: the ``operationId`` (forbidden characters replaced, the original kept in the position), or
  ``<method>_<path>`` with every run of other characters turned into ``_`` (``get_contacts_contact_id``).
- Description: ``summary`` and ``description``, in that order.
- Input schema: an object whose properties are the path and query parameters (path parameters are
  always required) plus the JSON request body. Header and cookie parameters are skipped: they carry
  transport details (auth tokens, tracing ids) a caller never chooses as a tool argument. An object
  body (``type: object`` with ``properties``, no ``allOf``/``anyOf``/``oneOf``/``not``) merges its
  properties, and its ``required`` list when the body is required; any other body, or one whose
  property names collide with a parameter, goes under a single ``body`` property. A body with no
  JSON media type (``multipart/form-data`` only, say) rejects the operation.
- Output schema: the JSON schema of the lowest 2xx response with JSON content; none when the success
  response has no content (204) or no schema, so enrichment infers one. An ``allOf`` of object
  schemas is folded into one object (union of properties and required names).
- ``$ref``: every local reference (``#/components/...``) is inlined through ``referencing`` so each
  tool's schemas stand alone. A reference to another file or to nothing, and a cycle (an infinitely
  recursive schema cannot be inlined), reject that operation only.
- OpenAPI 3.0 schemas are rewritten into JSON Schema 2020-12 where the dialects differ:
  ``nullable: true`` adds ``"null"`` to the type; boolean ``exclusiveMinimum``/``exclusiveMaximum``
  become numeric bounds. 3.1 schemas already are 2020-12.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from digit_assets.engine.ingest.model import FileProblem, ItemProblem, SpecProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import iter_subschemas, json_type_name
from digit_assets.engine.schema_refs import RefInliner, RefProblem, document_resolver

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports no public names for it

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_ARGUMENT_LOCATIONS = frozenset({"path", "query"})
_DOCUMENT_URI = "urn:digit-tc:openapi-document"
_SUCCESS_CODE = re.compile(r"2(\d\d|XX)")


def read_document(document: dict[str, Any]) -> list[ToolDraft | ItemProblem]:
    """A draft (or the problem) for every operation of every path, in document order."""
    version = str(document["openapi"])
    if not version.startswith("3."):
        raise FileProblem(f"OpenAPI version {version!r} is not supported (3.x only)")
    paths = document.get("paths")
    if paths is None:  # 3.1 allows a document of webhooks or components only
        paths = {}
    if not isinstance(paths, dict):
        raise FileProblem(f"'paths' must be an object, not {json_type_name(paths)}")
    resolver = document_resolver(document, _DOCUMENT_URI)
    legacy_dialect = version.startswith("3.0")
    items: list[ToolDraft | ItemProblem] = []
    for path, declared_item in paths.items():
        try:
            path_item = RefInliner(resolver).follow(declared_item)
        except RefProblem as problem:
            items.append(ItemProblem(str(path), str(problem), declared_item))
            continue
        if not isinstance(path_item, dict):
            problem = f"a path item must be an object, not {json_type_name(path_item)}"
            items.append(ItemProblem(str(path), problem, path_item))
            continue
        for method in HTTP_METHODS:
            if method in path_item:
                items.append(_read_operation(str(path), method, path_item, resolver, legacy_dialect))
    return items


def _read_operation(
    path: str, method: str, path_item: dict[str, Any], resolver: Resolver[Any], legacy_dialect: bool
) -> ToolDraft | ItemProblem:
    position = f"{method.upper()} {path}"
    operation = path_item[method]
    if not isinstance(operation, dict):
        return ItemProblem(position, f"an operation must be an object, not {json_type_name(operation)}", operation)
    operation_id = operation.get("operationId")
    name = operation_id if operation_id is not None else _synthesized_name(method, path)
    inliner = RefInliner(resolver)
    try:
        parameters = _input_schema(path_item.get("parameters"), operation, inliner)
        output_schema = _success_schema(operation.get("responses"), inliner)
        description = _description(operation)
    except (SpecProblem, RefProblem) as problem:
        return ItemProblem(position, str(problem), operation, name=name if isinstance(name, str) else None)
    except RecursionError:
        problem = "nested too deeply to read (a recursive YAML alias?)"
        return ItemProblem(position, problem, operation, name=name if isinstance(name, str) else None)
    if legacy_dialect:
        parameters = _from_openapi_30(parameters)
        output_schema = _from_openapi_30(output_schema)
    return ToolDraft(
        position=position,
        raw=operation,
        name=name,
        description=description,
        parameters=parameters,
        output_schema=output_schema,
        may_rename=True,
        http_method=method,
    )


def _synthesized_name(method: str, path: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", f"{method}_{path}").strip("_")


def _description(operation: dict[str, Any]) -> str:
    parts: list[str] = []
    for key in ("summary", "description"):
        text = operation.get(key)
        if text is None:
            continue
        if not isinstance(text, str):
            raise SpecProblem(f"{key} must be a string, not {json_type_name(text)}")
        if text.strip() and text.strip() not in parts:
            parts.append(text.strip())
    return "\n\n".join(parts)


def _input_schema(path_level: Any, operation: dict[str, Any], inliner: RefInliner) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in _parameters(path_level, operation.get("parameters"), inliner):
        name, location = parameter["name"], parameter["in"]
        if location not in _ARGUMENT_LOCATIONS:
            continue
        if name in properties:
            raise SpecProblem(f"parameter {name!r} is declared both in the path and in the query")
        properties[name] = _parameter_schema(parameter, inliner)
        if location == "path" or parameter.get("required") is True:
            required.append(name)
    if operation.get("requestBody") is not None:
        _add_request_body(properties, required, inliner.follow(operation["requestBody"]), inliner)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _parameters(path_level: Any, operation_level: Any, inliner: RefInliner) -> list[dict[str, Any]]:
    """Path-item parameters, overridden by operation parameters of the same name and location."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for declared in (path_level, operation_level):
        if declared is None:
            continue
        if not isinstance(declared, list):
            raise SpecProblem(f"'parameters' must be a list, not {json_type_name(declared)}")
        for entry in declared:
            parameter = inliner.follow(entry)
            if not (isinstance(parameter, dict) and all(isinstance(parameter.get(key), str) for key in ("name", "in"))):
                raise SpecProblem(f"a parameter needs a string 'name' and 'in': {str(parameter)[:200]}")
            merged[(parameter["name"], parameter["in"])] = parameter
    return list(merged.values())


def _parameter_schema(parameter: dict[str, Any], inliner: RefInliner) -> Any:
    """The parameter's schema, described by the parameter's own description when it has one.

    The parameter's description says what this argument is for ("the account, as returned by
    listAccounts"); a shared schema's says only what kind of value it is ("account identifier").
    """
    if "schema" in parameter:
        declared = parameter["schema"]
    else:
        media = _json_media(parameter.get("content"))
        declared = media.get("schema", {}) if media is not None else {}
    schema = inliner.inline(declared)
    description = parameter.get("description")
    if isinstance(schema, dict) and isinstance(description, str) and description.strip():
        schema["description"] = description.strip()
    return schema


def _add_request_body(properties: dict[str, Any], required: list[str], body: Any, inliner: RefInliner) -> None:
    if not isinstance(body, dict):
        raise SpecProblem(f"requestBody must be an object, not {json_type_name(body)}")
    content = body.get("content")
    media = _json_media(content)
    if media is None:
        declared = ", ".join(map(str, content)) if isinstance(content, dict) and content else "no content"
        raise SpecProblem(f"request body has no JSON media type ({declared}); only JSON bodies become tool arguments")
    schema = merge_object_all_of(inliner.inline(media.get("schema", {})))
    body_required = body.get("required") is True
    if _is_plain_object(schema) and not schema["properties"].keys() & properties.keys():
        properties.update(schema["properties"])
        if body_required:
            required.extend(name for name in schema.get("required", []) if name not in required)
        return
    if "body" in properties:
        raise SpecProblem("a parameter named 'body' leaves no property for the request body")
    properties["body"] = schema
    if body_required:
        required.append("body")


def _is_plain_object(schema: Any) -> bool:
    """An object schema whose meaning lies in ``properties``/``required``, so they can be merged.

    Other object-level keywords (``additionalProperties``, ...) do not survive the merge: the tool's
    arguments object also holds the parameters, so they could not apply to it unchanged.
    """
    return (
        isinstance(schema, dict)
        and schema.get("type") == "object"
        and isinstance(schema.get("properties"), dict)
        and isinstance(schema.get("required", []), list)
        and not {"allOf", "anyOf", "oneOf", "not"} & schema.keys()
    )


def _success_schema(responses: Any, inliner: RefInliner) -> Any:
    if responses is None:
        return None
    if not isinstance(responses, dict):
        raise SpecProblem(f"'responses' must be an object, not {json_type_name(responses)}")
    success_codes = sorted((str(code).upper(), code) for code in responses if _SUCCESS_CODE.fullmatch(str(code).upper()))
    for _, code in success_codes:
        response = inliner.follow(responses[code])
        media = _json_media(response.get("content")) if isinstance(response, dict) else None
        if media is not None and "schema" in media:
            return merge_object_all_of(inliner.inline(media["schema"]))
    return None


def merge_object_all_of(schema: Any) -> Any:
    """Fold an ``allOf`` of plain object schemas (OpenAPI's composition idiom) into one object schema.

    Plans and simulation read ``properties``; an ``allOf`` hides them. Members that are not plain
    objects, or that define one property differently, leave the schema as it is: guessing a merge
    there would change its meaning.
    """
    if not isinstance(schema, dict) or not isinstance(schema.get("allOf"), list):
        return schema
    members = [merge_object_all_of(member) for member in schema["allOf"]]
    outer = {key: value for key, value in schema.items() if key != "allOf"}
    if outer.get("type", "object") != "object" or not all(_is_plain_object(member) for member in members):
        return schema
    properties: dict[str, Any] = dict(outer.get("properties", {}))
    required: list[str] = list(outer.get("required", []))
    for member in members:
        for name, definition in member["properties"].items():
            if properties.setdefault(name, definition) != definition:
                return schema
        required += [name for name in member.get("required", []) if name not in required]
    merged = {**outer, "type": "object", "properties": properties}
    if required:
        merged["required"] = required
    return merged


def _json_media(content: Any) -> dict[str, Any] | None:
    """The media type object for JSON in a content map: ``application/json`` first, then any ``+json``."""
    if not isinstance(content, dict):
        return None

    def base(media_type: Any) -> str:
        return str(media_type).split(";")[0].strip().lower()

    candidates = [key for key in content if base(key) == "application/json" or base(key).endswith("+json")]
    for key in sorted(candidates, key=lambda key: base(key) != "application/json"):
        if isinstance(content[key], dict):
            return content[key]
    return None


def _from_openapi_30(schema: Any) -> Any:
    """Rewrite, in place, the two OpenAPI 3.0 schema keywords JSON Schema 2020-12 reads differently."""
    if not isinstance(schema, dict):
        return schema
    for subschema in iter_subschemas(schema):
        if subschema.pop("nullable", False) is True and "type" in subschema:
            declared = subschema["type"]
            types = declared if isinstance(declared, list) else [declared]
            subschema["type"] = types if "null" in types else [*types, "null"]
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            flag = subschema.get(exclusive)
            if isinstance(flag, bool):
                del subschema[exclusive]
                if flag and bound in subschema:
                    subschema[exclusive] = subschema.pop(bound)
    return schema

