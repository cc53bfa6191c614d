-- Edges by meaning come from the dataflow role: who proposed each edge (the name matcher, or the
-- LLM's label) and its reason. match_kind is the edge's kind, score its confidence.
ALTER TABLE dataflow_edges ADD COLUMN proposed_by VARCHAR DEFAULT 'names';
ALTER TABLE dataflow_edges ADD COLUMN why VARCHAR DEFAULT '';
