"""The rules the assistant's closing message of a turn must follow (method.md step 7), whoever
writes it (the offline summarizer is :mod:`digit_assets.engine.offline.summarizer`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from digit_assets.engine.synthesis.model import REFERENCE_LEAK
from digit_assets.engine.synthesis.text import leaked_identifiers

_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|me|my|we|we've|our)\b")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def summary_problems(summary: str, tool_names: Iterable[str], param_names: Iterable[str]) -> list[str]:
    """Why a summary breaks step 7: empty, not first person, over three sentences, names a tool or parameter."""
    text = summary.strip()
    if not text:
        return ["the summary is empty"]
    problems = [f"the summary names the identifier {name!r}" for name in leaked_identifiers(text, [*tool_names, *param_names])]
    if REFERENCE_LEAK.search(text):
        problems.append("the summary leaks a $k reference")
    if not _FIRST_PERSON.search(text):
        problems.append("the summary is not written in the first person")
    if len(_SENTENCE_END.findall(text)) > 3:
        problems.append("the summary is longer than three sentences")
    return problems
