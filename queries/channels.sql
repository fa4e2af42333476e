-- name: ChannelUpsert :one
-- Inserts or updates the given channels (a JSON array of rows, see
-- syncer.channelRow) and writes the history of every tracked attribute in the
-- same statement.
WITH input AS (
    SELECT (r).id AS id, (r).client_id AS client_id, (r).status AS status,
        (r).availability_status AS availability_status, (r).hub_status AS hub_status,
        (r).current_limit AS current_limit, (r).current_quality_rating AS current_quality_rating,
        (r).current_quality_update_event AS current_quality_update_event,
        (r).phone_number AS phone_number, (r).phone_name AS phone_name,
        (r).certificate AS certificate, (r).default_language AS default_language, (r).ivr AS ivr,
        (r).verification_method AS verification_method, (r).was_in_use AS was_in_use,
        (r).is_oba AS is_oba, (r).settings_tier AS settings_tier,
        (r).settings_data_localization_region AS settings_data_localization_region,
        (r).settings_allowed_to_send_outbound AS settings_allowed_to_send_outbound,
        (r).throughput_level AS throughput_level, (r).account_mode AS account_mode,
        (r).is_migrated AS is_migrated, (r).has_inbox AS has_inbox, (r).version AS version,
        (r).created_at AS created_at, (r).cancelled_at AS cancelled_at,
        (r).terminated_at AS terminated_at, (r).billing_started_at AS billing_started_at,
        (r).raw AS raw, (r).content_hash AS content_hash
    FROM jsonb_populate_recordset(NULL::hub.channels, @rows::jsonb) AS r
),
prev AS (
    -- The rows as they were before this statement: every part of a statement
    -- sees the same snapshot, so this is unaffected by the upsert below.
    SELECT c.id, c.client_id, c.status, c.availability_status, c.current_quality_rating,
           c.current_limit, c.removed_at
    FROM hub.channels c
    WHERE c.partner_id = @partner_id AND c.id = ANY(ARRAY(SELECT i.id FROM input i)) -- an index lookup, whatever the statistics say
),
up AS (
    INSERT INTO hub.channels AS c (
        partner_id, id, client_id, status, availability_status, hub_status, current_limit,
        current_quality_rating, current_quality_update_event, phone_number, phone_name, certificate,
        default_language, ivr, verification_method, was_in_use, is_oba, settings_tier,
        settings_data_localization_region, settings_allowed_to_send_outbound, throughput_level,
        account_mode, is_migrated, has_inbox, version, created_at, cancelled_at, terminated_at,
        billing_started_at, raw, content_hash)
    SELECT @partner_id, i.id, i.client_id, i.status, i.availability_status, i.hub_status, i.current_limit,
        i.current_quality_rating, i.current_quality_update_event, i.phone_number, i.phone_name, i.certificate,
        i.default_language, i.ivr, i.verification_method, i.was_in_use, i.is_oba, i.settings_tier,
        i.settings_data_localization_region, i.settings_allowed_to_send_outbound, i.throughput_level,
        i.account_mode, i.is_migrated, i.has_inbox, i.version, i.created_at, i.cancelled_at, i.terminated_at,
        i.billing_started_at, i.raw, i.content_hash
    FROM input i
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
        raw = excluded.raw, content_hash = excluded.content_hash,
        updated_at = now(), removed_at = NULL
    WHERE c.content_hash IS DISTINCT FROM excluded.content_hash
       OR c.client_id IS DISTINCT FROM excluded.client_id
       OR c.removed_at IS NOT NULL
    RETURNING c.id
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT @partner_id, 'channel', i.id, i.client_id, v.attribute,
           CASE WHEN v.attribute = 'client_id' OR p.removed_at IS NULL THEN v.old END, v.new,
           @run_id::bigint
    FROM input i
    JOIN up u ON u.id = i.id
    LEFT JOIN prev p ON p.id = i.id
    CROSS JOIN LATERAL (VALUES
        ('status', p.status, i.status),
        ('availability_status', p.availability_status, i.availability_status),
        ('current_quality_rating', p.current_quality_rating, i.current_quality_rating),
        ('current_limit', p.current_limit, i.current_limit),
        ('client_id', p.client_id, i.client_id)
    ) AS v(attribute, old, new)
    WHERE CASE
        WHEN v.attribute = 'client_id' THEN p.id IS NOT NULL AND p.client_id IS DISTINCT FROM i.client_id
        WHEN p.id IS NULL OR p.removed_at IS NOT NULL THEN v.new IS NOT NULL
        ELSE v.old IS DISTINCT FROM v.new
    END
    RETURNING attribute, from_value, to_value
)
SELECT (SELECT count(*) FROM up u WHERE NOT EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id))::int AS inserted,
       (SELECT count(*) FROM up u WHERE EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id))::int AS updated,
       coalesce((SELECT jsonb_object_agg(k, n) FROM (
           SELECT attribute || ':' || coalesce(from_value, '') || '>' || coalesce(to_value, '') AS k, count(*) AS n
           FROM hist GROUP BY 1) t), '{}')::jsonb AS transitions;

-- name: ChannelRemovalCount :one
-- How many live channels the run would mark removed, out of how many.
-- Two scalar subqueries, so that the second can be a hash anti join (a
-- NOT EXISTS inside FILTER would be a lookup per live row).
SELECT (SELECT count(*) FROM hub.channels c
        WHERE c.partner_id = @partner_id AND c.removed_at IS NULL)::int AS live,
       (SELECT count(*) FROM hub.channels c
        WHERE c.partner_id = @partner_id AND c.removed_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM hub.sync_run_seen s
                          WHERE s.run_id = @run_id AND s.entity = 'channel' AND s.id = c.id))::int AS missing;

-- name: ChannelMarkRemoved :one
-- Marks removed every live channel the run did not see. Status always gets a
-- history row to NULL; the other tracked attributes do when they had a value.
WITH gone AS (
    UPDATE hub.channels c
    SET removed_at = now(), updated_at = now()
    WHERE c.partner_id = @partner_id AND c.removed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM hub.sync_run_seen s
                      WHERE s.run_id = @run_id AND s.entity = 'channel' AND s.id = c.id)
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
SELECT (SELECT count(*) FROM gone)::int AS removed, coalesce((SELECT jsonb_object_agg(k, n) FROM (
           SELECT attribute || ':' || coalesce(from_value, '') || '>' || coalesce(to_value, '') AS k, count(*) AS n
           FROM hist GROUP BY 1) t), '{}')::jsonb AS transitions;

-- name: ChannelGet :one
SELECT * FROM hub.channels WHERE partner_id = @partner_id AND id = @id;

-- name: ChannelCountByStatus :many
-- Live channels by status, for the metric of the same name.
SELECT coalesce(status, '')::text AS status, count(*)::bigint AS channels
FROM hub.channels
WHERE partner_id = @partner_id AND removed_at IS NULL
GROUP BY 1
ORDER BY 1;
