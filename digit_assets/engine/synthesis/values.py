"""Realistic values for JSON Schemas: the schema gives the shape, Faker the content, a pool the reuse.

Used by the offline planner (literal arguments) and the offline simulator (tool outputs). Field names
pick the content (``*email`` gets an address, ``order_id`` an order-like id), and a pool of values
seen earlier in the session lets outputs reuse them instead of inventing new ones. Every draw comes
from the caller's seeded ``random.Random``, so results are reproducible per call.

Why not a schema-to-fake-data library such as ``jsf``: it draws from the global ``random`` state
(not per call, not thread-safe), cannot bind a field to a value from the session history, and costs
about 0.4 ms an object here, which alone would exceed the generation budget.
"""

from __future__ import annotations

import importlib
import random
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import rstr
from faker import Faker

from digit_assets.engine.lexicon import singular, words_of

PERSON_HINTS = ("customer", "traveller", "traveler", "passenger", "attendee", "assignee", "owner", "author", "contact", "guest", "user", "member", "patient", "employee", "recipient", "sender", "agent")
MONEY_HINTS = ("amount", "price", "total", "balance", "cost", "fee", "refund", "subtotal", "budget", "salary", "fare")
COUNT_HINTS = ("quantity", "qty", "count", "number_of", "nights", "guests", "seats", "copies", "limit", "page_size")
TEXT_HINTS = ("description", "body", "message", "note", "notes", "comment", "content", "reason", "details", "text", "resolution", "snippet")
TITLE_HINTS = ("title", "subject", "summary", "headline", "topic")
FIRST_NAME_WORDS = ("first", "given", "firstname", "forename")
LAST_NAME_WORDS = ("last", "surname", "family", "lastname")
COMPANY_HINTS = ("company", "organization", "organisation", "vendor", "publisher", "manufacturer", "employer", "brand", "supplier", "account", "business", "firm")
PRODUCT_HINTS = ("product", "item", "sku", "article", "merchandise")
LODGING_HINTS = ("hotel", "inn", "property", "lodging", "accommodation")
PLACE_HINTS = ("branch", "store", "shop", "office", "location", "venue", "library", "restaurant", "clinic")
MOMENT_ENDS = ("start", "end", "begin", "starts", "ends", "begins", "from", "until", "to")
# Faker has no products: a product name is a quality, an optional material or colour, and a thing.
_PRODUCT_QUALITIES = ("Wireless", "Compact", "Ergonomic", "Classic", "Portable", "Premium", "Organic", "Waterproof", "Foldable", "Insulated")
_PRODUCT_THINGS = (
    "Headphones", "Water Bottle", "Backpack", "Desk Lamp", "Coffee Grinder", "Running Shoes", "Notebook", "Phone Case",
    "Blender", "Yoga Mat", "Travel Mug", "Keyboard", "Office Chair", "Rain Jacket", "Bluetooth Speaker", "Cutting Board",
)
_LODGING_KINDS = ("Hotel", "Inn", "Suites", "Lodge", "Resort")
# Nor folders, book topics, support problems or meetings: the few words these are made of.
_FOLDERS = ("documents", "reports", "photos", "projects", "archive", "invoices", "drafts", "shared", "music", "contracts", "2024", "2025", "q3", "taxes")
_TOPICS = ("Gardening", "Climate", "Leadership", "Jazz", "Photography", "Cooking", "Astronomy", "Economics", "Chess", "Architecture", "Poetry", "Marketing", "Sleep", "Rivers")
_TITLE_FORMS = ("The Art of {topic}", "{topic} for Beginners", "A Short History of {topic}", "Notes on {topic}", "The {last} Papers", "Letters from {city}", "{topic} and the City")
_PROBLEMS = ("Problem with", "Question about", "Cannot access", "Refund for", "Error on", "Change to", "Missing")
_PROBLEM_OBJECTS = ("my order", "my account", "the invoice", "billing", "delivery", "my subscription", "the mobile app", "password reset", "my booking")
# Free text as people write it in notes, messages and descriptions: short, plain, about something.
NOTE_FORMS = (
    "Please call me back after {hour}.",
    "The {thing} arrived damaged.",
    "I was charged twice for the same {thing}.",
    "Can we move this to {weekday}?",
    "Thanks for the quick help yesterday.",
    "The app logs me out every few minutes.",
    "{first} will join from the {city} office.",
    "Still waiting on the replacement {thing}.",
    "Let's go over the numbers before {weekday}.",
    "Please leave the parcel with my neighbour.",
    "Following up on my message from {weekday}.",
    "The invoice shows my old address.",
    "I no longer need it, sorry for the trouble.",
    "Bring the signed contract to the meeting.",
    "The error shows up right after I log in.",
    "Customer confirmed the new delivery date.",
    "Agenda: budget, hiring and the {city} launch.",
    "Resetting the password fixed it.",
    "Wrong size, I need a larger one.",
    "Sent the quote to {first} for approval.",
    "The call went well, they want a second demo.",
    "Please add {first} to the thread.",
    "It works on my laptop but not on my phone.",
    "The {thing} stopped working after two days.",
    "Running about ten minutes late.",
    "Please use the side entrance on {weekday}.",
    "Checked with {first}, the order can ship {weekday}.",
    "Lunch is on us, see you at {hour}.",
)
_NOT_KEYWORDS = frozenset(
    "about above after again against among another because before behind being below between both could during "
    "either every everything from further himself herself itself might never other others ourselves perhaps rather "
    "really should since something sometimes their theirs themselves there these thing think those though three "
    "through under until which while whose would yourself seven eight eleven twelve".split()
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
# What state a kind of object is in, in the words its owners use; the first fits a fresh one.
_STATUSES = (
    (("order", "purchase"), ("pending", "shipped", "delivered")),
    (("ticket", "case", "issue", "request", "incident"), ("open", "pending", "resolved")),
    (("booking", "reservation", "appointment", "event", "meeting"), ("confirmed", "pending")),
    (("payment", "invoice", "bill", "fee"), ("paid", "pending", "due")),
    (("account", "user", "member", "customer", "subscription", "membership"), ("active", "suspended")),
    (("task", "project", "job"), ("open", "in progress", "done")),
    (("shipment", "delivery", "parcel", "package"), ("in transit", "delivered")),
    (("hold",), ("waiting", "ready")),
    (("loan", "checkout"), ("active", "overdue", "returned")),
    (("opportunity", "deal", "lead"), ("open", "won", "lost")),
    (("file", "document", "draft", "post", "article"), ("draft", "published")),
)


def status_choices(noun: str) -> tuple[str, ...]:
    """The states a kind of object is usually in (``order`` -> pending, shipped, delivered), or ()."""
    return next((statuses for nouns, statuses in _STATUSES if noun in nouns), ())


_DEALS = ("renewal", "expansion", "pilot", "enterprise upgrade", "new licences", "annual contract")
_MEETINGS = ("Team sync", "Project kickoff", "Quarterly review", "Dentist appointment", "1:1 with {first}", "Lunch with {first}", "Client call: {company}", "Budget planning", "Interview: {first} {last}")
# What a generic field's description says it is named for: "File name with extension".
_DESCRIBED_KINDS = ("file", "directory", "folder", "product", "company", "hotel", "customer", "person", "user", "city", "event", "book")


_POOL_SIZE = 1_000
_POOLS: dict[str, tuple[Any, ...]] = {}
_POOLS_LOCK = threading.Lock()

# rstr draws an unbounded repeat (``+``, ``*``) up to 100 times: 100-letter identifiers read as noise
# and cost ~10 ms each. A dozen is as long as a realistic name.
importlib.import_module("rstr.xeger").STAR_PLUS_LIMIT = 12


def faker_pool(provider: str) -> tuple[Any, ...]:
    """A fixed sample of one Faker provider, drawn once per process with a fixed seed.

    Faker's person/address providers cost 60-100 us a value; drawing from a pool of their output
    costs about 1 us, stays reproducible, and keeps the realism.
    """
    pool = _POOLS.get(provider)
    if pool is None:
        with _POOLS_LOCK:
            pool = _POOLS.get(provider)
            if pool is None:
                faker = Faker("en_US")
                faker.seed_instance(provider)
                method = getattr(faker, provider)
                pool = _POOLS[provider] = tuple(method() for _ in range(_POOL_SIZE))
    return pool


def id_prefix(name: str) -> str:
    """``order_id`` -> ``ORD``; a bare ``id`` -> ``ID``."""
    words = [w for w in words_of(name) if w not in ("id", "uuid", "ref", "number", "code", "key")]
    return (words[-1][:3] if words else "id").upper()


def _non_null(options: Sequence[Any]) -> list[Any]:
    return [o for o in options if o != "null" and not (isinstance(o, dict) and o.get("type") == "null")]


class ValueFactory:
    def __init__(self, rng: random.Random, today: date, pool: Mapping[str, Sequence[Any]] | None = None):
        self.rng = rng
        self.today = today
        self.pool = pool or {}

    def fake(self, provider: str) -> Any:
        return self.rng.choice(faker_pool(provider))

    def value(self, schema: Mapping[str, Any], name: str = "") -> Any:
        """A value valid for ``schema``; ``name`` is the field or parameter it is for (qualify a
        generic one with its object: ``product_name``, ``hotel_name``, ``customer_name``)."""
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(list(schema["enum"]))
        for combinator in ("oneOf", "anyOf"):
            if schema.get(combinator):
                options = _non_null(schema[combinator]) or schema[combinator]
                return self.value(options[0], name)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged = {**merged, **part, "properties": {**merged.get("properties", {}), **part.get("properties", {})}}
            return self.value(merged, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = (_non_null(kind) or ["null"])[0]
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        reused = self._from_pool(name, kind)
        if reused is not None:
            return reused
        return getattr(self, f"_{kind}")(schema, name)

    def _from_pool(self, name: str, kind: str) -> Any:
        candidates = [v for v in self.pool.get(name, ()) if _json_type(v) == kind or (kind == "number" and _json_type(v) == "integer")]
        return self.rng.choice(candidates) if candidates else None

    def _null(self, schema: Mapping[str, Any], name: str) -> None:
        return None

    def _boolean(self, schema: Mapping[str, Any], name: str) -> bool:
        return self.rng.random() < 0.5

    def _integer(self, schema: Mapping[str, Any], name: str) -> int:
        words = words_of(name)
        low, high = (1, 5) if any(h in "_".join(words) for h in COUNT_HINTS) else (1, 99_999) if "id" in words else (0, 500)
        if "year" in words:
            low, high = self.today.year - 30, self.today.year
        low = int(max(low, _bound(schema, "minimum", "exclusiveMinimum", 1, low)))
        high = int(min(high, _bound(schema, "maximum", "exclusiveMaximum", -1, high))) if any(k in schema for k in ("maximum", "exclusiveMaximum")) else max(high, low)
        if high < low:
            high = low
        value = self.rng.randint(low, high)
        step = schema.get("multipleOf")
        return value - value % int(step) if step and value % int(step) and value - value % int(step) >= low else value

    def _number(self, schema: Mapping[str, Any], name: str) -> float:
        joined = "_".join(words_of(name))
        low, high = (5.0, 500.0) if any(h in joined for h in MONEY_HINTS) else (0.0, 100.0)
        if "lat" in words_of(name) or "latitude" in joined:
            low, high = -90.0, 90.0
        if "lon" in words_of(name) or "lng" in words_of(name) or "longitude" in joined:
            low, high = -180.0, 180.0
        low = max(low, float(_bound(schema, "minimum", "exclusiveMinimum", 0.01, low)))
        high = min(high, float(_bound(schema, "maximum", "exclusiveMaximum", -0.01, high))) if any(k in schema for k in ("maximum", "exclusiveMaximum")) else max(high, low)
        return round(self.rng.uniform(low, max(low, high)), 2)

    def _array(self, schema: Mapping[str, Any], name: str) -> list[Any]:
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        items = schema.get("items") or {"type": "string"}
        item_name = singular(name)
        target = self.rng.randint(low, max(low, high))
        values: list[Any] = []
        for _ in range(target * 3):
            if len(values) == target:
                break
            candidate = self.value(items, item_name)
            if schema.get("uniqueItems") and candidate in values:
                continue
            values.append(candidate)
        return values

    def _object(self, schema: Mapping[str, Any], name: str) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return {
            field: self.value(sub, field)
            for field, sub in properties.items()
            if field in required or self.rng.random() < 0.7
        }

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        text = self._string_content(schema, name)
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, text):
            # The meaning survives a pattern that only constrains the spelling: "Joel Anderson" is "joel"
            # for ^[a-z]+$, "Quarterly Report.pdf" is "quarterly_report.pdf" for ^[A-Za-z0-9_.-]+$.
            text = next((c for c in _spellings(text) if re.search(pattern, c)), None) or rstr.Rstr(self.rng).xeger(pattern)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if high is not None and len(text) > int(high):
            text = text[: int(high)].rstrip() or text[: int(high)]
        if len(text) < low:
            text = text + "x" * (low - len(text))
        return text

    def _string_content(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return self.date_near(name).isoformat()
        if fmt == "date-time":
            moment = datetime.combine(self.date_near(name), time(self.rng.randint(7, 20), self.rng.choice((0, 15, 30, 45))))
            return moment.isoformat() + "Z"
        if fmt == "time":
            return f"{self.rng.randint(7, 20):02d}:{self.rng.choice((0, 15, 30, 45)):02d}"
        if fmt == "email":
            return self.fake("email")
        if fmt in ("uri", "url"):
            return self.fake("url")
        if fmt == "uuid":
            return self.fake("uuid4")
        words = words_of(name)
        last = words[-1] if words else ""
        if last in ("name", "title", "destination", "path", "location") and isinstance(schema.get("description"), str):
            described = set(words_of(schema["description"]))
            kind = next((k for k in _DESCRIBED_KINDS if k in described), None)
            if kind == "directory" or (kind == "folder" and last != "name") or str(schema.get("pattern", "")).startswith("^/"):
                words = [*words[:-1], "path"] if last != "name" else ["directory", "name"]
            elif kind:
                words = [kind, last]
            last = words[-1]
        joined = "_".join(words)
        if words == ["directory", "name"] or words == ["folder", "name"]:
            return self.rng.choice(_FOLDERS)
        if "flight" in words and last in ("number", "no", "code"):
            return f"{self.rng.choice(('UA', 'DL', 'AA', 'BA', 'LH', 'AF', 'KL', 'IB'))}{self.rng.randint(100, 2999)}"
        if last in ("id", "uuid") or (last in ("number", "code", "ref", "reference") and len(words) > 1):
            return f"{id_prefix(name)}-{self.rng.randint(10_000, 99_999)}"
        if "email" in words:
            return self.fake("email")
        if "phone" in words:
            return self.fake("phone_number")
        if last == "date" or joined.endswith("_on") or last in ("day", "since"):
            return self.date_near(name).isoformat()
        if last in MOMENT_ENDS or (last == "time" and len(words) > 1 and words[-2] in MOMENT_ENDS):
            # a slot's start or end: a moment, ordered by the simulator's repairs
            moment = datetime.combine(self.date_near("scheduled"), time(self.rng.randint(8, 18), self.rng.choice((0, 30))))
            return moment.isoformat(timespec="minutes") if last != "time" else moment.strftime("%H:%M")
        if last == "until":
            return self.date_near(name).isoformat()
        if last in ("time", "at"):
            return f"{self.rng.randint(7, 20):02d}:{self.rng.choice((0, 15, 30, 45)):02d}"
        if "shelf" in words:
            return f"{self.rng.choice('ABCDEFGH')}{self.rng.randint(1, 12)}-{self.rng.randint(1, 6)}"
        if "city" in words or last in ("origin", "destination", "location"):
            return self.fake("city")
        if "country" in words:
            return self.fake("country")
        if "address" in words or "street" in words:
            return self.fake("street_address")
        if last in ("zip", "postcode", "postal"):
            return self.fake("postcode")
        if "name" in words or len(words) == 1:
            person = self._person_name(words)
            if person is not None:
                return person
        if any(h in words for h in COMPANY_HINTS) and (last == "name" or len(words) == 1):
            return self.fake("company")
        if any(h in words for h in PRODUCT_HINTS) and last in ("name", "title"):
            return self.product_name()
        if ("opportunity" in words or "deal" in words) and last == "name":
            return f"{self.fake('last_name')} {self.rng.choice(_DEALS)}"
        if any(h in words for h in LODGING_HINTS) and last == "name":
            return f"{self.fake('last_name')} {self.rng.choice(_LODGING_KINDS)}"
        if any(h in words for h in PLACE_HINTS) and last == "name":
            return f"{self.fake('city')} {words[0].title()}"
        if any(h in words for h in ("job", "position", "occupation")) or joined == "job_title":
            return self.fake("job")
        if "currency" in words:
            return self.fake("currency_code")
        if "url" in words or "link" in words or "website" in words:
            return self.fake("url")
        if "path" in words or "directory" in words or "folder" in words:
            folders = self.rng.sample(_FOLDERS, self.rng.randint(1, 2))
            return "/" + "/".join(["home", self.fake("first_name").lower(), *folders][: self.rng.randint(2, 4)])
        if last in ("filename", "file") or joined.endswith("file_name"):
            return self.fake("file_name")
        if "name" in words and (len(words) == 1 or any(h in words for h in PERSON_HINTS)) or last in PERSON_HINTS:
            return self.person_name()
        if last in ("username", "login", "handle") or joined == "user_name":
            return self.fake("user_name")
        if last == "name":  # a named thing of no known kind: a short title-cased phrase, never a sentence
            return " ".join(w.title() for w in (self.fake("word"), self.fake("word")))
        if words == ["subject"]:  # alone: a subject heading, or a meeting's subject line
            described = str(schema.get("description", "")).lower()
            return self.titled(["meeting"]) if "line" in described else self.rng.choice(_TOPICS)
        if any(h in words for h in TITLE_HINTS):
            return self.titled(words)
        if any(h in words for h in TEXT_HINTS):
            return self.note()
        if last in ("query", "keyword", "keywords", "search", "q", "term"):
            return self.keyword()
        if last in ("tag", "tags", "label", "category", "type", "kind"):
            return self.fake("word")
        if last == "status":  # "order_status": a state orders are in
            return self.rng.choice(next((status_choices(w) for w in words if status_choices(w)), ("active", "inactive")))
        if last in ("language", "locale"):
            return self.fake("language_code")
        return self.fake("word")

    def _person_name(self, words: list[str]) -> str | None:
        """``first_name`` -> a first name, ``surname`` -> a last name, ``full_name`` -> both."""
        if any(w in words for w in FIRST_NAME_WORDS) and ("name" in words or words[-1] in ("firstname", "forename")):
            return self.fake("first_name")
        if any(w in words for w in LAST_NAME_WORDS) and ("name" in words or words[-1] in ("surname", "lastname")):
            return self.fake("last_name")
        if "name" in words and any(w in words for w in ("full", "display", "contact", "legal", "person")):
            return self.person_name()
        return None

    def titled(self, words: list[str]) -> str:
        """A title or subject as the object would have it: a book's, a ticket's, a meeting's."""
        first, last, company = self.fake("first_name"), self.fake("last_name"), self.fake("company")
        if set(words) & {*PERSON_HINTS, "person", "staff", "lead"} or "job" in words:  # a person's title is their job
            return self.fake("job")
        if set(words) & {"event", "meeting", "appointment", "slot"}:
            return self.rng.choice(_MEETINGS).format(first=first, last=last, company=company)
        if set(words) & {"subject", "ticket", "issue", "case", "message", "email"}:
            return f"{self.rng.choice(_PROBLEMS)} {self.rng.choice(_PROBLEM_OBJECTS)}"
        if set(words) & {"product", "item"}:
            return self.product_name()
        return self.rng.choice(_TITLE_FORMS).format(topic=self.rng.choice(_TOPICS), last=last, city=self.fake("city"))

    def keyword(self) -> str:
        """A word someone searches for: a content word, not "the" or "three"."""
        word = self.fake("word")
        for _ in range(8):
            if len(word) >= 5 and word not in _NOT_KEYWORDS:
                break
            word = self.fake("word")
        return word

    def note(self) -> str:
        """A short plausible sentence of a note, message or description."""
        form = self.rng.choice(NOTE_FORMS)
        return form.format(
            hour=f"{self.rng.randint(1, 5)}pm",
            thing=self.rng.choice(_PRODUCT_THINGS).lower(),
            weekday=self.rng.choice(_WEEKDAYS),
            first=self.fake("first_name"),
            city=self.fake("city"),
        )

    def person_name(self) -> str:
        """First and last name: Faker's ``name`` adds titles and degrees ("Ralph Harris MD") people do not type."""
        return f"{self.fake('first_name')} {self.fake('last_name')}"

    def product_name(self) -> str:
        quality = self.rng.choice(_PRODUCT_QUALITIES)
        colour = self.fake("color_name") + " " if self.rng.random() < 0.3 else ""
        return f"{quality} {colour}{self.rng.choice(_PRODUCT_THINGS)}"

    def date_near(self, name: str) -> date:
        """Dates cluster around today: past for things that happened, future for things planned."""
        words = set(words_of(name))
        past = {"created", "placed", "ordered", "purchased", "joined", "modified", "updated", "since", "birth", "issued", "paid", "last", "deleted", "sent", "received", "opened"}
        future = {"due", "departure", "depart", "arrival", "check", "checkin", "checkout", "start", "end", "until", "deadline", "expiry", "expires", "scheduled", "return", "event", "appointment", "travel"}
        if words & past:
            return self.today - timedelta(days=self.rng.randint(1, 90))
        if words & future:
            return self.today + timedelta(days=self.rng.randint(1, 90))
        return self.today + timedelta(days=self.rng.randint(-30, 30))


def _spellings(text: str) -> list[str]:
    """Other spellings of the same value, for a pattern that constrains only the spelling."""
    lower = text.lower()
    words = re.findall(r"[A-Za-z0-9]+", text)
    return [
        lower,
        "_".join(words), "_".join(words).lower(), "-".join(words).lower(), words[0].lower() if words else text,
        "".join(words), "".join(words).lower(),
        re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_"),
    ]


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, nudge: float, default: float) -> float:
    if exclusive in schema and isinstance(schema[exclusive], (int, float)) and not isinstance(schema[exclusive], bool):
        return schema[exclusive] + nudge
    if inclusive in schema:
        return schema[inclusive]
    return default


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
