-- Fidelity analysis, length-controlled and tested: new features, the control and domain of every
-- divergence and score, bias-corrected estimates, not-applicable reasons, the claim tests, and what
-- each source provides (outputs, errors, user text) and shares with the generator's tool catalog.
ALTER TABLE fidelity_features ADD COLUMN has_outputs BOOLEAN;
ALTER TABLE fidelity_features ADD COLUMN has_user_text BOOLEAN;
ALTER TABLE fidelity_features ADD COLUMN output_fed_share DOUBLE;
ALTER TABLE fidelity_features ADD COLUMN rw_transition_entropy DOUBLE;
ALTER TABLE fidelity_features ADD COLUMN first_write_position DOUBLE;
ALTER TABLE fidelity_features ADD COLUMN recovered_same_turn_share DOUBLE;

-- domain 'all' = pooled over domains; control 'raw' or 'length' (reweighted to the baseline's
-- turns x calls-per-turn strata). value NULL with a reason = not applicable.
ALTER TABLE fidelity_divergences ADD COLUMN domain VARCHAR DEFAULT 'all';
ALTER TABLE fidelity_divergences ADD COLUMN control VARCHAR DEFAULT 'raw';
ALTER TABLE fidelity_divergences ADD COLUMN bias_corrected DOUBLE;
ALTER TABLE fidelity_divergences ADD COLUMN reason VARCHAR;

ALTER TABLE fidelity_scores ADD COLUMN domain VARCHAR DEFAULT 'all';
ALTER TABLE fidelity_scores ADD COLUMN control VARCHAR DEFAULT 'raw';
ALTER TABLE fidelity_scores ADD COLUMN bias_corrected DOUBLE;
ALTER TABLE fidelity_scores ADD COLUMN ci_low DOUBLE;
ALTER TABLE fidelity_scores ADD COLUMN ci_high DOUBLE;
ALTER TABLE fidelity_scores ADD COLUMN reason VARCHAR;

-- The method's claim per (baseline, domain, family, control): JS(variant) - JS(reference) with its
-- BCa interval (all three samples resampled) and a one-sided permutation p-value; holds = interval below 0.
CREATE TABLE fidelity_claims (
    baseline      VARCHAR NOT NULL,
    domain        VARCHAR NOT NULL,
    family        VARCHAR NOT NULL,
    control       VARCHAR NOT NULL,
    variant       VARCHAR NOT NULL,
    reference     VARCHAR NOT NULL,
    difference    DOUBLE,
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    perm_p        DOUBLE,
    n_metrics     BIGINT NOT NULL,
    n_variant     BIGINT NOT NULL,
    n_reference   BIGINT NOT NULL,
    n_baseline    BIGINT NOT NULL,
    holds         BOOLEAN NOT NULL,
    reason        VARCHAR,
    run_id        VARCHAR NOT NULL,
    seed          BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL
);

-- One row per source variant: what its records provide and how much of the generator's catalog it uses.
CREATE TABLE fidelity_sources (
    variant              VARCHAR NOT NULL,
    source               VARCHAR NOT NULL,
    conversations        BIGINT NOT NULL,
    with_outputs         BIGINT NOT NULL,
    with_user_text       BIGINT NOT NULL,
    with_errors          BIGINT NOT NULL,
    tools                BIGINT NOT NULL,
    generator_tools      BIGINT NOT NULL,
    shares_generator_catalog BOOLEAN NOT NULL,
    run_id               VARCHAR NOT NULL,
    seed                 BIGINT NOT NULL,
    config_hash          VARCHAR NOT NULL
);
