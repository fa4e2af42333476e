-- name: ChannelStageCreate :exec
-- The session's staging table for channels (see staging/tables.sql).
CREATE TEMP TABLE IF NOT EXISTS channels_stage (LIKE hub.channels INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: ChannelStageCopy :copyfrom
INSERT INTO channels_stage (
    partner_id, id, client_id, status, availability_status, hub_status, current_limit,
    current_quality_rating, current_quality_update_event, phone_number, phone_name, certificate,
    default_language, ivr, verification_method, was_in_use, is_oba, settings_tier,
    settings_data_localization_region, settings_allowed_to_send_outbound, throughput_level,
    account_mode, is_migrated, has_inbox, version, created_at, cancelled_at, terminated_at,
    billing_started_at, raw, raw_original, content_hash)
VALUES (
    @partner_id, @id, @client_id, @status, @availability_status, @hub_status, @current_limit,
    @current_quality_rating, @current_quality_update_event, @phone_number, @phone_name, @certificate,
    @default_language, @ivr, @verification_method, @was_in_use, @is_oba, @settings_tier,
    @settings_data_localization_region, @settings_allowed_to_send_outbound, @throughput_level,
    @account_mode, @is_migrated, @has_inbox, @version, @created_at, @cancelled_at, @terminated_at,
    @billing_started_at, @raw, @raw_original, @content_hash);

-- name: ChannelUpsert :many
-- Writes the staged channels and their history in one statement, as
-- ClientUpsert does for clients. Tracked: status, availability_status,
-- current_quality_rating, current_limit (NULL → value on a first sighting or
-- a return, old → new on a change) and client_id (a move: old → new only,
-- as a first sighting has no owner to move from).
WITH prev AS (
    SELECT c.id, c.client_id, c.status, c.availability_status, c.current_quality_rating,
           c.current_limit, c.removed_at
    FROM hub.channels c
    -- An index lookup per staged id, whatever the statistics say: a hash
    -- join would read the whole table for every page of a first sync.
    WHERE c.partner_id = @partner_id AND c.id = ANY(ARRAY(SELECT s.id FROM channels_stage s))
),
up AS (
    INSERT INTO hub.channels AS c
    SELECT s.* FROM channels_stage s
    ON CONFLICT (partner_id, id) DO UPDATE SET
        client_id = excluded.client_id, status = excluded.status,
        availability_status = excluded.availability_status, hub_status = excluded.hub_status,
        current_limit = excluded.current_limit, current_quality_rating = excluded.current_quality_rating,
        current_quality_update_event = excluded.current_quality_update_event,
        phone_number = excluded.phone_number, phone_name = excluded.phone_name,
        certificate = excluded.certificate, default_language = excluded.default_language,
        ivr = excluded.ivr, verification_method = excluded.verification_method,
        was_in_use = excluded.was_in_use, is_oba = excluded.is_oba, settings_tier = excluded.settings_tier,
        settings_data_localization_region = excluded.settings_data_localization_region,
        settings_allowed_to_send_outbound = excluded.settings_allowed_to_send_outbound,
        throughput_level = excluded.throughput_level, account_mode = excluded.account_mode,
        is_migrated = excluded.is_migrated, has_inbox = excluded.has_inbox, version = excluded.version,
        created_at = excluded.created_at, cancelled_at = excluded.cancelled_at,
        terminated_at = excluded.terminated_at, billing_started_at = excluded.billing_started_at,
        raw = excluded.raw, raw_original = excluded.raw_original, content_hash = excluded.content_hash,
        updated_at = now(), removed_at = NULL
    WHERE c.content_hash IS DISTINCT FROM excluded.content_hash
       OR c.client_id IS DISTINCT FROM excluded.client_id
       OR c.removed_at IS NOT NULL
    RETURNING c.id
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT s.partner_id, 'channel', s.id, s.client_id, v.attribute,
           CASE WHEN v.attribute = 'client_id' OR p.removed_at IS NULL THEN v.old END, v.new,
           sqlc.narg(run_id)::bigint
    FROM channels_stage s
    JOIN up u ON u.id = s.id
    LEFT JOIN prev p ON p.id = s.id
    CROSS JOIN LATERAL (VALUES
        ('status', p.status, s.status),
        ('availability_status', p.availability_status, s.availability_status),
        ('current_quality_rating', p.current_quality_rating, s.current_quality_rating),
        ('current_limit', p.current_limit, s.current_limit),
        ('client_id', p.client_id, s.client_id)
    ) AS v(attribute, old, new)
    WHERE CASE
        WHEN v.attribute = 'client_id' THEN p.id IS NOT NULL AND p.client_id IS DISTINCT FROM s.client_id
        WHEN p.id IS NULL OR p.removed_at IS NOT NULL THEN v.new IS NOT NULL
        ELSE v.old IS DISTINCT FROM v.new
    END
    RETURNING attribute, from_value, to_value
)
SELECT 'inserted'::text AS kind, NULL::text AS attribute, NULL::text AS from_value, NULL::text AS to_value,
       count(*)::int AS n
FROM up u WHERE NOT EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id)
UNION ALL
SELECT 'updated', NULL, NULL, NULL, count(*)::int
FROM up u WHERE EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id)
UNION ALL
SELECT 'transition', h.attribute, h.from_value, h.to_value, count(*)::int
FROM hist h GROUP BY h.attribute, h.from_value, h.to_value;

