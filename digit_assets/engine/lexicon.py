"""Word and tool-name knowledge, in one place for ingestion, enrichment, synthesis, the offline engine
and the stateful baselines: splitting identifiers into words, singular and plural forms, what a
tool name says (verb, action, entity), and which verbs read, write or leave a state behind.

One word splitter for identifiers (:func:`split_words`, cached as :func:`name_words`), and
:func:`text_words` for free text. Two singulars, because two jobs need them: :func:`singularize`
is English (``statuses`` -> ``status``) and names entities; :func:`singular` only trims
``-ies``/``-s`` and is applied on both sides of a name comparison, the way the generator has
always matched field names (making it English would change which names match: a change of
behaviour of its own, not a move).

``analytics/`` keeps its own read/write classifier on purpose: the fidelity measurement must not
share its vocabulary with the generator it measures.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from collections.abc import Mapping, Sequence

# --- Words: splitting identifiers, singular and plural ---------------------------------------------

_IDENTIFIER_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+\d*|\d+")


def split_words(name: str) -> list[str]:
    """``getOrderDetails`` / ``get_order_details`` / ``OrderID`` -> lower-case words."""
    return [word.lower() for word in _IDENTIFIER_WORD.findall(name)]


def normalize_name(name: str) -> str:
    """One spelling for every naming style: ``orderId``, ``OrderID`` and ``order_id`` -> ``order_id``."""
    return "_".join(split_words(name))


# Nouns with no separate plural: never singularized, never pluralized.
UNCOUNTABLE = frozenset(
    "advice analytics availability data equipment feedback hardware health information info inventory "
    "metadata money music news pricing series software species traffic weather".split()
)
_IRREGULAR_PLURALS = {
    "person": "people", "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "foot": "feet", "tooth": "teeth", "goose": "geese", "criterion": "criteria", "index": "indices",
    "matrix": "matrices", "vertex": "vertices", "leaf": "leaves", "knife": "knives", "wife": "wives",
    "life": "lives", "shelf": "shelves", "half": "halves", "wolf": "wolves", "quiz": "quizzes",
    "analysis": "analyses", "axis": "axes", "thesis": "theses", "crisis": "crises", "diagnosis": "diagnoses",
}
_IRREGULAR_SINGULARS = {plural: singular for singular, plural in _IRREGULAR_PLURALS.items()}
# Singular nouns that end like plurals.
_SINGULAR_S_ENDINGS = ("ss", "us", "is", "ics")
_SINGULAR_AS_WORDS = frozenset({"alias", "atlas", "bias", "canvas", "gas", "sms", "dns", "os", "yes"})


def singularize(word: str) -> str:
    """English singular of one lower-case word; words already singular come back unchanged."""
    if word in UNCOUNTABLE or word in _SINGULAR_AS_WORDS or word in _IRREGULAR_PLURALS:
        return word
    if word in _IRREGULAR_SINGULARS:
        return _IRREGULAR_SINGULARS[word]
    if len(word) < 3 or not word.endswith("s") or word.endswith(_SINGULAR_S_ENDINGS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh|us)es$", word):
        return word[:-2]
    return word[:-1]


def pluralize(word: str) -> str:
    """English plural of one lower-case singular word."""
    if word in UNCOUNTABLE:
        return word
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def _is_plural(word: str) -> bool:
    return singularize(word) != word


# --- Tool names: verb and entity -------------------------------------------------------------------

Action = Literal["list", "get", "create", "update", "state", "delete", "validate", "other"]

_VERBS: dict[str, Action] = {
    **dict.fromkeys(
        "list search find query browse filter enumerate discover explore".split(), "list"
    ),
    **dict.fromkeys(
        "get fetch retrieve read show view describe lookup check load obtain inspect display track see".split(), "get"
    ),
    **dict.fromkeys(
        (
            "create add new make book place register submit post open insert schedule reserve send issue "
            "generate upload start initiate request apply subscribe enroll invite rent buy purchase pay "
            "transfer refund log record save share checkout"
        ).split(),
        "create",
    ),
    **dict.fromkeys(
        "update edit modify change set patch put rename reschedule assign move adjust replace upgrade downgrade "
        "reset extend renew rate mark".split(),
        "update",
    ),
    **dict.fromkeys("delete remove destroy erase purge drop unlink detach".split(), "delete"),
    **dict.fromkeys("validate verify".split(), "validate"),
}
# Verbs that move a record into a named state: the result reports that state.
STATE_VERBS = {
    "cancel": "cancelled", "close": "closed", "revoke": "revoked", "void": "voided", "terminate": "terminated",
    "end": "ended", "stop": "stopped", "archive": "archived", "suspend": "suspended", "reject": "rejected",
    "decline": "declined", "deactivate": "deactivated", "withdraw": "withdrawn", "unsubscribe": "unsubscribed",
    "approve": "approved", "confirm": "confirmed", "complete": "completed", "activate": "activated",
    "enable": "enabled", "disable": "disabled", "lock": "locked", "unlock": "unlocked", "block": "blocked",
    "unblock": "unblocked", "pause": "paused", "resume": "resumed", "reopen": "reopened", "accept": "accepted",
    "restore": "restored", "resolve": "resolved",
}
_PREPOSITIONS = frozenset("by for from of with to in on at into via using per within between under".split())
_FILLERS = frozenset(
    "a an the all my current existing available recent latest single specific bulk batch multiple new one given".split()
)
# Trailing words that describe a view of the entity, not another entity (``getOrderDetails`` is an order).
_VIEW_WORDS = frozenset({"details", "detail", "info", "information", "data", "status", "state"})
_VERSION = re.compile(r"^(v\d+|\d+|api)$")


@dataclass(frozen=True)
class ToolName:
    """What a tool name says: the action, the verb as written, and the (singular) entity words."""

    action: Action
    verb: str | None
    entity: tuple[str, ...]
    collection: bool
    view: tuple[str, ...]
    camel: bool

    @property
    def entity_key(self) -> str:
        return "_".join(self.entity)


def parse_tool_name(name: str) -> ToolName:
    """``list_orders`` -> list of order; ``getOrderDetails`` -> get order; ``orders_list`` works too."""
    words = [word for word in split_words(name) if not _VERSION.match(word)]
    camel = "_" not in name and re.search(r"[a-z][A-Z]", name) is not None
    verb, action = None, None
    if words and _verb_action(words[0]):
        verb, action, words = words[0], _verb_action(words[0]), words[1:]
    elif len(words) > 1 and _verb_action(words[-1]):
        verb, action, words = words[-1], _verb_action(words[-1]), words[:-1]
    for index, word in enumerate(words):
        if word in _PREPOSITIONS:
            words = words[:index]
            break
    words = [word for word in words if word not in _FILLERS]
    view: list[str] = []
    while len(words) > 1 and words[-1] in _VIEW_WORDS:
        view.insert(0, words.pop())
    if action is None:
        if view or len(words) == 1:
            action = "get"
        elif words:
            verb, action, words = words[0], "other", words[1:]
        else:
            action = "other"
    collection = bool(words) and _is_plural(words[-1])
    if collection and action == "get":
        action = "list"
    entity = tuple(words[:-1] + [singularize(words[-1])]) if words else ()
    return ToolName(action=action, verb=verb, entity=entity, collection=collection, view=tuple(view), camel=camel)


def acting_phrase(name: str) -> tuple[str, str, tuple[str, ...]] | None:
    """An unknown verb before a preposition, as in ``reply_to_ticket`` / ``respondToInvitation``:
    (verb, preposition, singular object words), or None for any other name."""
    words = [word for word in split_words(name) if not _VERSION.match(word)]
    if len(words) < 3 or _verb_action(words[0]) or words[1] not in _PREPOSITIONS:
        return None
    rest = [word for word in words[2:] if word not in _FILLERS]
    return (words[0], words[1], (*rest[:-1], singularize(rest[-1]))) if rest else None


def is_action_verb(word: str) -> bool:
    """A verb the lexicon knows a tool may be named after (``restore``, ``trash``, ``cancel``, ``log``)."""
    return word in _VERBS or word in STATE_VERBS or word in _FLAGS or word in READ_VERBS


def past_tense(verb: str) -> str:
    """The regular past of an English verb: ``restore`` -> ``restored``, ``log`` -> ``logged``,
    ``reply`` -> ``replied``, ``trash`` -> ``trashed``."""
    if verb.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdglmnpt]", verb):  # one short syllable: log, stop, pin
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _verb_action(word: str) -> Action | None:
    if word in STATE_VERBS:
        return "state"
    return _VERBS.get(word)


_LOWER_WORD = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=16_384)
def name_words(name: str) -> tuple[str, ...]:
    """:func:`split_words` as a tuple, cached: the simulator and the judge ask for the same few names
    very often."""
    return tuple(split_words(name))


def text_words(text: str) -> list[str]:
    """Free text as lower-case runs of letters and digits, for word-by-word comparison."""
    return _LOWER_WORD.findall(text.lower())


def words_of(name: str) -> list[str]:
    """:func:`name_words` as a list."""
    return list(name_words(name))


def singular(word: str) -> str:
    """``categories`` -> ``category``, ``orders`` -> ``order``; ``-ss`` stays."""
    return word[:-3] + "y" if word.endswith("ies") else word[:-1] if word.endswith("s") and not word.endswith("ss") else word


# --- Read, write and side-effect verbs -------------------------------------------------------------

READ_VERBS = frozenset(
    {"get", "list", "search", "find", "fetch", "read", "show", "view", "check", "lookup", "look", "query", "retrieve",
     "count", "describe", "calculate", "estimate", "compare", "validate", "verify", "track", "browse", "filter",
     "download", "export", "preview", "quote", "recommend", "suggest", "summarize", "analyze", "convert", "translate",
     "inspect", "monitor",
     # shell commands that only read: a file-system API often names its tools after them
     "ls", "cat", "pwd", "grep", "wc", "du", "stat", "head", "tail", "tree", "diff"}
)
# (verbs, status word for free-text status fields, stems an enum status may start with, best first)
_ACTION_GROUPS: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("cancel", "void"), "cancelled", ("cancel", "void")),
    (("delete", "remove"), "deleted", ("delet", "remov", "archiv")),
    (("create", "add", "new", "make", "register", "open"), "active", ("creat", "activ", "open", "new", "confirm", "pending")),
    (("place", "order", "purchase", "buy", "checkout"), "placed", ("placed", "order", "confirm", "pending", "process")),
    (("book", "reserve"), "confirmed", ("confirm", "book", "reserv")),
    (("schedule",), "scheduled", ("schedul", "confirm", "plan")),
    (("submit", "apply", "request", "file", "report"), "submitted", ("submit", "pending", "review", "receiv", "open")),
    (("update", "edit", "modify", "change", "set", "rename", "reschedule", "move"), "updated", ("updat", "modif", "confirm", "activ")),
    (("approve", "accept"), "approved", ("approv", "accept")),
    (("reject", "decline", "deny"), "rejected", ("reject", "declin", "denied")),
    (("close",), "closed", ("close",)),
    (("resolve",), "resolved", ("resolv", "close")),
    (("complete", "finish"), "completed", ("complet", "done", "finish")),
    (("pay",), "paid", ("paid", "complet", "succe", "settl")),
    (("refund",), "refunded", ("refund",)),
    (("ship", "dispatch"), "shipped", ("ship", "dispatch")),
    (("send", "notify", "email", "message", "share"), "sent", ("sent", "deliver", "queue")),
    (("archive",), "archived", ("archiv",)),
    (("activate", "enable", "start", "resume", "unblock", "unlock", "restore", "reopen"), "active", ("activ", "enabl", "running", "start", "restor", "reopen", "open")),
    (("deactivate", "disable", "suspend", "stop", "pause", "block", "lock"), "inactive", ("inactiv", "disabl", "suspend", "stop", "paus", "block", "lock")),
    (("assign",), "assigned", ("assign",)),
    (("return",), "returned", ("return",)),
    (("confirm",), "confirmed", ("confirm",)),
    (("subscribe",), "subscribed", ("subscrib", "activ")),
    (("unsubscribe",), "unsubscribed", ("unsubscrib", "inactiv", "cancel")),
    (("transfer",), "completed", ("complet", "transfer", "succe")),
)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {verb: (word, stems) for verbs, word, stems in _ACTION_GROUPS for verb in verbs}
CREATING_VERBS = frozenset({"create", "add", "new", "make", "register", "open", "place", "order", "purchase", "buy", "checkout", "book", "reserve", "schedule", "submit", "apply", "request", "file", "report"})


@functools.lru_cache(maxsize=4_096)
def tool_verb(tool: str) -> str:
    """The name's first word when it is a verb (``trash_file`` -> ``trash``, not the noun "file"),
    else the first word that is a known verb (``orders.cancel`` -> ``cancel``)."""
    words = name_words(tool)
    if words and is_action_verb(words[0]):
        return words[0]
    return next((w for w in words if w in READ_VERBS or w in ACTIONS), words[0] if words else "")


@functools.lru_cache(maxsize=4_096)
def tool_context(tool: str) -> tuple[str, ...]:
    """The nouns a tool is about, singular: ``get_order_details`` -> ``("order", "detail")``."""
    verb = tool_verb(tool)
    return tuple(singular(w) for w in name_words(tool) if w != verb)


def changes_state(tool: str) -> bool:
    return tool_verb(tool) not in READ_VERBS


# Actions an object takes once: a later turn does not cancel or delete it again.
ONCE_ONLY_VERBS = frozenset({"cancel", "void", "delete", "remove", "archive", "close", "refund"})

# Statuses an object does not come back from by an ordinary change: a cancelled order is not
# cancelled again, re-addressed or returned (a closed ticket may be replied to and reopened).
_ENDED_STATUSES = frozenset({"cancelled", "canceled", "voided", "void", "deleted", "refunded", "returned"})


def is_status_field(name: str) -> bool:
    words = name_words(name)
    return bool(words) and words[-1] in ("status", "state")


def is_ended_status(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _ENDED_STATUSES


# Money given back, and what it is given back of: a refund never exceeds the total of the object it
# refunds, and cancelling or voiding an object refunds all of it.
_REFUND_WORDS = frozenset({"refund", "refunded", "refundable"})
_TOTAL_FIELDS = frozenset({"total", "total_amount", "amount_total", "grand_total", "total_price", "order_total", "total_due"})
WHOLE_REFUND_VERBS = frozenset({"cancel", "void"})


def is_refund_field(name: str) -> bool:
    """``refund_amount``, ``amount_refunded``, ``refund``: a field holding money given back."""
    return bool(set(name_words(name)) & _REFUND_WORDS)


def total_of(record: Mapping[str, Any]) -> Any:
    """The object's total (``total``, ``total_amount``, ...), or None."""
    return next((value for name, value in record.items() if normalize_name(str(name)) in _TOTAL_FIELDS), None)


