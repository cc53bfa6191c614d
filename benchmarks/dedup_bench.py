"""Wall time and peak memory of near-duplicate removal (MinHash LSH) at 100k conversations, and how many
of the planted near-duplicates it finds.

Conversations are chat records shaped like the generator's: 2-4 turns, each a user request of 25-45
words (template frames filled with names, dates, ids and amounts) and 2-4 tool calls from a domain's
tools. A share of them (``--planted``) are copies of an earlier conversation with one request's
values changed (a new date, a new amount): those are the near-duplicates to find. Each size runs in a
fresh subprocess, so the peak resident memory is that of one run: the records themselves, then
the signatures and the LSH index on top.

    .venv/bin/python benchmarks/dedup_bench.py                    # 10k and 100k
    .venv/bin/python benchmarks/dedup_bench.py 100000 --threshold 0.7
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.synthesis.dedup import DedupSettings, find_near_duplicates

FRAMES = [
    "Hi, this is {name} from {city}. Could you {verb} the {thing} I {did} on {date} and {verb2} it to {amount} dollars?",
    "I need to {verb} my {thing} with reference {ref}; it was {did} on {date} and should come to {amount}.",
    "Please {verb} the {thing} for {name} ({ref}), then {verb2} whatever is still open from {date}.",
    "Can you check whether the {thing} {did} on {date} went through, and {verb2} the {thing2} if it did?",
    "My colleague {name} asked me to {verb} every {thing} over {amount} in {city} since {date}.",
    "Thanks. Now {verb2} the {thing2} you found, and tell me the total once it is {did}.",
]
WORDS = {
    "name": ["Dana Reyes", "Amy Thompson", "Luis Ortega", "Priya Nair", "Tom Becker", "Yuki Sato", "Omar Haddad", "Lena Vogel"],
    "city": ["Lisbon", "Austin", "Lyon", "Osaka", "Nairobi", "Leeds", "Porto", "Denver", "Cork", "Turin"],
    "verb": ["update", "cancel", "reschedule", "refund", "look up", "move", "confirm", "change"],
    "verb2": ["set", "move", "limit", "round", "send", "copy", "forward", "close"],
    "thing": ["order", "booking", "ticket", "invoice", "reservation", "subscription", "shipment", "appointment"],
    "thing2": ["receipt", "itinerary", "case", "return", "payment", "note", "label", "reminder"],
    "did": ["placed", "booked", "opened", "paid", "filed", "sent", "made", "approved"],
}
DOMAINS = {
    domain: [f"{verb}_{noun}" for verb in ("get", "list", "create", "update", "cancel", "find") for noun in nouns]
    for domain, nouns in {
        "retail": ("order", "customer", "product", "refund"),
        "travel": ("booking", "flight", "traveler", "seat"),
        "helpdesk": ("ticket", "agent", "comment", "queue"),
        "calendar": ("event", "attendee", "room", "reminder"),
    }.items()
}


def _request(rng: random.Random) -> str:
    values = {key: rng.choice(options) for key, options in WORDS.items()}
    values |= {
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "amount": f"{rng.randint(5, 2000)}.{rng.randint(0, 99):02d}",
        "ref": f"{rng.choice('OBTRS')}{rng.randint(10000, 99999)}",
    }
    return " ".join(rng.choice(FRAMES).format(**values) for _ in range(2))


def _record(index: int, turns: list[tuple[str, list[str]]], domain: str) -> ConversationRecord:
    messages = []
    for user, calls in turns:
        messages.append({"role": "user", "content": user})
        for number, tool in enumerate(calls, start=1):
            call_id = f"call_{len(messages)}_{number}"
            arguments = json.dumps({"id": number})
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}]})
            messages.append({"role": "tool", "tool_call_id": call_id, "name": tool, "content": "{}"})
        messages.append({"role": "assistant", "content": "Done."})
    return ConversationRecord(
        conversation_id=f"digit_tc-2026-{index:07d}", source="digit_tc", variant="digit_tc", domain=domain, messages=messages, tools=[]
    )


def conversations(n: int, planted: float, seed: int = 2026) -> tuple[list[ConversationRecord], set[str]]:
    """``n`` conversations, a ``planted`` share of them near-copies of an earlier one (their ids returned)."""
    rng = random.Random(seed)
    turns_of: list[tuple[str, list[tuple[str, list[str]]]]] = []
    records, copies = [], set()
    for index in range(n):
        if turns_of and rng.random() < planted:
            domain, turns = rng.choice(turns_of)
            changed = rng.randrange(len(turns))
            user, calls = turns[changed]
            words = user.split()
            position = rng.randrange(len(words))
            words[position] = f"{rng.randint(1, 28):02d}-{words[position]}"  # one value written differently
            turns = [*turns[:changed], (" ".join(words), calls), *turns[changed + 1 :]]
            copies.add(f"digit_tc-2026-{index:07d}")
        else:
            domain = rng.choice(sorted(DOMAINS))
            turns = [(_request(rng), rng.sample(DOMAINS[domain], rng.randint(2, 4))) for _ in range(rng.randint(2, 4))]
            turns_of.append((domain, turns))
        records.append(_record(index, turns, domain))
    return records, copies


def measure(n: int, planted: float, threshold: float) -> dict[str, object]:
    records, copies = conversations(n, planted)
    rss_records = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    duplicates, _ = find_near_duplicates(records, DedupSettings(threshold=threshold))
    seconds = time.perf_counter() - started
    found = {d.conversation_id for d in duplicates}
    return {
        "conversations": n,
        "seconds": round(seconds, 1),
        "per_second": round(n / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_records_mb": round(rss_records),
        "planted": len(copies),
        "removed": len(found),
        "planted_found": len(found & copies),
        "removed_not_planted": len(found - copies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--planted", type=float, default=0.05, help="share of conversations planted as near-copies")
    parser.add_argument("--threshold", type=float, default=DedupSettings().threshold)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.sizes[0], args.planted, args.threshold)))
        return
    print(f"near-duplicate removal, MinHash LSH, threshold {args.threshold}, {DedupSettings().num_perm} permutations")
    print("conversations  seconds  conv/s  peak RSS MB (records alone)  planted  found  removed not planted")
    for size in args.sizes:
        child = [sys.executable, __file__, str(size), "--child", "--planted", str(args.planted), "--threshold", str(args.threshold)]
        figures = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        print(
            f"{figures['conversations']:>13,}  {figures['seconds']:>7}  {figures['per_second']:>6,}  "
            f"{figures['peak_rss_mb']:>6,} ({figures['rss_after_records_mb']:,}){'':>13}  {figures['planted']:>7,}  "
            f"{figures['planted_found']:>5,}  {figures['removed_not_planted']:>7,}"
        )


if __name__ == "__main__":
    main()
