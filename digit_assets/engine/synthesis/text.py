"""How values and names show up in natural-language text; shared by the writer, the rules, the
verifier and the judge so they agree on what "the request mentions X" means."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from digit_assets.engine.lexicon import SCHEMA_WORDS, spelled_counts, spelled_date_pattern, spoken_choice, text_words, words_of


_ISO_DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
    """Position of ``value`` in ``text`` (case-insensitive, whole token; an ISO date also as people
    spell it), or -1."""
    written = value_text(value)
    if not written:
        return -1
    if isinstance(value, (list, tuple)):
        positions = [find_value(text, item) for item in value]
        return -1 if not positions or min(positions) < 0 else min(positions)
    if type(value) is int:  # a count said in words ("only the five newest") is the count itself
        spelled = next((start for start, _, number in spelled_counts(text) if number == value), -1)
        if spelled >= 0:
            return spelled
    match = _token_pattern(written).search(text)
    if match is None and _ISO_DAY_ONLY.fullmatch(written):  # "2026-05-03" written "May 3, 2026"
        match = spelled_date_pattern(written).search(text)
    if match is None and "_" in written:  # "in_transit" said "in transit"
        match = _token_pattern(spoken_choice(written)).search(text)
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
            # the plain substring test first: most names are absent, and it costs no pattern
            if name.lower() in lowered
            and is_identifier_like(name)
            and re.search(r"(?<![\w])" + re.escape(name.lower()) + r"(?![\w])", lowered)
        }
    )


# --- What a person could not have written -----------------------------------------------------------

_CODE = re.compile(r"(?<![\w@/.-])[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*(?![\w@]|[/.-]\w)")
_EMAIL_OR_URL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
_FILE_NAME = re.compile(r"(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.[A-Za-z][A-Za-z0-9]{0,4}(?![\w])")
_ISO_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
# Keys a system assigns; a phone, room or zip code number is the person's own and not among them.
_IDENTIFIER_PARAM = re.compile(
    r"^(?:id|ids|uuid|.+_id|.+_ids|.+[a-z]Id|.+[a-z]Ids|.+_uuid|.+_ref|.+_reference"
    r"|(?:order|confirmation|tracking|booking|reservation|ticket|invoice|account|member|membership|transaction|case)_?[nN]umber)$"
)


def is_system_code(token: str) -> bool:
    """A code a system generates: letters mixed with at least three digits (``MEM-74581``, ``O70981``,
    ``pm_3e73fb``). Names with a year or a short number (``Room 12``, ``Q3``) are not codes."""
    return bool(re.search(r"[A-Za-z]", token)) and len(re.findall(r"\d", token)) >= 3


def system_codes(text: str) -> list[str]:
    """The system codes written in ``text``, outside emails, URLs, file names and ISO dates."""
    cleaned = _ISO_DATE_OR_TIME.sub(" ", _FILE_NAME.sub(" ", _EMAIL_OR_URL.sub(" ", text)))
    return [token for token in _CODE.findall(cleaned) if is_system_code(token)]


def is_identifier_param(name: str) -> bool:
    """Parameters that take a key the system assigned (``order_id``, ``memberId``, ``confirmation_number``)."""
    return bool(_IDENTIFIER_PARAM.match(name))


def is_system_identifier(param: str, value: Any) -> bool:
    """A literal the system made up and a person only knows from a message they saw: a code, or any
    scalar given to an identifier parameter."""
    if isinstance(value, (list, tuple)):
        return any(is_system_identifier(param, item) for item in value)
    if isinstance(value, dict):
        return any(is_system_identifier(str(field), item) for field, item in value.items())
    if isinstance(value, bool) or value is None:
        return False
    written = value_text(value)
    if is_identifier_param(param) and written and not _EMAIL_OR_URL.fullmatch(written):
        return True
    return bool(system_codes(written))


def known_to_user(value: Any, seen_texts: Iterable[str]) -> bool:
    """The user knows a value when it appears in a message they saw or wrote earlier: their own
    requests, the assistant's replies, or the scenario's description of them (an order number from
    a confirmation they received)."""
    return any(find_value(text, value) >= 0 for text in seen_texts)


_OWNERS = frozenset({"my", "our", "your", "his", "her", "their"})
_QUOTED = re.compile(r'"[^"\n]*"|(?<!\w)\'[^\'\n]*\'(?!\w)')


def without_quotes(text: str) -> str:
    """The text with quoted strings blanked: what is quoted is the user's data, not their wording."""
    return _QUOTED.sub(" ", text)