# What an action leaves on the object it acts on, as boolean flags: (verbs, flags it makes true,
# flags it makes false). ``trash_file`` shows ``in_trash: true``; ``restore_file`` shows it false.
_FLAG_GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (("trash",), ("trash", "trashed"), ()),
    (("restore", "untrash", "recover"), (), ("trash", "trashed", "deleted", "archived")),
    (("archive",), ("archived",), ()),
    (("unarchive",), (), ("archived",)),
    (("delete", "remove", "purge", "destroy", "erase"), ("deleted", "removed"), ()),
    (("cancel", "void"), ("cancelled", "canceled", "voided"), ("active",)),
    (("lock",), ("locked",), ()),
    (("unlock",), (), ("locked",)),
    (("block",), ("blocked",), ()),
    (("unblock",), (), ("blocked",)),
    (("enable", "activate"), ("enabled", "active"), ("disabled", "inactive")),
    (("disable", "deactivate"), ("disabled", "inactive"), ("enabled", "active")),
    (("suspend",), ("suspended",), ("active",)),
    (("pause",), ("paused",), ("active", "running")),
    (("resume",), ("active", "running"), ("paused", "suspended")),
    (("publish",), ("published",), ("draft",)),
    (("unpublish",), ("draft",), ("published",)),
    (("pin",), ("pinned",), ()),
    (("unpin",), (), ("pinned",)),
    (("star",), ("starred",), ()),
    (("unstar",), (), ("starred",)),
    (("mute",), ("muted",), ()),
    (("unmute",), (), ("muted",)),
    (("subscribe",), ("subscribed",), ()),
    (("unsubscribe",), (), ("subscribed",)),
    (("approve",), ("approved",), ("rejected",)),
    (("reject", "decline"), ("rejected", "declined"), ("approved",)),
    (("resolve", "close"), ("resolved", "closed"), ("open",)),
    (("reopen",), ("open",), ("resolved", "closed")),
    (("complete", "finish"), ("completed", "complete", "done", "finished"), ()),
)
_FLAGS: dict[str, dict[str, bool]] = {
    verb: {**dict.fromkeys(falses, False), **dict.fromkeys(trues, True)}
    for verbs, trues, falses in _FLAG_GROUPS
    for verb in verbs
}
_FLAG_PREFIXES = frozenset({"is", "has", "in", "was", "been"})


