-- Tool-spec ingestion, quarantine, enrichment and the data-flow graph.
-- Every generated row carries run_id, seed and config_hash.

CREATE TABLE source_files (
    source_file   VARCHAR PRIMARY KEY,   -- path relative to the specs directory
    format        VARCHAR,               -- openai | bfcl | mcp | openapi (NULL when unreadable)
    namespace     VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    size_bytes    BIGINT NOT NULL,
    tools_ok      INTEGER NOT NULL,
    tools_rejected INTEGER NOT NULL,
    file_error    VARCHAR,               -- set when the whole file could not be read
    ingested_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);

CREATE TABLE tool_specs (
    namespace     VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    description   VARCHAR NOT NULL,
    parameters    JSON NOT NULL,
    output_schema JSON,                  -- as declared by the source; NULL when it has none
    source_file   VARCHAR NOT NULL,
    source_format VARCHAR NOT NULL,
    position      VARCHAR NOT NULL,      -- where in the file: list index, JSONL line, or OpenAPI path+method
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- Anything refused by any stage, with the reason; nothing is dropped silently.
CREATE TABLE quarantine (
    stage         VARCHAR NOT NULL,      -- ingestion | import | ...
    source        VARCHAR NOT NULL,      -- the file or partition the item came from
    item          VARCHAR,               -- tool / record name when known
    position      VARCHAR,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR,               -- the offending text, truncated
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);

-- Tools with a usable output schema: declared by the source or inferred by the enrichment role.
CREATE TABLE enriched_tools (
    namespace     VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    output_schema JSON NOT NULL,
    output_origin VARCHAR NOT NULL,      -- declared | inferred
    llm           VARCHAR NOT NULL,      -- which LLM implementation inferred it ('-' when declared)
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- An edge when an output field of one tool can feed a parameter of another in the same namespace.
CREATE TABLE dataflow_edges (
    namespace     VARCHAR NOT NULL,
    src_tool      VARCHAR NOT NULL,
    src_field     VARCHAR NOT NULL,      -- dotted path in the output, '[]' marks array items
    src_type      VARCHAR NOT NULL,
    dst_tool      VARCHAR NOT NULL,
    dst_param     VARCHAR NOT NULL,
    dst_type      VARCHAR NOT NULL,
    match_kind    VARCHAR NOT NULL,      -- how the names matched
    score         DOUBLE NOT NULL,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
