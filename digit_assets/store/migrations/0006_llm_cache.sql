-- Validated responses of remote LLM calls, so a re-materialization does not pay for them again.
CREATE TABLE llm_cache (
    cache_key     VARCHAR PRIMARY KEY,   -- sha256 of (model, role, prompt hash, sampling params, seed)
    model         VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    response      JSON NOT NULL,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);
