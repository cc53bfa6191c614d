-- Conversations from every source in one shape (see digit_assets/engine/records.py).
CREATE TABLE conversations (
    conversation_id VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,      -- digit_tc | stateful_search | import
    variant       VARCHAR NOT NULL,      -- digit_tc | no_impl | no_bt | baseline name
    domain        VARCHAR,
    shard         INTEGER,               -- generation partition, NULL for imports
    n_turns       INTEGER NOT NULL,
    n_calls       INTEGER NOT NULL,
    n_errors      INTEGER NOT NULL,
    messages      JSON NOT NULL,
    tools         JSON NOT NULL,
    meta          JSON NOT NULL,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
CREATE INDEX conversations_by_variant ON conversations (source, variant);
