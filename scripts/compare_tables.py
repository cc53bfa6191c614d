"""Compare every table of two DuckDB files row by row, ignoring what legitimately differs per run.

Each row is hashed over all its columns except the volatile ones: run ids, timestamps (every
TIMESTAMP column and any column named like ``*_at``), and anything measuring elapsed time
(``duration``, ``elapsed``, ``seconds``, ``_ms``). The sorted hash lists of the two files are then
compared, so row order does not matter but every other difference does, config hashes and seeds
included. Used to prove a refactor leaves the default run's output unchanged:

    .venv/bin/python scripts/compare_tables.py before.duckdb data/digit_tc.duckdb

Exits 1 when any table differs or exists in one file only.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections import Counter
from pathlib import Path

import duckdb

_VOLATILE_NAME = re.compile(r"(^run_id$|_at$|duration|elapsed|seconds|_ms$|_s$)")
_EXAMPLES = 3


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def _stable_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [name for name, kind in rows if not kind.startswith("TIMESTAMP") and not _VOLATILE_NAME.search(name)]


def _row_hashes(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> Counter[str]:
    """A multiset of row hashes over ``columns`` (rows may repeat), with each hash's row text."""
    selected = ", ".join(f'CAST("{column}" AS VARCHAR)' for column in columns)
    hashes: Counter[str] = Counter()
    cursor = con.execute(f'SELECT {selected} FROM "{table}"')
    while batch := cursor.fetchmany(10_000):
        for row in batch:
            text = "\x1f".join("\x00" if value is None else value for value in row)
            hashes[hashlib.sha256(text.encode()).hexdigest()] += 1
    return hashes


def _examples(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], wanted: set[str]) -> list[str]:
    selected = ", ".join(f'CAST("{column}" AS VARCHAR)' for column in columns)
    found: list[str] = []
    cursor = con.execute(f'SELECT {selected} FROM "{table}"')
    while (batch := cursor.fetchmany(10_000)) and len(found) < _EXAMPLES:
        for row in batch:
            text = "\x1f".join("\x00" if value is None else value for value in row)
            if hashlib.sha256(text.encode()).hexdigest() in wanted:
                shown = {column: (value if value is None or len(value) <= 200 else value[:200] + "...") for column, value in zip(columns, row)}
                found.append(str(shown))
                if len(found) == _EXAMPLES:
                    break
    return found


def compare(before: Path, after: Path) -> bool:
    left = duckdb.connect(str(before), read_only=True)
    right = duckdb.connect(str(after), read_only=True)
    try:
        left_tables, right_tables = set(_tables(left)), set(_tables(right))
        same = True
        for table in sorted(left_tables | right_tables):
            if table not in left_tables or table not in right_tables:
                print(f"{table}: only in {'after' if table in right_tables else 'before'}")
                same = False
                continue
            left_columns, right_columns = _stable_columns(left, table), _stable_columns(right, table)
            if left_columns != right_columns:
                print(f"{table}: columns differ: {left_columns} vs {right_columns}")
                same = False
                continue
            left_hashes, right_hashes = _row_hashes(left, table, left_columns), _row_hashes(right, table, right_columns)
            identical = left_hashes == right_hashes
            rows = f"{sum(left_hashes.values())} vs {sum(right_hashes.values())}"
            print(f"{table}: rows {rows}, identical {'yes' if identical else 'no'}")
            if not identical:
                same = False
                only_before = set((left_hashes - right_hashes).keys())
                only_after = set((right_hashes - left_hashes).keys())
                print(f"  {sum((left_hashes - right_hashes).values())} rows only before, {sum((right_hashes - left_hashes).values())} only after")
                for line in _examples(left, table, left_columns, only_before):
                    print(f"  before: {line}")
                for line in _examples(right, table, right_columns, only_after):
                    print(f"  after:  {line}")
        return same
    finally:
        left.close()
        right.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    for path in (args.before, args.after):
        if not path.is_file():
            parser.error(f"{path}: no such DuckDB file")
    sys.exit(0 if compare(args.before, args.after) else 1)


if __name__ == "__main__":
    main()
