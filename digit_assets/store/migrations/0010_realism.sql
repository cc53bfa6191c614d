-- Realism of conversations (analytics/realism.py): one row per (source, variant, metric), plus per-tool
-- rows (tool not null) where a metric is broken down by tool. Replaced whole by the realism asset.
CREATE TABLE realism_metrics (
    source        VARCHAR NOT NULL,      -- digit_tc | stateful_search | import
    variant       VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,      -- parameter_named_messages, writes_reflected, ...
    tool          VARCHAR,               -- NULL: over every tool
    basis         VARCHAR,               -- how hidden calls were found: record_flags | user_text
    numerator     BIGINT NOT NULL,
    denominator   BIGINT NOT NULL,       -- the items the share is over (messages, calls, checkable outputs)
    value         DOUBLE,                -- numerator / denominator; NULL when the source lacks the data
    ci_low        DOUBLE,                -- 95% Wilson interval
    ci_high       DOUBLE,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