-- name: ChannelStored :many
-- What is stored of the channels owned by the given clients, for the
-- syncer to skip unchanged ones (from channels_client_partner_idx alone).
-- Joined to the client ids, as ClientStored is.
SELECT c.id, c.client_id, c.content_hash, (c.removed_at IS NOT NULL)::boolean AS removed
FROM unnest(@client_ids::text[]) AS i(client_id)
JOIN hub.channels c ON c.client_id = i.client_id AND c.partner_id = @partner_id;

-- name: ChannelLiveIDs :many
-- The partner's live channels, for the removal step (index-only).
SELECT c.id FROM hub.channels c WHERE c.partner_id = @partner_id AND c.removed_at IS NULL;

-- name: ChannelMarkRemoved :many
-- Marks the given live channels removed. Status always gets a history row
-- to NULL; the other tracked attributes do when they had a value.
WITH gone AS (
    UPDATE hub.channels c
    SET removed_at = now(), updated_at = now()
    WHERE c.partner_id = @partner_id AND c.id = ANY(@ids::text[]) AND c.removed_at IS NULL
    RETURNING c.id, c.client_id, c.status, c.availability_status, c.current_quality_rating, c.current_limit
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT @partner_id, 'channel', g.id, g.client_id, v.attribute, v.old, NULL, @run_id
    FROM gone g
    CROSS JOIN LATERAL (VALUES
        ('status', g.status),
        ('availability_status', g.availability_status),
        ('current_quality_rating', g.current_quality_rating),
        ('current_limit', g.current_limit)
    ) AS v(attribute, old)
    WHERE v.attribute = 'status' OR v.old IS NOT NULL
    RETURNING attribute, from_value, to_value
)
SELECT 'removed'::text AS kind, NULL::text AS attribute, NULL::text AS from_value, NULL::text AS to_value,
       count(*)::int AS n
FROM gone
UNION ALL
SELECT 'transition', h.attribute, h.from_value, h.to_value, count(*)::int
FROM hist h GROUP BY h.attribute, h.from_value, h.to_value;

-- name: ChannelCountByStatus :many
-- Live channels by status, for the metric of the same name.
SELECT coalesce(status, '')::text AS status, count(*)::bigint AS channels
FROM hub.channels
WHERE partner_id = @partner_id AND removed_at IS NULL
GROUP BY 1
ORDER BY 1;
