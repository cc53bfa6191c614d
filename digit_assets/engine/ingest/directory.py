"""The specs directory as a set of sources: which files count, and who owns a namespace."""

from __future__ import annotations

from pathlib import Path

from digit_assets.engine.ingest import SPEC_SUFFIXES, namespace_for


def list_spec_files(root: Path) -> list[str]:
    """Spec files below ``root`` as sorted posix paths relative to it (hidden files skipped)."""
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix.lower() in SPEC_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def skipped_files(root: Path) -> dict[str, str]:
    """Files below ``root`` that are not read as specs, each with the reason (hidden files aside)."""
    if not root.is_dir():
        return {}
    suffixes = ", ".join(sorted(SPEC_SUFFIXES))
    return {
        path.relative_to(root).as_posix(): f"skipped: extension {path.suffix or '(none)'!r} is none of {suffixes}"
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix.lower() not in SPEC_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def namespace_owner(source_file: str, all_source_files: list[str]) -> str | None:
    """The file that owns ``source_file``'s namespace when it is not ``source_file`` itself.

    The first file in sorted order wins, so the outcome does not depend on ingestion order.
    """
    namespace = namespace_for(source_file)
    for candidate in sorted(all_source_files):
        if namespace_for(candidate) == namespace:
            return None if candidate == source_file else candidate
    return None
