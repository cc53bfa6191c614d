"""The dataset card: a README.md beside the files, rendered from the run's figures as the store holds them.

The figures go into the YAML front matter as they are (``digit_tc:``), so a check can compare them
with the store, and into the text as tables. The front matter's ``configs`` is what Hugging Face
``datasets`` reads to find the splits: ``load_dataset(<directory>)`` loads train and validation.
"""

from __future__ import annotations

from typing import Any

import yaml

LIMITATIONS = [
    "Made with the embedded offline engine (seeded algorithms) unless the model list above names a "
    "served model: such conversations are structural data, not text an LLM would write.",
    "The realism and fidelity figures were measured on every accepted conversation, before "
    "near-duplicate removal.",
    "Fidelity compares tool-use structure with stateful search in this project's executable "
    "environments; it says nothing about downstream training gains.",
    "Tool-call arguments are JSON strings (OpenAI format). Chat templates that expect a mapping "
    "need `json.loads` on `function.arguments` first.",
    "In Parquet, `tools` is one JSON string per row (each tool's parameter schema has its own shape); "
    "in JSONL it is the OpenAI tools list as is.",
    "The split keeps each scenario (domain and offered tool set) on one side, so the validation share "
    "of conversations differs from the scenario share.",
]


def config_name(fingerprint: str) -> str:
    return f"export-{fingerprint}"


def front_matter(facts: dict[str, Any], fingerprint: str) -> str:
    config = {
        "configs": [
            {
                "config_name": config_name(fingerprint),
                "data_files": [{"split": split, "path": f"{split}.parquet"} for split in ("train", "validation")],
            }
        ],
        "task_categories": ["text-generation"],
        "tags": ["tool-calling", "function-calling", "synthetic", "multi-turn"],
        "digit_tc": facts,
    }
    return "---\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True) + "---\n"


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a card, to compare its figures with the store."""
    if not text.startswith("---\n"):
        raise ValueError("the dataset card has no YAML front matter (it must start with '---')")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _interval(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    number = "{:+.3f}" if signed else "{:.3f}"
    if low is None or high is None:
        return number.format(value)
    return f"{number.format(value)} [{number.format(low)}, {number.format(high)}]"


def render_card(facts: dict[str, Any], fingerprint: str) -> str:
    """The card of one variant; ``fingerprint`` (of the files) names the config ``datasets`` loads."""
    variant = facts["variant"]
    counts = facts["conversations"]
    dedup = facts["near_duplicates"]
    total = sum(counts.values())
    parts = [
        front_matter(facts, fingerprint),
        f"# DiGiT-TC synthetic tool-calling conversations: `{variant}`\n",
        f"{total} multi-turn tool-calling conversations in the OpenAI chat format (`messages` + `tools`), "
        f"made by the DiGiT-TC method without a stateful execution environment (variant `{variant}`).\n",
        "## Files\n",
        _table(
            ["split", "conversations", "scenarios", "files"],
            [
                [split, counts[split], facts["scenarios"][split], f"`{split}.parquet`, `{split}.jsonl`"]
                for split in ("train", "validation")
            ],
        ),
        "\nJSONL lines are exactly `{\"messages\": [...], \"tools\": [...]}` (OpenAI fine-tuning). Parquet rows "
        "carry `messages`, `tools` (a JSON string), `conversation_id`, `domain`, `scenario`, `n_turns`, "
        "`n_calls` and the row's `run_id`, `seed`, `config_hash`.\n",
        "```python\nimport json\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("{facts["directory"]}")  # train and validation, from this card\n'
        'messages, tools = ds["train"][0]["messages"], json.loads(ds["train"][0]["tools"])\n```\n',
        "## Split\n",
        f"Seeded by {facts['split_seed']}: a scenario (domain and offered tool set) goes to validation when "
        f"a hash of (seed, scenario) falls below {facts['validation_share']}, so the conversations of one "
        "scenario are all on one side, in every variant.\n",
        "## Near-duplicates removed\n",
        f"{dedup['removed']} of {dedup['examined']} accepted conversations were near-duplicates (MinHash LSH over "
        f"user-message word {dedup['shingle_words']}-grams and call-sequence {dedup['shingle_calls']}-grams, "
        f"{dedup['num_perm']} permutations, estimated Jaccard similarity >= {dedup['threshold']}) and are not "
        "in the files; the `near_duplicates` table names the kept conversation each one duplicates.\n"
        if dedup["threshold"] is not None
        else "Near-duplicate removal has not run on this store (materialize `near_duplicates`): nothing was removed.\n",
        "## Domains and tools\n",
        _table(
            ["domain", "conversations", "tools called"],
            [[row["domain"], row["conversations"], row["tools_called"]] for row in facts["domains"]],
        ),
        f"\n{facts['tools_called']} distinct tools called in all.\n",
        "## Turns and calls per conversation\n",
        _table(["user turns", "conversations"], [[k, v] for k, v in facts["turns"].items()]),
        "",
        _table(["tool calls", "conversations"], [[k, v] for k, v in facts["calls"].items()]),
        "\n## Realism\n",
        "Shares over the variant's accepted conversations, 95% Wilson intervals (`realism_metrics`).\n",
        _table(
            ["metric", "count / of", "share [95% CI]"],
            [
                [row["metric"], f"{row['numerator']} / {row['denominator']}", _interval(row["value"], row["ci_low"], row["ci_high"])]
                for row in facts["realism"]
            ],
        )
        if facts["realism"]
        else "Not measured in this store (materialize `realism_metrics`).",
        "\n## Fidelity to stateful search\n",
        "Against the `stateful_search` baseline (search in executable environments), length-controlled (each "
        "variant reweighted to the baseline's turns x calls-per-turn strata), pooled over domains, 95% BCa "
        "intervals; the other baselines, raw figures and domains are in the `fidelity_*` tables and the dashboard. Family score: mean Jensen-Shannon divergence in bits (lower is "
        "closer to the baseline).\n",
        _table(
            ["family", "JS [95% CI]"],
            [[row["family"], _interval(row["value"], row["ci_low"], row["ci_high"])] for row in facts["fidelity_scores"]],
        )
        if facts["fidelity_scores"]
        else "Not measured in this store (materialize `fidelity_analysis`).",
    ]
    if facts["fidelity_claims"]:
        parts += [
            "\nThe method's claim: JS(digit_tc) - JS(ablation) per family; it holds where the whole interval "
            "is below zero.\n",
            _table(
                ["minus", "family", "difference [95% CI]", "p", "holds"],
                [
                    [
                        row["reference"],
                        row["family"],
                        _interval(row["difference"], row["ci_low"], row["ci_high"], signed=True)
                        if row["difference"] is not None
                        else f"n/a: {row['reason']}",
                        "n/a" if row["perm_p"] is None else f"{row['perm_p']:.2f}",
                        "yes" if row["holds"] else "no",
                    ]
                    for row in facts["fidelity_claims"]
                ],
            ),
        ]
    parts += [
        "\n## Provenance\n",
        _table(
            ["seed", "config hash", "conversations"],
            [[row["seed"], f"`{row['config_hash']}`", row["conversations"]] for row in facts["provenance"]],
        ),
        "\nGenerating model per role (`llm_usage`):\n",
        _table(["role", "model", "calls"], [[row["role"], f"`{row['llm']}`", row["calls"]] for row in facts["models"]])
        if facts["models"]
        else "No role usage recorded in this store.",
        "\n## Limitations\n",
        "\n".join(f"- {line}" for line in LIMITATIONS),
        "",
    ]
    return "\n".join(parts)
