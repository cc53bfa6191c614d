"""How values and names show up in natural-language text; shared by the writer, the rules, the
verifier and the judge so they agree on what "the request mentions X" means."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from digit_assets.engine.lexicon import words_of


def value_text(value: Any) -> str:
    """How a literal value is written in text: numbers without a trailing ``.0``, booleans skipped."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def is_mentionable(value: Any) -> bool:
    """Values a user would state. Booleans, nulls and containers of objects are carried by wording."""
    if isinstance(value, (bool, type(None), dict)):
        return False
    if isinstance(value, (list, tuple)):
        return all(is_mentionable(v) for v in value) and len(value) > 0
    return value_text(value) != ""


def find_value(text: str, value: Any) -> int:
    """Position of ``value`` in ``text`` (case-insensitive, whole token), or -1."""
    written = value_text(value)
    if not written:
        return -1
    if isinstance(value, (list, tuple)):
        positions = [find_value(text, item) for item in value]
        return -1 if not positions or min(positions) < 0 else min(positions)
    match = _token_pattern(written).search(text)
    return match.start() if match else -1


@functools.lru_cache(maxsize=16_384)
def _token_pattern(written: str) -> re.Pattern[str]:
    """Compiled once per value: the conversations of a run mention the same values many times."""
    return re.compile(r"(?<![\w-])" + re.escape(written) + r"(?![\w-]|\.\d)", flags=re.IGNORECASE)


def humanize(name: str) -> str:
    """``order_date`` / ``orderDate`` -> ``order date``."""
    return " ".join(words_of(name))


def is_identifier_like(name: str) -> bool:
    """Names no person writes in prose: snake_case, camelCase or dotted identifiers."""
    return bool(re.search(r"[_.]|[a-z][A-Z]", name))


def leaked_identifiers(text: str, names: Iterable[str]) -> list[str]:
    """Which identifier-like tool or parameter names appear verbatim in ``text``."""
    lowered = text.lower()
    return sorted(
        {
            name
            for name in names
            if is_identifier_like(name) and re.search(r"(?<![\w])" + re.escape(name.lower()) + r"(?![\w])", lowered)
        }
    )
