"""Writes the shipped seed states and MCP spec files: ``python -m digit_assets.engine.baselines.environments.build``.

Run once when a domain changes; the seeds are fixed so the output is identical on every machine
with the same Faker version, and tests check the shipped files still match the code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from digit_assets import settings
from digit_assets.engine.baselines.environments import DOMAINS, load_environment, seed_path
from digit_assets.engine.baselines.environments.base import spec_file_name

SEEDS = {"files": 12, "retail": 11, "travel": 13}


def seed_json(domain: str) -> str:
    return dumps(DOMAINS[domain].generate_seed(SEEDS[domain]))


def spec_json(domain: str) -> str:
    return json.dumps(load_environment(domain).mcp_document(), indent=2, ensure_ascii=False) + "\n"


def dumps(seed: dict[str, Any]) -> str:
    """One entity per line: small enough to ship, readable enough to diff."""
    tables = ",\n".join(
        f'  "{name}": [\n' + ",\n".join("    " + json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows) + "\n  ]"
        for name, rows in seed["tables"].items()
    )
    head = {key: value for key, value in seed.items() if key != "tables"}
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "tables": {\n' + tables + "\n}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs-dir", type=Path, default=settings.PROJECT_ROOT / "specs")
    args = parser.parse_args()
    for domain in DOMAINS:
        seed_path(domain).write_text(seed_json(domain))
        load_environment.cache_clear()
        (args.specs_dir / spec_file_name(domain)).write_text(spec_json(domain))
        print(f"{domain}: {seed_path(domain)} and {args.specs_dir / spec_file_name(domain)}")


if __name__ == "__main__":
    main()
