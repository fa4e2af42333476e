-- The attribute-by-time index holds changes only (GitHub issue 6). A first
-- sync writes a first-sighting row (from_value NULL) for every tracked
-- attribute of every channel, about 1,100,000 rows at 100,000 clients, and
-- this index, whose keys repeat across a whole page (one transaction, one
-- changed_at), cost about 2 s of them: inserting the history rows of such a
-- sync took 3.0 s into a bare table, 5.0 s with this index alone, and 9.7 s
-- with all of them (INSERT ... SELECT on the bench machine).
--
-- The queries it is for ask for changes, which have a from_value: quality
-- drops, moves between clients (the README writes `from_value IS NOT NULL`
-- so that the planner can use it). Additions and returns by time come from
-- status_history_channel_status_changed_idx (channel status) and the BRIN
-- index on changed_at.

-- +goose Up
DROP INDEX hub.status_history_attribute_changed_idx;
CREATE INDEX status_history_attribute_changed_idx ON hub.status_history (entity, attribute, changed_at)
    WHERE from_value IS NOT NULL;

-- +goose Down
DROP INDEX hub.status_history_attribute_changed_idx;
CREATE INDEX status_history_attribute_changed_idx ON hub.status_history (entity, attribute, changed_at);
