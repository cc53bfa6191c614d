-- Every tool's side-effect class (read_only | state_changing) and where it comes from
-- (override | declared | http_method | description | inferred): hidden calls may only read.
-- Rows written before this migration get their class from the name when read back.
ALTER TABLE tool_specs ADD COLUMN side_effect VARCHAR;
ALTER TABLE tool_specs ADD COLUMN side_effect_origin VARCHAR;
