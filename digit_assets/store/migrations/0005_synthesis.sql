-- Every synthesis attempt, accepted or not, per stage: the acceptance funnel and the reasons.
CREATE TABLE synthesis_attempts (
    conversation_id VARCHAR NOT NULL,
    variant       VARCHAR NOT NULL,
    shard         INTEGER NOT NULL,
    turn          INTEGER,               -- NULL: the conversation as a whole
    stage         VARCHAR NOT NULL,
    accepted      BOOLEAN NOT NULL,
    reason        VARCHAR NOT NULL,
    record        JSON,                  -- a conversation refused after it was built, kept for review
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
CREATE INDEX synthesis_attempts_by_shard ON synthesis_attempts (shard, variant);
