-- Every turn the stateful search attempted, solved or not, with the reason: unsolved goals are kept.
CREATE TABLE baseline_attempts (
    conversation_id VARCHAR NOT NULL,    -- the conversation the turn belongs (or would have belonged) to
    domain        VARCHAR NOT NULL,
    turn          INTEGER NOT NULL,      -- 1-based
    goal          VARCHAR NOT NULL,      -- goal kind, e.g. cancel_order
    request       VARCHAR NOT NULL,      -- the user message of the turn
    status        VARCHAR NOT NULL,      -- solved | unsolved
    reason        VARCHAR NOT NULL,
    executed_calls INTEGER NOT NULL,     -- calls the search executed, abandoned branches included
    path_calls    INTEGER NOT NULL,      -- calls in the recorded turn
    errors        INTEGER NOT NULL,      -- refused calls in the recorded turn
    abandoned_branches INTEGER NOT NULL, -- writes the oracle judged irreparable
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
CREATE INDEX baseline_attempts_by_domain ON baseline_attempts (domain, status);