def flag_after(tool: str, field: str) -> bool | None:
    """The value an action leaves in a boolean field of the object it acts on (``trash_file``:
    ``in_trash`` -> True; ``restore_file``: ``is_deleted`` -> False; ``mark_as_read``: ``read`` ->
    True), or None when the action says nothing about that field."""
    words = [word for word in name_words(field) if word not in _FLAG_PREFIXES]
    if len(words) != 1:
        return None
    tool_words = [word for word in name_words(tool) if word != "as"]
    if len(tool_words) > 1 and tool_words[0] == "mark":  # mark_read, mark_as_unread
        marked = tool_words[1]
        if marked == words[0]:
            return True
        if marked == "un" + words[0]:
            return False
    verb = next((word for word in tool_words if word in _FLAGS), None)
    return None if verb is None else _FLAGS[verb].get(words[0])


def state_stems(tool: str) -> tuple[str, ...]:
    """The stems a status left by a state-changing action starts with (``cancel_order`` ->
    ``cancel``, ``void``), or () when the tool's verb moves its object into no named state."""
    verb = tool_verb(tool)
    if verb not in STATE_VERBS:
        return ()
    return ACTIONS[verb][1] if verb in ACTIONS else (STATE_VERBS[verb][:-2],)



# --- What a write sets, what a list filters on ------------------------------------------------------

