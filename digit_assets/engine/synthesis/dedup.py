"""Near-duplicate removal, the last stage of the funnel: template-made and LLM-made data both repeat
themselves, and a trainer should not see the same conversation twice under two ids.

Each conversation becomes a set of shingles: word n-grams of its user messages and n-grams of its
call sequence (tool names in call order). MinHash signatures estimate the Jaccard similarity of two
sets and LSH finds the candidate pairs without comparing every pair (``datasketch``). Conversations
are taken in id order within a variant; one whose estimated similarity to an already kept
conversation reaches the threshold is a duplicate of that one (the most similar), and is not kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datasketch import LeanMinHash, MinHash, MinHashLSH

from digit_assets.engine.lexicon import text_words
from digit_assets.engine.records import ConversationRecord

NEAR_DUPLICATE_STAGE = "near_duplicate"


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = 0.8  # estimated Jaccard similarity from which a conversation duplicates a kept one
    num_perm: int = 128  # MinHash permutations: more estimate the similarity more closely, cost more
    shingle_words: int = 3  # words per user-text shingle
    shingle_calls: int = 2  # calls per call-sequence shingle
    seed: int = 1  # seed of the MinHash permutations

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {self.threshold}")
        if self.num_perm < 16 or self.shingle_words < 1 or self.shingle_calls < 1:
            raise ValueError(
                f"dedup num_perm must be >= 16 and shingle sizes >= 1, got {self.num_perm}, "
                f"{self.shingle_words}, {self.shingle_calls}"
            )


@dataclass(frozen=True)
class NearDuplicate:
    conversation_id: str
    variant: str
    duplicate_of: str
    similarity: float  # estimated Jaccard similarity of the two shingle sets


def _ngrams(items: list[str], size: int, prefix: str) -> Iterator[str]:
    if len(items) < size:
        if items:
            yield prefix + " ".join(items)
        return
    for start in range(len(items) - size + 1):
        yield prefix + " ".join(items[start : start + size])


def shingles(record: ConversationRecord, settings: DedupSettings) -> set[bytes]:
    """User-text word n-grams (``u:``) and call-sequence n-grams (``c:``) of one conversation."""
    found: set[str] = set()
    for message in record.messages:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            found.update(_ngrams(text_words(message["content"]), settings.shingle_words, "u:"))
    calls = [call.get("function", {}).get("name", "") for call in record.tool_calls()]
    found.update(_ngrams(calls, settings.shingle_calls, "c:"))
    return {item.encode("utf-8") for item in found}


def find_near_duplicates(
    records: Iterable[ConversationRecord], settings: DedupSettings = DedupSettings()
) -> tuple[list[NearDuplicate], dict[str, int]]:
    """The near-duplicates of each variant (in id order) and how many conversations each variant had."""
    by_variant: dict[str, list[ConversationRecord]] = {}
    for record in records:
        by_variant.setdefault(record.variant, []).append(record)
    duplicates: list[NearDuplicate] = []
    for variant, rows in sorted(by_variant.items()):
        duplicates += _variant_duplicates(variant, sorted(rows, key=lambda r: r.conversation_id), settings)
    return duplicates, {variant: len(rows) for variant, rows in sorted(by_variant.items())}


def _variant_duplicates(variant: str, records: list[ConversationRecord], settings: DedupSettings) -> list[NearDuplicate]:
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm)
    kept: dict[str, LeanMinHash] = {}
    found: list[NearDuplicate] = []
    for record in records:
        signature = MinHash(num_perm=settings.num_perm, seed=settings.seed)
        signature.update_batch(list(shingles(record, settings)))
        lean = LeanMinHash(signature)
        best_id, best = None, -1.0
        for candidate in lsh.query(lean):
            similarity = lean.jaccard(kept[candidate])
            if similarity > best or (similarity == best and candidate < best_id):
                best_id, best = candidate, similarity
        if best_id is not None and best >= settings.threshold:
            found.append(NearDuplicate(record.conversation_id, variant, best_id, round(best, 4)))
            continue
        lsh.insert(record.conversation_id, lean)
        kept[record.conversation_id] = lean
    return found
