-- name: SyncRunSeenAdd :many
-- Records ids as seen by the run and returns those not seen before in it, so
-- a record listed twice (pages overlapping, say) is processed once.
INSERT INTO hub.sync_run_seen (run_id, entity, id)
SELECT @run_id::bigint, @entity::text, unnest(@ids::text[])
ON CONFLICT DO NOTHING
RETURNING id;

-- name: SyncRunSeenClear :exec
DELETE FROM hub.sync_run_seen WHERE run_id = @run_id;

-- name: SyncRunSeenClearStale :exec
-- Empties the working sets of runs that are no longer running.
DELETE FROM hub.sync_run_seen s
WHERE NOT EXISTS (SELECT 1 FROM hub.sync_runs r WHERE r.id = s.run_id AND r.status = 'running');