# Arguments named so that a write sets the field they name (``status``, ``tag``); ``new_<field>`` too.
SETTER_WORDS = frozenset(
    {"status", "state", "tag", "tags", "label", "labels", "priority", "stage", "assignee", "role", "access",
     "permission", "visibility", "category"}
)
# A destination argument says where the object is now: shown by a location field.
LOCATION_SETTERS = frozenset({"destination", "dest", "target"})
LOCATION_FIELDS = frozenset({"directory", "folder", "path", "location", "parent", "dir", "destination"})
# Verbs that take something away: the value they name is absent afterwards.
REMOVING_VERBS = frozenset({"remove", "delete", "untag", "detach", "unlink", "revoke", "unassign", "unsubscribe", "clear", "drop"})
# Verbs that set fields in place: every argument but the object's key is a new field value.
UPDATING_VERBS = frozenset(verb for verb, action in _VERBS.items() if action == "update")
# ``name_contains`` filters ``name`` by a part of it.
PART_FILTER_SUFFIXES = frozenset({"contains", "like", "match", "matches", "prefix", "includes"})
_LOWER_BOUNDS = frozenset({"min", "minimum", "from", "after", "since", "earliest"})
_UPPER_BOUNDS = frozenset({"max", "maximum", "to", "before", "until", "latest"})
_AMOUNT_MARKS = frozenset({"min", "minimum", "max", "maximum"})
_MOMENT_WORDS = frozenset({"date", "time", "day", "at", "on", "datetime"})
_NOT_FILTERS = frozenset({"limit", "offset", "page", "sort", "order", "size", "count", "cursor", "token", "query", "q", "fields", "format"})
# Fields whose value moves with time on its own (a last-seen stamp): never a contradiction.
CLOCK_WORDS = frozenset({"at", "time", "timestamp", "updated", "modified", "now", "elapsed", "expires", "remaining", "seen", "last"})

