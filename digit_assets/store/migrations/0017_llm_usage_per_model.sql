-- Each role may be answered by its own model: the row says which (the port's label of the role's
-- route, never a key), and how many of its prompt tokens the server took from its prefix cache
-- (usage.prompt_tokens_details.cached_tokens, when the server reports it).
ALTER TABLE llm_usage ADD COLUMN model VARCHAR DEFAULT '';
ALTER TABLE llm_usage ADD COLUMN cached_prompt_tokens BIGINT DEFAULT 0;

-- What each model cost, per role, over the stored rows.
CREATE VIEW llm_usage_per_model AS
SELECT model, role, sum(calls) AS calls, sum(cache_hits) AS cache_hits, sum(requests) AS requests,
       sum(failures) AS failures, sum(repairs) AS repairs, sum(prompt_tokens) AS prompt_tokens,
       sum(cached_prompt_tokens) AS cached_prompt_tokens, sum(completion_tokens) AS completion_tokens
FROM llm_usage GROUP BY model, role;
