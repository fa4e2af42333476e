-- name: ClientStageCreate :exec
-- The session's staging table for clients (see staging/tables.sql).
CREATE TEMP TABLE IF NOT EXISTS clients_stage (LIKE hub.clients INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: ClientStageCopy :copyfrom
INSERT INTO clients_stage (
    partner_id, id, name, status, partner_payload, max_channels, fb_business_id, organisation,
    contact_email, contact_phone, contact_webpage_url, contact_language, contact_country,
    contact_street_name, contact_city, contact_full_name, contact_zip_code, contact_user_name,
    contact_user_email, contact_user_phone, meta_info, created_by, modified_by, suspicious,
    enabled_for_chat_support, created_at, modified_at, raw, raw_original, content_hash)
VALUES (
    @partner_id, @id, @name, @status, @partner_payload, @max_channels, @fb_business_id,
    @organisation, @contact_email, @contact_phone, @contact_webpage_url, @contact_language,
    @contact_country, @contact_street_name, @contact_city, @contact_full_name, @contact_zip_code,
    @contact_user_name, @contact_user_email, @contact_user_phone, @meta_info, @created_by,
    @modified_by, @suspicious, @enabled_for_chat_support, @created_at, @modified_at, @raw,
    @raw_original, @content_hash);

-- name: ClientUpsert :many
-- Writes the staged clients and their status history in one statement: new
-- rows, changed rows (another content hash) and returning ones; an
-- unchanged row is not touched. The history rule, for every tracked
-- attribute: a first sighting or a return writes NULL → value (when there is
-- a value); a change writes old → new. Returns the rows inserted and
-- updated, and the history written by (attribute, from, to).
WITH prev AS (
    -- The rows as they were before this statement: every part of a statement
    -- sees the same snapshot, so this is unaffected by the upsert below.
    SELECT c.id, c.status, c.removed_at
    FROM hub.clients c
    -- An index lookup per staged id, whatever the statistics say: a hash
    -- join would read the whole table for every page of a first sync.
    WHERE c.partner_id = @partner_id AND c.id = ANY(ARRAY(SELECT s.id FROM clients_stage s))
),
up AS (
    INSERT INTO hub.clients AS c
    SELECT s.* FROM clients_stage s
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
        raw = excluded.raw, raw_original = excluded.raw_original, content_hash = excluded.content_hash,
        updated_at = now(), removed_at = NULL
    WHERE c.content_hash IS DISTINCT FROM excluded.content_hash OR c.removed_at IS NOT NULL
    RETURNING c.id
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT s.partner_id, 'client', s.id, s.id, 'status',
           CASE WHEN p.removed_at IS NULL THEN p.status END, s.status, sqlc.narg(run_id)::bigint
    FROM clients_stage s
    JOIN up u ON u.id = s.id
    LEFT JOIN prev p ON p.id = s.id
    WHERE CASE WHEN p.id IS NULL OR p.removed_at IS NOT NULL THEN s.status IS NOT NULL
               ELSE p.status IS DISTINCT FROM s.status END
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

-- name: ClientStored :many
-- What is stored of the given clients, for the syncer to skip unchanged ones.
-- Joined to the ids rather than filtered by them, so that it is an index
-- lookup per id whatever the table's statistics say (a first sync's tables
-- grow faster than ANALYZE sees).
SELECT c.id, c.content_hash, (c.removed_at IS NOT NULL)::boolean AS removed
FROM unnest(@ids::text[]) AS i(id)
JOIN hub.clients c ON c.partner_id = @partner_id AND c.id = i.id;

-- name: ClientLiveIDs :many
-- The partner's live clients, for the removal step (index-only).
SELECT c.id FROM hub.clients c WHERE c.partner_id = @partner_id AND c.removed_at IS NULL;

-- name: ClientMarkRemoved :many
-- Marks the given live clients removed, with a status history row to NULL.
-- Returns the rows removed and the history written, as ClientUpsert does.
WITH gone AS (
    UPDATE hub.clients c
    SET removed_at = now(), updated_at = now()
    WHERE c.partner_id = @partner_id AND c.id = ANY(@ids::text[]) AND c.removed_at IS NULL
    RETURNING c.id, c.status
),
hist AS (
    INSERT INTO hub.status_history (partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
    SELECT @partner_id, 'client', g.id, g.id, 'status', g.status, NULL, @run_id
    FROM gone g
    RETURNING attribute, from_value, to_value
)
SELECT 'removed'::text AS kind, NULL::text AS attribute, NULL::text AS from_value, NULL::text AS to_value,
       count(*)::int AS n
FROM gone
UNION ALL
SELECT 'transition', h.attribute, h.from_value, h.to_value, count(*)::int
FROM hist h GROUP BY h.attribute, h.from_value, h.to_value;