FilterKind = Literal["equal", "part", "min", "max"]


def setter_field(argument: str, tool: str) -> tuple[str, ...] | None:
    """The field words a write's argument sets (``new_name`` -> ``("name",)``, ``tag`` -> ``("tag",)``,
    ``destination`` -> ``("destination",)``: see :func:`shows_setter`), or None for keys and other arguments.
    Tools that update in place (``update_ticket(priority=...)``) set every non-key argument."""
    words = name_words(argument)
    if not words or words[-1] in ("id", "ids", "uuid"):
        return None
    if words[0] == "new" and len(words) > 1:
        return words[1:]
    if set(words) & (SETTER_WORDS | LOCATION_SETTERS) or tool_verb(tool) in UPDATING_VERBS:
        return words
    return None


def shows_setter(setter: tuple[str, ...], field_name: str) -> bool:
    """Whether an output field would show the value of an argument setting ``setter``: the same words
    (singular or plural), or a location field for a destination."""
    field_words = name_words(field_name)
    if set(setter) & LOCATION_SETTERS:
        return bool(set(field_words) & (LOCATION_FIELDS | LOCATION_SETTERS))
    return tuple(singular(w) for w in field_words) == tuple(singular(w) for w in setter)


def removes(tool: str) -> bool:
    """``remove_tag``, ``untag_file``: the call takes the named value away."""
    words = name_words(tool)
    return tool_verb(tool) in REMOVING_VERBS or bool(words and words[0] in REMOVING_VERBS)


def list_filter(argument: str) -> tuple[tuple[str, ...], FilterKind] | None:
    """What a read's argument says about the items it lists: ``status`` -> every item's status is it;
    ``name_contains`` -> every name contains it; ``min_size_bytes`` -> every size_bytes is at least it."""
    words = name_words(argument)
    if not words or words[-1] in _NOT_FILTERS or words[0] in _NOT_FILTERS:
        return None
    for marks, kind in ((_LOWER_BOUNDS, "min"), (_UPPER_BOUNDS, "max")):
        # ``from_date`` bounds a date, ``from_city`` is an equal city: time words bound moments only.
        for mark, stem in ((words[0], words[1:]), (words[-1], words[:-1])):
            if mark in marks and stem and (mark in _AMOUNT_MARKS or stem[-1] in _MOMENT_WORDS):
                return stem, kind
    if words[-1] in PART_FILTER_SUFFIXES and len(words) > 1:
        return words[:-1], "part"
    return words, "equal"