@functools.lru_cache(maxsize=4_096)
def _label_forms(words: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str], tuple[str, ...]]:
    """How a text labels a value with a parameter's words: what ends right before the value ("the min
    size bytes is 500", "set the city to X", "member id: M1", "the min size bytes 500") and what
    starts right after it ("X as the city"). One plain word before a value ("with the subject ...")
    is how people talk; several words are a field's name. Compiled once per parameter, not per value
    (values change with every conversation): the value is found by :func:`_value_spans`. The third
    item: the words one of the forms before a value ends with (a quote and spaces aside)."""
    phrase = r"[\s_-]+".join(map(re.escape, words))
    link = r"(?:is|are|should\s+be|will\s+be|equals|=|:)"
    before = [
        rf"\bthe\s+{phrase}\s+{link}\s*",
        rf"\b(?:set|change|update|make)\s+(?:the\s+)?{phrase}\s+(?:to|as)\s+",
        rf"\b{phrase}\s*[:=]\s*",
    ]
    endings = ("is", "are", "be", "equals", "=", ":", "to", "as")
    if len(words) >= 2:  # several words before a value name a field, unless they are the user's own
        endings += ("of", "equal", words[-1].lower())
        before.append(rf"\b(?:where|whose|with|using|for)\s+(?:the\s+)?{phrase}\s+(?:is\s+|of\s+|equals?\s+)?")
        not_own = "".join(rf"(?<!\b{owner}\s)" for owner in sorted(_OWNERS))
        before.append(rf"(?<![\w-]){not_own}{phrase}\s+(?:{link}\s+|of\s+|to\s+)?")
    return (
        re.compile("(?:" + "|".join(before) + r")[\"']?\Z", re.IGNORECASE),
        re.compile(rf"[\"']?\s+as\s+(?:the\s+|an?\s+)?{phrase}\b", re.IGNORECASE),
        endings,
    )


def _may_follow_label(text: str, start: int, endings: tuple[str, ...]) -> bool:
    """Whether the text before ``start`` ends with one of ``endings`` (after an optional quote and
    spaces, as ``\\s`` and ``rstrip`` agree): a search that cannot succeed is skipped, so the whole
    text is scanned only where a label may end. Outside ASCII, IGNORECASE and lower() part ways: True."""
    if not text.isascii():
        return True
    tail = text[:start]
    if tail.endswith(('"', "'")):
        tail = tail[:-1]
    return tail.rstrip().lower().endswith(endings)


def _value_spans(text: str, lowered: str, written: str) -> list[tuple[int, int]]:
    """Where ``written`` stands in ``text`` in any case (as ``re.IGNORECASE`` compares, one character
    for one), not run into a following word character or hyphen."""
    if written.isascii() and text.isascii():  # IGNORECASE is lower() here: a plain find
        needle, starts = written.lower(), []
        start = lowered.find(needle)
        while start >= 0:
            starts.append(start)
            start = lowered.find(needle, start + 1)
    else:
        starts = [match.start() for match in re.finditer(f"(?={re.escape(written)})", text, re.IGNORECASE)]
    return [
        (start, start + len(written))
        for start in starts
        if not _WORD_OR_HYPHEN.match(text, start + len(written))
    ]


_WORD_OR_HYPHEN = re.compile(r"[\w-]")


