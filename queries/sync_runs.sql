-- name: SyncRunAbandonStale :many
-- Called while holding the partner's sync lock: any run still marked running
-- belongs to a process that died, since no other process can hold the lock.
UPDATE hub.sync_runs
SET status = 'abandoned',
    finished_at = now(),
    error = 'process stopped without finishing (last heartbeat ' || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
WHERE partner_id = @partner_id AND status = 'running'
RETURNING id;

-- name: SyncRunStart :one
INSERT INTO hub.sync_runs (partner_id, host)
VALUES (@partner_id, @host)
RETURNING id, started_at;

-- name: SyncRunProgress :exec
UPDATE hub.sync_runs
SET heartbeat_at = now(),
    pages = @pages,
    clients_seen = @clients_seen,
    clients_inserted = @clients_inserted,
    clients_updated = @clients_updated,
    channels_seen = @channels_seen,
    channels_inserted = @channels_inserted,
    channels_updated = @channels_updated,
    transitions = @transitions,
    api_requests = @api_requests,
    api_retries = @api_retries,
    api_throttled = @api_throttled
WHERE id = @id;

-- name: SyncRunFinish :exec
UPDATE hub.sync_runs
SET finished_at = now(),
    heartbeat_at = now(),
    status = @status,
    complete = @complete,
    pages = @pages,
    clients_seen = @clients_seen,
    clients_inserted = @clients_inserted,
    clients_updated = @clients_updated,
    clients_removed = @clients_removed,
    channels_seen = @channels_seen,
    channels_inserted = @channels_inserted,
    channels_updated = @channels_updated,
    channels_removed = @channels_removed,
    transitions = @transitions,
    api_requests = @api_requests,
    api_retries = @api_retries,
    api_throttled = @api_throttled,
    clients_failed = @clients_failed,
    bad_records = @bad_records,
    fields_made_safe = @fields_made_safe,
    unparseable_timestamps = @unparseable_timestamps,
    unknown_values = @unknown_values,
    unknown_value_list = @unknown_value_list,
    error = sqlc.narg(error)
WHERE id = @id AND status = 'running'; -- never overwrite a later run's abandoned mark

-- name: SyncRunGet :one
SELECT * FROM hub.sync_runs WHERE id = @id;

-- name: SyncRunLastSucceeded :one
-- The end of the partner's last successful run; NULL when there was none.
SELECT max(finished_at)::timestamptz AS finished_at
FROM hub.sync_runs
WHERE partner_id = @partner_id AND status = 'succeeded';

-- name: PartnerStoresNothing :one
-- Whether the partner has no client and no channel stored, removed ones
-- included: a first sync, which has nothing to compare its pages with.
SELECT (NOT EXISTS (SELECT 1 FROM hub.clients c WHERE c.partner_id = @partner_id::text)
    AND NOT EXISTS (SELECT 1 FROM hub.channels h WHERE h.partner_id = @partner_id::text))::boolean AS empty;