# --- Everyday English of requests ------------------------------------------------------------------
# What any reader or writer of English knows about how people ask for things and state values. The
# request writer and the back-translator both lean on it; neither reads the other's phrasing.

# Everyday ways to ask for each action of :func:`parse_tool_name`. A tool's own verb is always
# understood as well; actions whose verbs carry their own meaning (cancel, send, book) have no stand-ins.
ACTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "get": ("look up", "pull up", "get", "check"),
    "list": ("list", "show me", "find"),
    "create": ("create",),
    "update": ("update", "change"),
    "delete": ("delete", "remove"),
    "validate": ("verify", "validate"),
    "state": (),
    "other": (),
}

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_SPELLED_DATE = _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def spelled_date(iso: str) -> str:
    """``2026-05-03`` as people write it: ``May 3, 2026``."""
    year, month, day = (int(part) for part in _ISO_DAY.fullmatch(iso).groups())  # type: ignore[union-attr]
    return f"{_MONTHS[month - 1]} {day}, {year}"


def iso_of_spelled_date(text: str) -> str | None:
    """``May 3rd, 2026`` / ``Sep. 14 2025`` -> ISO, None when it is no date of the calendar."""
    match = re.fullmatch(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", text.strip())
    if not match:
        return None
    month = next((index for index, name in enumerate(_MONTHS, 1) if name.lower().startswith(match.group(1).lower()[:3])), None)
    if month is None:
        return None
    try:
        return date(int(match.group(3)), month, int(match.group(2))).isoformat()
    except ValueError:
        return None


@functools.lru_cache(maxsize=4_096)
def spelled_date_pattern(iso: str) -> re.Pattern[str]:
    """The spellings of one ISO date people write: full or short month, day with or without "rd"."""
    year, month, day = (int(part) for part in _ISO_DAY.fullmatch(iso).groups())  # type: ignore[union-attr]
    name = _MONTHS[month - 1]
    return re.compile(
        rf"(?<![\w-])(?:{name}|{name[:3]})\.?\s+0?{day}(?:st|nd|rd|th)?,?\s+{year}(?![\w-])", re.IGNORECASE
    )


_LEFT = r"(?<![\w@.+/:-])"
_RIGHT = r"(?![\w@+-]|[.:/]\w)"
# Values a reader recognizes by their shape, most specific first; everything else needs quotes.
VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(_LEFT + pattern + _RIGHT))
    for kind, pattern in (
        ("spelled_date", _SPELLED_DATE),
        ("datetime", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
        ("date", r"\d{4}-\d{2}-\d{2}"),
        ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
        ("url", r"https?://[^\s\"'<>]*[^\s\"'<>.,;:!?)]"),
        ("time", r"\d{1,2}:\d{2}(?::\d{2})?"),
        ("id", r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*"),
        ("number", r"-?\d+(?:\.\d+)?"),
    )
)


def value_shape(written: str) -> str | None:
    """The kind of a value that reads unquoted (``2026-05-03`` is a date), None if it needs quotes."""
    return next((kind for kind, pattern in VALUE_SHAPES if pattern.fullmatch(written)), None)


# The roles a value plays, the words of parameter names that hold each role, and the cue words with
# which people state a value in that role ("in Lisbon", "from May 3rd", "at least 500 bytes",
# "called ..."). A cue is a word or a two-word phrase just before the value.
VALUE_ROLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "minimum": (frozenset("min minimum least low lower floor over above from".split()), frozenset({"at least", "more than", "over", "above", "minimum", "min"})),
    "maximum": (frozenset("max maximum most limit high upper cap under below budget".split()), frozenset({"at most", "up to", "under", "below", "no more than", "less than", "within", "max", "the first", "the top", "only the", "just the", "the latest", "the newest", "among the"})),
    "start": (frozenset("start from since begin after earliest departure depart check_in checkin arrival open".split()), frozenset({"from", "starting", "since", "after", "beginning"})),
    "end": (frozenset("end until to before due deadline latest return check_out checkout close expiry expire".split()), frozenset({"until", "through", "by", "before", "till", "ending"})),
    "place": (frozenset("city location place country region area address town state destination venue airport station".split()), frozenset({"in", "at", "near", "around", "to"})),
    "folder": (frozenset("directory folder path dir parent destination target dest".split()), frozenset({"in", "into", "to", "under", "inside"})),
    "name": (frozenset("name label filename nickname alias".split()), frozenset({"called", "named"})),
    "title": (frozenset("title headline".split()), frozenset({"titled", "headed"})),
    "given": (frozenset({"given"}), frozenset({"named", "first named"})),
    "search": (frozenset("query keyword keywords search term terms q text pattern contains".split()), frozenset({"matching", "about", "mentioning", "containing"})),
    "message": (frozenset("message body text content note notes comment description details summary".split()), frozenset({"saying", "says", "reads", "reading", "note"})),
    "reason": (frozenset("reason cause".split()), frozenset({"because", "since", "reason"})),
    "money": (frozenset("amount price cost total budget fee payment balance salary rate fare".split()), frozenset({"$"})),
    "recipient": (frozenset("email recipient to address contact".split()), frozenset({"to", "at", "reach", "email"})),
    "person": (frozenset("owner assignee user member customer guest person attendee participant".split()), frozenset({"for", "assign to", "with"})),
    "time": (frozenset("time hour slot".split()), frozenset({"at", "around"})),
    "replacement": (frozenset({"new"}), frozenset({"to", "into"})),
    "surname": (frozenset({"surname"}), frozenset({"surname", "family name", "last name"})),
    "copy": (frozenset("cc bcc copy watchers".split()), frozenset({"cc'ing", "cc to", "copying", "copy in"})),
}


