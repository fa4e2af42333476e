-- name: ClientUpsert :one
-- Inserts or updates the given clients (a JSON array of rows, see
-- syncer.clientRow) and writes their status history in the same statement.
WITH input AS (
    SELECT (r).id AS id, (r).name AS name, (r).status AS status,
        (r).partner_payload AS partner_payload, (r).max_channels AS max_channels,
        (r).fb_business_id AS fb_business_id, (r).organisation AS organisation,
        (r).contact_email AS contact_email, (r).contact_phone AS contact_phone,
        (r).contact_webpage_url AS contact_webpage_url, (r).contact_language AS contact_language,
        (r).contact_country AS contact_country, (r).contact_street_name AS contact_street_name,
        (r).contact_city AS contact_city, (r).contact_full_name AS contact_full_name,
        (r).contact_zip_code AS contact_zip_code, (r).contact_user_name AS contact_user_name,
        (r).contact_user_email AS contact_user_email, (r).contact_user_phone AS contact_user_phone,
        (r).meta_info AS meta_info, (r).created_by AS created_by, (r).modified_by AS modified_by,
        (r).suspicious AS suspicious, (r).enabled_for_chat_support AS enabled_for_chat_support,
        (r).created_at AS created_at, (r).modified_at AS modified_at, (r).raw AS raw,
        (r).content_hash AS content_hash
    FROM jsonb_populate_recordset(NULL::hub.clients, @rows::jsonb) AS r
),
prev AS (
    -- The rows as they were before this statement: every part of a statement
    -- sees the same snapshot, so this is unaffected by the upsert below.
    SELECT c.id, c.status, c.removed_at
    FROM hub.clients c
    WHERE c.partner_id = @partner_id AND c.id = ANY(ARRAY(SELECT i.id FROM input i)) -- an index lookup, whatever the statistics say
),
up AS (
    INSERT INTO hub.clients AS c (
        partner_id, id, name, status, partner_payload, max_channels, fb_business_id, organisation,
        contact_email, contact_phone, contact_webpage_url, contact_language, contact_country,
        contact_street_name, contact_city, contact_full_name, contact_zip_code,
        contact_user_name, contact_user_email, contact_user_phone,
        meta_info, created_by, modified_by, suspicious, enabled_for_chat_support,
        created_at, modified_at, raw, content_hash)
    SELECT @partner_id, i.id, i.name, i.status, i.partner_payload, i.max_channels, i.fb_business_id, i.organisation,
        i.contact_email, i.contact_phone, i.contact_webpage_url, i.contact_language, i.contact_country,
        i.contact_street_name, i.contact_city, i.contact_full_name, i.contact_zip_code,
        i.contact_user_name, i.contact_user_email, i.contact_user_phone,
        i.meta_info, i.created_by, i.modified_by, i.suspicious, i.enabled_for_chat_support,
        i.created_at, i.modified_at, i.raw, i.content_hash
    FROM input i
    ON CONFLICT (partner_id, id) DO UPDATE SET
        name = excluded.name, status = excluded.status, partner_payload = excluded.partner_payload,
        max_channels = excluded.max_channels, fb_business_id = excluded.fb_business_id,
        organisation = excluded.organisation, contact_email = excluded.contact_email,
        contact_phone = excluded.contact_phone, contact_webpage_url = excluded.contact_webpage_url,
        contact_language = excluded.contact_language, contact_country = excluded.contact_country,
        contact_street_name = excluded.contact_street_name, contact_city = excluded.contact_city,
        contact_full_name = excluded.contact_full_name, contact_zip_code = excluded.contact_zip_code,
        contact_user_name = excluded.contact_user_name, contact_user_email = excluded.contact_user_email,
        contact_user_phone = excluded.contact_user_phone, meta_info = excluded.meta_info,
        created_by = excluded.created_by, modified_by = excluded.modified_by,
        suspicious = excluded.suspicious, enabled_for_chat_support = excluded.enabled_for_chat_support,
        created_at = excluded.created_at, modified_at = excluded.modified_at,
        raw = excluded.raw, content_hash = excluded.content_hash,
        updated_at = now(), removed_at = NULL
    WHERE c.content_hash IS DISTINCT FROM excluded.content_hash OR c.removed_at IS NOT NULL
    RETURNING c.id
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT @partner_id, 'client', i.id, i.id, 'status',
           CASE WHEN p.removed_at IS NULL THEN p.status END, i.status, sqlc.narg(run_id)::bigint
    FROM input i
    JOIN up u ON u.id = i.id
    LEFT JOIN prev p ON p.id = i.id
    WHERE CASE WHEN p.id IS NULL OR p.removed_at IS NOT NULL THEN i.status IS NOT NULL
               ELSE p.status IS DISTINCT FROM i.status END
    RETURNING attribute, from_value, to_value
)
SELECT (SELECT count(*) FROM up u WHERE NOT EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id))::int AS inserted,
       (SELECT count(*) FROM up u WHERE EXISTS (SELECT 1 FROM prev p WHERE p.id = u.id))::int AS updated,
       coalesce((SELECT jsonb_object_agg(k, n) FROM (
           SELECT attribute || ':' || coalesce(from_value, '') || '>' || coalesce(to_value, '') AS k, count(*) AS n
           FROM hist GROUP BY 1) t), '{}')::jsonb AS transitions;

-- name: ClientRemovalCount :one
-- How many live clients the run would mark removed, out of how many.
-- Two scalar subqueries, so that the second can be a hash anti join (a
-- NOT EXISTS inside FILTER would be a lookup per live row).
SELECT (SELECT count(*) FROM hub.clients c
        WHERE c.partner_id = @partner_id AND c.removed_at IS NULL)::int AS live,
       (SELECT count(*) FROM hub.clients c
        WHERE c.partner_id = @partner_id AND c.removed_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM hub.sync_run_seen s
                          WHERE s.run_id = @run_id AND s.entity = 'client' AND s.id = c.id))::int AS missing;

-- name: ClientMarkRemoved :one
-- Marks removed every live client the run did not see, with history.
WITH gone AS (
    UPDATE hub.clients c
    SET removed_at = now(), updated_at = now()
    WHERE c.partner_id = @partner_id AND c.removed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM hub.sync_run_seen s
                      WHERE s.run_id = @run_id AND s.entity = 'client' AND s.id = c.id)
    RETURNING c.id, c.status
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT @partner_id, 'client', g.id, g.id, 'status', g.status, NULL, @run_id
    FROM gone g
    RETURNING attribute, from_value, to_value
)
SELECT (SELECT count(*) FROM gone)::int AS removed, coalesce((SELECT jsonb_object_agg(k, n) FROM (
           SELECT attribute || ':' || coalesce(from_value, '') || '>' || coalesce(to_value, '') AS k, count(*) AS n
           FROM hist GROUP BY 1) t), '{}')::jsonb AS transitions;

-- name: ClientGet :one
SELECT * FROM hub.clients WHERE partner_id = @partner_id AND id = @id;
