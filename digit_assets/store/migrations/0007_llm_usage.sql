-- What the LLM roles cost per asset execution: one row per (run, asset, shard, variant, role).
-- A re-materialization replaces its shard's rows, like the rows it made.
CREATE TABLE llm_usage (
    asset             VARCHAR NOT NULL,   -- synthetic_conversations | enriched_tools
    shard             INTEGER,            -- synthesis partition, NULL for unpartitioned assets
    variant           VARCHAR NOT NULL,   -- digit_tc | no_impl | no_bt; '' outside synthesis
    role              VARCHAR NOT NULL,
    llm               VARCHAR NOT NULL,   -- the port's label (model and host, never a key)
    calls             BIGINT NOT NULL,    -- role calls made by the engine
    cache_hits        BIGINT NOT NULL,    -- of those, answered from llm_cache
    requests          BIGINT NOT NULL,    -- HTTP requests: first tries, retries and repairs
    retries           BIGINT NOT NULL,
    repairs           BIGINT NOT NULL,
    failures          BIGINT NOT NULL,    -- calls that ended in an error (the turn was rejected)
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    run_id            VARCHAR NOT NULL,
    seed              BIGINT NOT NULL,
    config_hash       VARCHAR NOT NULL
);
CREATE INDEX llm_usage_by_asset ON llm_usage (asset, shard, variant);

-- Calls and tokens per accepted conversation, per variant, over the stored shards.
CREATE VIEW llm_usage_per_accepted AS
WITH spent AS (
    SELECT variant, sum(calls) AS calls, sum(requests) AS requests,
           sum(prompt_tokens + completion_tokens) AS tokens
    FROM llm_usage WHERE asset = 'synthetic_conversations' GROUP BY variant
), kept AS (
    SELECT variant, count(*) AS accepted FROM conversations WHERE source = 'digit_tc' GROUP BY variant
)
SELECT spent.variant, coalesce(kept.accepted, 0) AS accepted, spent.calls, spent.requests, spent.tokens,
       spent.calls / nullif(kept.accepted, 0) AS calls_per_accepted,
       spent.tokens / nullif(kept.accepted, 0) AS tokens_per_accepted
FROM spent LEFT JOIN kept USING (variant);