CURRENCY_WORDS = frozenset("dollar dollars usd euro euros eur pound pounds gbp".split())


def value_roles(words: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The roles a parameter's words give its value (``min_price`` -> minimum, money); a key
    (``customer_id``) has none: it names a record, not what the value is to a person."""
    if not words or words[-1] in ("id", "ids", "uuid", "key"):
        return ()
    words = [singularize(word) for word in words]  # "attendee_emails" holds emails
    if set(words) & {"last", "family", "surname"}:
        return ("surname",)  # "named Ada, surname Lovelace": the surname is no name of its own
    if set(words) & {"first", "given"} and "name" in words:
        return ("given",)
    joined = "_".join(words)
    found = []
    for role, (holders, _) in VALUE_ROLES.items():
        if any(word in holders for word in words) or any("_" in holder and holder in joined for holder in holders):
            found.append(role)
    return tuple(found)


def cue_roles(preceding: list[str]) -> tuple[str, ...]:
    """The roles the words right before a value announce (lower case, in text order; a currency sign
    as the word ``$``): "at least", "in", "from", "$"."""
    words = list(preceding)
    cues: set[str] = set()
    if words and words[-1] == "$":
        cues.add("$")
        words = words[:-1]
    cues.update(" ".join(words[-size:]) for size in (1, 2, 3) if len(words) >= size)
    return tuple(role for role, (_, phrases) in VALUE_ROLES.items() if cues & phrases)


# Words that describe a schema, not a person's wish: a request using them talks to the machine.
# "field", "key" and "property" are left out: people use them about fields, keys and houses.
SCHEMA_WORDS = frozenset(
    "parameter parameters param params argument arguments arg args schema enum enums boolean bool "
    "string integer int float null nullable json payload".split()
)


# --- Counts, choices and yes/no settings as people say them -----------------------------------------

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_COUNT_WORD = "|".join(NUMBER_WORDS[1:])
# "the first five", "the top three", "the latest one", "the five newest": how many of a list to show.
SPELLED_COUNT = re.compile(
    rf"\b(?:first|top|latest|newest)\s+(?P<before>{_COUNT_WORD})\b|\b(?P<after>{_COUNT_WORD})\s+(?:newest|latest|most\s+recent)\b",
    re.IGNORECASE,
)


def spelled_counts(text: str) -> list[tuple[int, int, int]]:
    """(start, end, number) of each count spelled in words in ``text`` ("only the five newest" -> 5)."""
    found = []
    for match in SPELLED_COUNT.finditer(text):
        group = "before" if match.group("before") else "after"
        found.append((match.start(group), match.end(group), NUMBER_WORDS.index(match.group(group).lower())))
    return found


def spoken_choice(value: str) -> str:
    """A choice as people say it: ``in_transit`` -> ``in transit``, ``closed-won`` -> ``closed won``."""
    return re.sub(r"[_]+", " ", value).strip()


# How people state a yes/no setting, by what its name says (``available_only``, ``include_archived``,
# ``is_urgent``, ``has_attachments``, ``notify_customer``, ``internal``): never "with X turned on".
_ASKING_VERBS = frozenset({"notify", "send", "email", "alert", "remind", "confirm", "refund", "charge", "print", "share"})


def boolean_phrases(words: Sequence[str]) -> dict[bool, tuple[str, ...]]:
    """The phrases that say a yes/no setting is on (True) or off (False), first the most usual."""
    words = [word.lower() for word in words]
    if len(words) > 1 and words[-1] == "only":
        rest = " ".join(words[:-1])
        return {True: (f"only {rest} ones",), False: (f"{rest} or not",)}
    if len(words) > 1 and words[0] == "only":
        rest = " ".join(words[1:])
        return {True: (f"only {rest} ones",), False: (f"{rest} or not",)}
    if len(words) > 1 and words[0] in ("include", "including", "with", "show"):
        rest = " ".join(words[1:]) + ("" if _is_plural(words[-1]) else " ones")  # "including shared ones"
        return {True: (f"including {rest}",), False: (f"without {rest}", f"leaving out {rest}")}
    if len(words) > 1 and words[0] in ("exclude", "without", "hide", "skip"):
        rest = " ".join(words[1:]) + ("" if _is_plural(words[-1]) else " ones")
        return {True: (f"without {rest}", f"leaving out {rest}"), False: (f"including {rest}",)}
    if len(words) > 1 and words[0] == "has":
        rest = " ".join(words[1:])
        return {True: (f"with {rest}",), False: (f"without {rest}",)}
    if len(words) > 1 and words[0] == "is":
        rest = " ".join(words[1:])
        return {True: (f"as {rest}",), False: (f"not {rest}",)}
    if words and words[0] in _ASKING_VERBS:
        verb = words[0]
        them = f"the {' '.join(words[1:])}" if len(words) > 1 else "me"
        doing = (verb[:-1] if verb.endswith("e") else verb) + "ing"
        return {True: (f"and {verb} {them}",), False: (f"without {doing} {them}",)}
    joined = " ".join(words)
    if words and _is_plural(words[-1]):
        return {True: (f"with {joined}",), False: (f"without {joined}",)}
    # "marked internal", not "as internal": after a quoted value "as" reads as naming a field
    return {True: (f"marked {joined}", f"and make it {joined}"), False: (f"not {joined}",)}


@functools.lru_cache(maxsize=4_096)
def _boolean_patterns(words: tuple[str, ...]) -> tuple[tuple[bool, re.Pattern[str]], ...]:
    phrases = boolean_phrases(words)
    # read without the joining "and": "please notify the customer" says it as well
    ordered = sorted(
        ((value, phrase.removeprefix("and ")) for value, group in phrases.items() for phrase in group), key=lambda pair: -len(pair[1])
    )
    return tuple((value, re.compile(r"(?<![\w-])" + re.escape(phrase).replace(r"\ ", r"\s+") + r"(?![\w-])", re.IGNORECASE)) for value, phrase in ordered)


def read_boolean(words: Sequence[str], text: str) -> bool | None:
    """The setting a text states in one of :func:`boolean_phrases`' phrases, else None; the longest
    phrase wins, so "not internal" is not read as "internal"."""
    for value, pattern in _boolean_patterns(tuple(word.lower() for word in words)):
        if pattern.search(text):
            return value
    return None


# --- Which fields name an object -----------------------------------------------------------------

_KEY_ENDINGS = frozenset({"number", "code", "ref", "reference", "key"})
_NOT_KEYS = frozenset({"phone", "zip", "postal", "postcode", "country", "currency", "language", "promo", "coupon", "discount", "color", "colour", "status", "error", "http", "response", "area"})


@functools.lru_cache(maxsize=16_384)
def is_entity_key(name: str) -> bool:
    """``order_id``, ``id``, ``booking_reference``: a field that names one object."""
    words = name_words(name)
    if not words or set(words) & _NOT_KEYS:
        return False
    return words[-1] in ("id", "uuid") or (words[-1] in _KEY_ENDINGS and len(words) > 1)


def key_noun(key: str) -> str:
    """``order_id`` -> ``order``, ``payment_method_id`` -> ``payment_method``; ``id`` -> ``""``."""
    return "_".join(name_words(key)[:-1])


def subject_key(fields: Sequence[str], context: Sequence[str]) -> str | None:
    """The key about the tool's own noun (``order_id`` for ``cancel_order``), or None.

    There is no fallback to another key: ``create_order(customer_id=...)`` is not about the customer.
    """
    return next((f for f in fields if is_entity_key(f) and singular(name_words(f)[0]) in context), None)
