"""Tool-spec ingestion: one spec file in; normalized tools (``ToolSpec``) and rejections out.

Formats (one module each, detection in :mod:`.loading`): OpenAI tool lists, BFCL function docs,
MCP ``tools/list`` results, OpenAPI 3.x. Whatever the format, every tool then passes the same
checks (:mod:`.schema_checks`), and a tool that fails is rejected with a message naming the file,
the tool and its position, while the file's other tools are kept. Bad input never raises: a file
that cannot be used at all comes back with ``file_error`` set and one rejection saying why.

Each file is its own namespace (:func:`namespace_for`); names are unique within it, the first
valid definition winning. A tool that fails a check claims no name.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from digit_assets.engine.ingest.loading import load_source
from digit_assets.engine.ingest.model import FileProblem, ItemProblem, SpecProblem, ToolDraft
from digit_assets.engine.ingest.schema_checks import check_draft
from digit_assets.engine.side_effects import SideEffectProblem, classify
from digit_assets.engine.specs import Rejection, SourceFormat, ToolSpec

SPEC_SUFFIXES = frozenset({".json", ".jsonl", ".yaml", ".yml"})
STAGE = "ingestion"
_RAW_LIMIT = 2_000
_NAMESPACE_FORBIDDEN = re.compile(r"[^a-z0-9_]")


class IngestResult(BaseModel):
    """What one spec file yielded; ``file_error`` is set when the file as a whole could not be used."""

    source_file: str
    format: SourceFormat | None
    namespace: str
    sha256: str
    size_bytes: int
    tools: list[ToolSpec]
    rejections: list[Rejection]
    file_error: str | None = None


def namespace_for(relative_path: str) -> str:
    """``vendors/Acme-CRM.openapi.yaml`` -> ``vendors_acme_crm``: the path without the file's extensions.

    Everything after the first dot of the file name is extension (``.openapi.yaml`` says the format,
    not the domain). Leading dots of a file name are not separators, so ``.hidden.json`` -> ``hidden``.
    """
    directory, _, file_name = relative_path.rpartition("/")
    stem = file_name.lstrip(".").split(".", 1)[0]
    without_extensions = f"{directory}/{stem}" if directory else stem
    return _NAMESPACE_FORBIDDEN.sub("_", without_extensions.lower())


def ingest_file(path: Path, root: Path, *, max_bytes: int = 5_000_000) -> IngestResult:
    """Read, recognize and check one spec file (``path`` lies under ``root``).

    Problems with the file come back as rejections, never as exceptions: one bad file must not
    stop a sensor run over a whole directory of sources.
    """
    source_file = path.relative_to(root).as_posix()
    namespace = namespace_for(source_file)
    outside = escape_problem(path, root)
    if outside is not None:  # nothing of the target is read, hashed or stored
        return _failed_file(source_file, namespace, "", 0, FileProblem(outside))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            problem = FileProblem(f"the file is {size:,} bytes, over the {max_bytes:,}-byte limit; nothing was parsed")
            return _failed_file(source_file, namespace, digest, size, problem)
        data = path.read_bytes()
    except OSError as error:
        return _failed_file(source_file, namespace, "", 0, FileProblem(f"cannot read the file: {error.strerror or error}"))
    digest = hashlib.sha256(data).hexdigest()
    try:
        source_format, items = load_source(data, path.suffix.lower())
    except FileProblem as problem:
        if problem.raw is None:  # no better snippet than the start of the file
            problem.raw = data[:_RAW_LIMIT].decode("utf-8", errors="replace")
        return _failed_file(source_file, namespace, digest, len(data), problem)
    tools, rejections = _build_tools(items, source_file=source_file, namespace=namespace, source_format=source_format)
    return IngestResult(
        source_file=source_file,
        format=source_format,
        namespace=namespace,
        sha256=digest,
        size_bytes=len(data),
        tools=tools,
        rejections=rejections,
    )


def escape_problem(path: Path, root: Path) -> str | None:
    """Why ``path`` may not be read: its real path (symlinks and ``..`` resolved) lies outside ``root``."""
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return "the file's path cannot be resolved (a symlink loop); it was not read"
    if inside:
        return None
    return "the file's real path lies outside the directory (a symlink or '..'); it was not read"


def resolve_namespace_conflicts(results: list[IngestResult]) -> list[IngestResult]:
    """Files mapping to one namespace: the first in sorted ``source_file`` order keeps it.

    Sorted order, not ingestion order, so the outcome is the same however files arrive. The other
    files keep no tools: each becomes a rejection naming both files.
    """
    owners: dict[str, str] = {}
    for result in sorted(results, key=lambda result: result.source_file):
        owners.setdefault(result.namespace, result.source_file)
    return [
        result if owners[result.namespace] == result.source_file else _displaced(result, owners[result.namespace])
        for result in results
    ]


def _displaced(result: IngestResult, owner: str) -> IngestResult:
    moved = [
        Rejection(
            stage=STAGE,
            source=result.source_file,
            item=tool.name,
            position=tool.position,
            reason=(
                f"{result.source_file}: tool {tool.name!r} at {tool.position}: namespace {result.namespace!r} "
                f"is already taken by {owner} (first in sorted order); rename one of the files"
            ),
            raw=_snippet(tool.model_dump(include={"name", "description", "parameters", "output_schema"})),
        )
        for tool in result.tools
    ]
    return result.model_copy(update={"tools": [], "rejections": [*result.rejections, *moved]})


def _build_tools(
    items: list[ToolDraft | ItemProblem], *, source_file: str, namespace: str, source_format: SourceFormat
) -> tuple[list[ToolSpec], list[Rejection]]:
    tools: list[ToolSpec] = []
    rejections: list[Rejection] = []
    first_positions: dict[str, str] = {}

    def reject(position: str, name: str | None, problem: str, raw: Any) -> None:
        subject = f"tool {name!r}" if name else "tool"
        rejections.append(
            Rejection(
                stage=STAGE,
                source=source_file,
                item=name,
                position=position,
                reason=f"{source_file}: {subject} at {position}: {problem}",
                raw=_snippet(raw),
            )
        )

    for item in items:
        if isinstance(item, ItemProblem):
            reject(item.position, item.name, item.problem, item.raw)
            continue
        source_name = item.name if isinstance(item.name, str) and item.name else None
        try:
            checked = check_draft(item)
        except SpecProblem as problem:
            reject(item.position, source_name, str(problem), item.raw)
            continue
        except RecursionError:
            reject(item.position, source_name, "a schema is nested too deeply to check", item.raw)
            continue
        try:
            side_effect = classify(checked.name, checked.description, _spec_objects(item.raw), item.http_method)
        except SideEffectProblem as problem:
            reject(item.position, source_name, str(problem), item.raw)
            continue
        if checked.name in first_positions:
            problem = (
                f"duplicate name {checked.name!r} in namespace {namespace!r}: already defined at "
                f"{first_positions[checked.name]} (the first definition wins)"
            )
            reject(item.position, source_name, problem, item.raw)
            continue
        position = item.position
        if checked.renamed_from is not None:
            position = f"{item.position} (original name {checked.renamed_from!r})"
        first_positions[checked.name] = position
        tools.append(
            ToolSpec(
                namespace=namespace,
                name=checked.name,
                description=checked.description,
                parameters=checked.parameters,
                output_schema=checked.output_schema,
                source_file=source_file,
                source_format=source_format,
                position=position,
                side_effect=side_effect.side_effect,
                side_effect_origin=side_effect.origin,
            )
        )
    return tools, rejections


def _spec_objects(raw: Any) -> list[Any]:
    """Where a tool's source may state its side effect: the item itself, and an OpenAI wrapper's
    ``function`` object."""
    return [raw, raw.get("function")] if isinstance(raw, dict) else []


def _failed_file(source_file: str, namespace: str, digest: str, size: int, problem: FileProblem) -> IngestResult:
    rejection = Rejection(
        stage=STAGE,
        source=source_file,
        position=problem.position,
        reason=f"{source_file}: {problem.problem}",
        raw=_snippet(problem.raw) if problem.raw is not None else None,
    )
    return IngestResult(
        source_file=source_file,
        format=None,
        namespace=namespace,
        sha256=digest,
        size_bytes=size,
        tools=[],
        rejections=[rejection],
        file_error=problem.problem,
    )


def _snippet(raw: Any) -> str:
    """The offending input as text, cut to a size a quarantine row can carry.

    Encoded piece by piece and stopped at the limit, so a huge (or alias-shared) value never
    becomes one huge string.
    """
    if isinstance(raw, str):
        return raw[:_RAW_LIMIT]
    pieces: list[str] = []
    length = 0
    try:
        for piece in json.JSONEncoder(ensure_ascii=False, default=str).iterencode(raw):
            pieces.append(piece)
            length += len(piece)
            if length >= _RAW_LIMIT:
                break
    except (ValueError, RecursionError):
        return f"<a {type(raw).__name__} that has no JSON form>"
    return "".join(pieces)[:_RAW_LIMIT]
