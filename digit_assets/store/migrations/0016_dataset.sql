-- Near-duplicate removal: one row per removed conversation, with the kept conversation it duplicates.
-- Replaced whole by the near_duplicates asset.
CREATE TABLE near_duplicates (
    conversation_id VARCHAR PRIMARY KEY,
    variant       VARCHAR NOT NULL,
    duplicate_of  VARCHAR NOT NULL,      -- a kept conversation of the same variant
    similarity    DOUBLE NOT NULL,       -- estimated Jaccard similarity (MinHash) of their shingle sets
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);

-- One row per variant and deduplication run: how many accepted conversations were examined and
-- removed, at which threshold (the funnel's near_duplicate stage).
CREATE TABLE deduplication (
    variant       VARCHAR PRIMARY KEY,
    examined      BIGINT NOT NULL,
    removed       BIGINT NOT NULL,
    threshold     DOUBLE NOT NULL,
    num_perm      INTEGER NOT NULL,
    shingle_words INTEGER NOT NULL,
    shingle_calls INTEGER NOT NULL,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);

-- The training dataset as exported: one row per conversation and split, so the card and the
-- files can be checked against the store.
CREATE TABLE dataset_rows (
    conversation_id VARCHAR PRIMARY KEY,
    variant       VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,      -- train | validation
    scenario      VARCHAR NOT NULL,      -- the group kept on one side: domain and offered tool set
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
