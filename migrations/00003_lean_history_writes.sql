-- Cheaper writes (GitHub issue 6). Every tracked attribute of every channel
-- seen for the first time is a history row (about 1,100,000 at 100,000
-- clients), and each row paid for eight btrees and a foreign-key trigger.
-- Inserting the 1,097,398 rows of such a first sync (INSERT ... SELECT) took
-- 19.9 s with them and 7.4 s with the set below. The analyst views and the
-- README's queries keep the indexes 00002 made for them; measured with
-- `go run ./sync/analytics/querybench` before and after, they run as fast,
-- but for "ready to error in the last 24 hours" (5 ms before, 30 ms after:
-- it reads every status change of the day instead of only those to error).

-- +goose Up

-- The foreign key fired a trigger per history row (about 5 s of the 19.9).
-- Only the sync writes sync_run_id, with the id of the run it is in; runs
-- are never deleted.
ALTER TABLE hub.status_history DROP CONSTRAINT status_history_sync_run_id_fkey;

-- Covered by 00002's indexes: status_history_channel_attribute_idx (one
-- channel's history), status_history_attribute_changed_idx (an attribute by
-- time, whatever the value) and status_history_channel_status_changed_idx
-- (channel status changes by time).
DROP INDEX hub.status_history_entity_idx;
DROP INDEX hub.status_history_to_idx;
DROP INDEX hub.status_history_changed_idx;
DROP INDEX hub.status_history_run_idx;
-- Channels by client: one index instead of (partner_id, client_id) and
-- (client_id), serving both the sync (which names the partner) and analysts
-- (who rarely do). With partner_id only in the first, a first sync, whose
-- tables have no statistics yet, ANDed the whole partner's primary key into
-- every page's lookup.
DROP INDEX hub.channels_client_idx;
DROP INDEX hub.channels_client_id_idx;
CREATE INDEX channels_client_partner_idx ON hub.channels (client_id, partner_id)
    INCLUDE (id, content_hash, removed_at);
-- A page's stored rows (queries/sync_run_seen.sql, PageStored) come from the
-- two indexes alone once vacuum has marked the pages all-visible: 2.0 ms a
-- page reading the rows (a kilobyte of raw JSON each), 0.6 ms from the
-- indexes, which is most of what a quiet re-sync asks of Postgres.
DROP INDEX hub.clients_id_idx;
CREATE INDEX clients_id_idx ON hub.clients (id, partner_id) INCLUDE (content_hash, removed_at);

-- The live rows' ids in the indexes of live rows, so that a run's removal
-- step (live rows its working set does not hold) reads these instead of the
-- tables, whose rows carry about a kilobyte of raw JSON each: 200 ms of a
-- quiet re-sync at 250,000 channels.
DROP INDEX hub.clients_live_idx;
CREATE INDEX clients_live_idx ON hub.clients (partner_id, status) INCLUDE (id) WHERE removed_at IS NULL;
DROP INDEX hub.channels_live_status_idx;
CREATE INDEX channels_live_status_idx ON hub.channels (partner_id, status) INCLUDE (id) WHERE removed_at IS NULL;

-- One client's history, as status_history_channel_attribute_idx is one
-- channel's. Partial, so a channel's rows never touch it.
CREATE INDEX status_history_client_attribute_idx
    ON hub.status_history (entity_id, partner_id, attribute, changed_at, id) INCLUDE (to_value)
    WHERE entity = 'client';
-- Everything changed in a time range, or by one run: history is appended in
-- time order, so a BRIN index (a few pages, next to nothing per insert) finds
-- the blocks.
CREATE INDEX status_history_changed_run_brin ON hub.status_history USING brin (changed_at, sync_run_id);

-- A run's working set is only appended to (the lister hands on each client
-- once) and read whole at the end, by hash anti joins: the key's index cost
-- more than the inserts themselves.
ALTER TABLE hub.sync_run_seen DROP CONSTRAINT sync_run_seen_pkey;

-- Progress (counts and heartbeat) is written once a second, not per page.
COMMENT ON COLUMN hub.sync_runs.heartbeat_at IS 'Last sign of life of the running process, refreshed about once a second while pages are written.';

-- +goose Down
COMMENT ON COLUMN hub.sync_runs.heartbeat_at IS 'Last sign of life of the running process, refreshed as pages are written.';
ALTER TABLE hub.sync_run_seen ADD PRIMARY KEY (run_id, entity, id);
DROP INDEX hub.status_history_changed_run_brin;
DROP INDEX hub.status_history_client_attribute_idx;
DROP INDEX hub.channels_live_status_idx;
CREATE INDEX channels_live_status_idx ON hub.channels (partner_id, status) WHERE removed_at IS NULL;
DROP INDEX hub.clients_live_idx;
CREATE INDEX clients_live_idx ON hub.clients (partner_id, status) WHERE removed_at IS NULL;
DROP INDEX hub.clients_id_idx;
CREATE INDEX clients_id_idx ON hub.clients (id);
DROP INDEX hub.channels_client_partner_idx;
CREATE INDEX channels_client_id_idx ON hub.channels (client_id);
CREATE INDEX channels_client_idx ON hub.channels (partner_id, client_id);
CREATE INDEX status_history_entity_idx ON hub.status_history (partner_id, entity, entity_id, changed_at);
CREATE INDEX status_history_changed_idx ON hub.status_history (changed_at);
CREATE INDEX status_history_to_idx ON hub.status_history (entity, attribute, to_value, changed_at);
CREATE INDEX status_history_run_idx ON hub.status_history (sync_run_id);
ALTER TABLE hub.status_history
    ADD CONSTRAINT status_history_sync_run_id_fkey FOREIGN KEY (sync_run_id) REFERENCES hub.sync_runs (id);
