-- name: PageStored :many
-- What is stored for a page's clients and for the channels stored under
-- them: the content hash that lets unchanged rows be skipped before writing
-- (a skipped row is neither rewritten nor locked), the owner, and whether it
-- is marked removed. A channel not returned is new, or moved from a client
-- elsewhere: written either way. One read-only statement per page, so that a
-- quiet re-sync costs one round trip a page, and no lookup per channel id:
-- the channels come by client, as the API lists them
-- (channels_client_partner_idx; both columns in one index, or a first sync,
-- whose tables have no statistics yet, ANDs the whole partner's primary key
-- into each page's lookup).
SELECT 'client'::text AS entity, c.id, c.id AS client_id, c.content_hash,
       (c.removed_at IS NOT NULL)::boolean AS removed
FROM hub.clients c
WHERE c.partner_id = @partner_id AND c.id = ANY(@client_ids::text[])
UNION ALL
SELECT 'channel'::text, h.id, h.client_id, h.content_hash, (h.removed_at IS NOT NULL)::boolean
FROM hub.channels h
WHERE h.partner_id = @partner_id AND h.client_id = ANY(@client_ids::text[]);

-- name: SyncRunSeenCopy :copyfrom
-- Adds ids to the run's working set. The syncer gathers them for a second or
-- so and copies them in at once (a statement with arrays of 20,000 ids cost
-- more to plan than to run).
INSERT INTO hub.sync_run_seen (run_id, entity, id) VALUES (@run_id, @entity, @id);

-- name: SyncRunSeenClearStale :exec
-- Empties the working sets of runs that are no longer running.
DELETE FROM hub.sync_run_seen s
WHERE NOT EXISTS (SELECT 1 FROM hub.sync_runs r WHERE r.id = s.run_id AND r.status = 'running');

-- name: SyncRunAnyRunning :one
-- Whether any run is running, for whoever wants to empty the working sets
-- at once (SyncRunSeenClearStale's job, by TRUNCATE).
SELECT EXISTS (SELECT 1 FROM hub.sync_runs WHERE status = 'running')::boolean AS running;

-- name: PartnerStoresNothing :one
-- Whether the partner has no client and no channel stored, removed ones
-- included: its first sync, whose pages need not ask PageStored what is
-- stored (nothing is, and the run holds the partner's lock; a row that
-- appears all the same, a channel listed twice or a client written through
-- by `clients update`, makes the page's COPY fail and the page is upserted).
SELECT (NOT EXISTS (SELECT 1 FROM hub.clients c WHERE c.partner_id = @partner_id::text)
    AND NOT EXISTS (SELECT 1 FROM hub.channels h WHERE h.partner_id = @partner_id::text))::boolean AS empty;
