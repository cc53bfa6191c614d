-- Fidelity analysis (analytics/): per-conversation features, pooled category counts, divergences.
-- Each table holds the latest analysis only: the fidelity asset replaces it whole in one transaction.
CREATE TABLE fidelity_features (
    conversation_id VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    variant       VARCHAR NOT NULL,
    domain        VARCHAR,
    nodes                 BIGINT,
    edges                 BIGINT,
    depth                 BIGINT,
    max_fan_in            BIGINT,
    max_fan_out           BIGINT,
    roots                 BIGINT,
    cross_turn_edges      BIGINT,
    chain_motifs          BIGINT,
    fan_in_motifs         BIGINT,
    fan_out_motifs        BIGINT,
    discovered_share      DOUBLE,
    turns                 BIGINT,
    calls_per_turn        DOUBLE,
    unigram_entropy       DOUBLE,
    bigram_entropy        DOUBLE,
    trigram_entropy       DOUBLE,
    errors                BIGINT,
    error_rate            DOUBLE,
    recovered_share       DOUBLE,
    abandoned             BIGINT,
    recovery_length_mean  DOUBLE,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
-- Pooled categorical distributions per variant (read/write bigrams, tool bigrams per domain, outcomes).
CREATE TABLE fidelity_distributions (
    distribution  VARCHAR NOT NULL,
    variant       VARCHAR NOT NULL,
    category      VARCHAR NOT NULL,
    count         BIGINT NOT NULL,
    share         DOUBLE NOT NULL,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
-- Long format: one row per (metric, kind, variant, baseline); kind is js, kl_variant_baseline, ks_stat, ...
CREATE TABLE fidelity_divergences (
    metric        VARCHAR NOT NULL,
    family        VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    variant       VARCHAR NOT NULL,
    baseline      VARCHAR NOT NULL,
    value         DOUBLE,
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    n_variant     BIGINT NOT NULL,
    n_baseline    BIGINT NOT NULL,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
-- Per (variant, baseline, family): mean JS (discrete) and mean KS (continuous); the headline numbers.
CREATE TABLE fidelity_scores (
    variant       VARCHAR NOT NULL,
    baseline      VARCHAR NOT NULL,
    family        VARCHAR NOT NULL,
    score         VARCHAR NOT NULL,
    value         DOUBLE,
    n_metrics     BIGINT NOT NULL,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);