def labelled_parameters(text: str, params: Iterable[str], values: Iterable[Any]) -> list[str]:
    """The parameters whose name ``text`` uses as a label for one of ``values`` (see
    :func:`_label_forms`); "my zip code is 12345" is how people talk and is not a label."""
    written_values = sorted({value_text(item) for value in values for item in _items(value)} - {""})
    lowered = text.lower()
    spans = [span for written in written_values for span in _value_spans(text, lowered, written)]
    found = []
    for param in sorted(set(params)):
        words = tuple(words_of(param))
        if not words or not spans or not any(word in lowered for word in words):
            continue
        before, after, endings = _label_forms(words)
        if any(
            after.match(text, end) or (_may_follow_label(text, start, endings) and before.search(text, 0, start))
            for start, end in spans
        ):
            found.append(param)
    return found


def _items(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [item for entry in value for item in _items(entry)]
    if isinstance(value, dict):
        return [item for entry in value.values() for item in _items(entry)]
    return [value] if is_mentionable(value) else []


def schema_vocabulary(text: str) -> list[str]:
    """Words about schemas (``parameter``, ``enum``, ``boolean`` ...) outside quoted data."""
    return sorted(set(text_words(without_quotes(text))) & SCHEMA_WORDS)


# --- How a person does not write: of themselves as "the user", of settings as switches ---------------

# The speaker is the user: "The user wants to ...", "on behalf of the user", "the user's order" are a
# narrator's words. "Remove the user from the group" is about an account and stays.
_THIRD_PERSON = re.compile(
    r"\b(?:the|this|our)\s+(?:user|customer|client)\s+(?:wants|would(?:\s+like)?|needs|asks|is\s+asking|has\s+asked|requests|"
    r"is\s+looking|is\s+trying|wishes|intends|plans|prefers|likes|'d|is\s+requesting|wanted|asked)\b"
    r"|\bon\s+behalf\s+of\s+the\s+user\b|\bas\s+the\s+user\b|\bthe\s+user(?:'s|s')\s+own\b",
    re.IGNORECASE,
)
# Only a narrator's words where users are no objects of the tools: "for the user.", "the user's orders".
_THIRD_PERSON_OWNER = re.compile(
    r"\bfor\s+the\s+user\s*(?:[.,;!?]|$)|\bthe\s+user's\s+\w+"
    r"|\bthe\s+user\s+(?:organi[sz]es|owns|created|made|booked|manages|holds|is\s+(?:in|on|part\s+of))\b",  # "an event the user organizes"
    re.IGNORECASE,
)


def third_person_speaker(text: str, users_are_objects: bool = False) -> list[str]:
    """Phrases in which the request speaks of its own writer as "the user" (outside quoted data).
    ``users_are_objects``: the tools manage user accounts, so "the user's email" may be one of them."""
    plain = without_quotes(text)
    patterns = (_THIRD_PERSON,) if users_are_objects else (_THIRD_PERSON, _THIRD_PERSON_OWNER)
    return [match.group(0) for pattern in patterns for match in pattern.finditer(plain)]


_SWITCH_VALUES = r"(?:(?:is|set\s+to|=|:)\s*(?:true|false|yes|no|on|off|enabled|disabled)|turned\s+(?:on|off)|enabled|disabled|true|false)"


def switch_readouts(text: str, boolean_params: Iterable[str]) -> list[str]:
    """Yes/no settings read out as switches: "with notify customer turned on", "internal set to
    true", "available_only = false". People say "only available ones" or "not internal"."""
    plain = without_quotes(text)
    found = [match.group(0) for match in re.finditer(r"\b(?:set\s+to|=|:)\s*(?:true|false)\b", plain, re.IGNORECASE)]
    for param in sorted(set(boolean_params)):
        phrase = r"[\s_-]+".join(map(re.escape, words_of(param)))
        found += [match.group(0) for match in re.finditer(rf"\b{phrase}\s+{_SWITCH_VALUES}\b", plain, re.IGNORECASE)]
    return sorted(set(found))


_COUNT_OF_ONE = re.compile(r"\b(?:first|top|latest|newest|last)\s+1\b(?![.,]\d)|\bup\s+to\s+1\b(?![.,]?\d)|\b1\s+of\s+them\b", re.IGNORECASE)


def awkward_counts(text: str) -> list[str]:
    """Counts no one writes: "the first 1", "up to 1 of them" (people say "just the first one")."""
    return [match.group(0) for match in _COUNT_OF_ONE.finditer(without_quotes(text))]
