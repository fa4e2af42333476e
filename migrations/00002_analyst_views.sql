-- Views for analysts and BI tools (GitHub issue 7), and the indexes that keep
-- them and the README's example queries fast at 250,000 channels and
-- 2,000,000 history rows (measured with `go run ./sync/analytics/querybench`).

-- +goose Up

-- ------------------------------------------------------------------ indexes
-- One channel's history of one attribute in time order, with the new value:
-- the latest status row for current_channels.status_since, the next one for
-- channel_status_intervals, the latest availability change, all index-only.
-- entity_id leads because analysts filter by channel id without partner_id.
CREATE INDEX status_history_channel_attribute_idx
    ON hub.status_history (entity_id, partner_id, attribute, changed_at, id) INCLUDE (to_value)
    WHERE entity = 'channel';
-- Channel status changes by time, with both values, for daily_channel_status
-- (which reads only the last 90 days of them).
CREATE INDEX status_history_channel_status_changed_idx ON hub.status_history (changed_at)
    INCLUDE (from_value, to_value)
    WHERE entity = 'channel' AND attribute = 'status';
-- Changes of one attribute over a time range, whatever the value: quality
-- drops this week, moves between clients, channels added per week.
CREATE INDEX status_history_attribute_changed_idx ON hub.status_history (entity, attribute, changed_at);
-- Lookups by id alone: the primary keys lead with partner_id, which analysts
-- rarely write.
CREATE INDEX clients_id_idx ON hub.clients (id);
CREATE INDEX channels_id_idx ON hub.channels (id);
CREATE INDEX channels_client_id_idx ON hub.channels (client_id);
-- Live channels by availability (channels stuck in setting_up, say).
CREATE INDEX channels_live_availability_idx ON hub.channels (partner_id, availability_status)
    WHERE removed_at IS NULL;

-- ---------------------------------------------------------- current_channels
-- The latest changes come from aggregates in LATERAL subqueries: each yields
-- exactly one row, so the planner drops the lookup from queries that do not
-- use its column (a count by status, say), and does it with one index probe
-- per channel for those that do.
CREATE VIEW hub.current_channels AS
SELECT ch.partner_id,
       ch.id AS channel_id,
       ch.client_id,
       cl.name AS client_name,
       cl.status AS client_status,
       cl.contact_email,
       cl.contact_user_name,
       cl.contact_user_email,
       cl.contact_user_phone,
       ch.status,
       coalesce(s.changed_at, ch.first_seen_at) AS status_since,
       now() - coalesce(s.changed_at, ch.first_seen_at) AS time_in_status,
       ch.availability_status,
       coalesce(a.changed_at, ch.first_seen_at) AS availability_since,
       ch.current_quality_rating,
       ch.current_limit,
       ch.phone_number,
       ch.phone_name,
       ch.is_oba,
       ch.created_at,
       ch.first_seen_at,
       ch.updated_at
FROM hub.channels ch
LEFT JOIN hub.clients cl ON cl.partner_id = ch.partner_id AND cl.id = ch.client_id
LEFT JOIN LATERAL (
    SELECT max(h.changed_at) AS changed_at
    FROM hub.status_history h
    WHERE h.entity_id = ch.id AND h.partner_id = ch.partner_id
      AND h.entity = 'channel' AND h.attribute = 'status'
) s ON true
LEFT JOIN LATERAL (
    SELECT max(h.changed_at) AS changed_at
    FROM hub.status_history h
    WHERE h.entity_id = ch.id AND h.partner_id = ch.partner_id
      AND h.entity = 'channel' AND h.attribute = 'availability_status'
) a ON true
WHERE ch.removed_at IS NULL;

COMMENT ON VIEW hub.current_channels IS 'Live channels (not removed) with their client''s name and contacts, their current status, availability, quality and limit, and how long they have been in their status. Start here for "what does it look like now".';
COMMENT ON COLUMN hub.current_channels.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.current_channels.channel_id IS 'hub.channels.id.';
COMMENT ON COLUMN hub.current_channels.client_id IS 'Client owning the channel now (hub.clients.id).';
COMMENT ON COLUMN hub.current_channels.client_name IS 'The client''s name; NULL when the client has not been synced (yet).';
COMMENT ON COLUMN hub.current_channels.client_status IS 'The client''s status.';
COMMENT ON COLUMN hub.current_channels.contact_email IS 'The client''s contact e-mail (contact_info.email).';
COMMENT ON COLUMN hub.current_channels.contact_user_name IS 'The client''s contact person (contact_user.name).';
COMMENT ON COLUMN hub.current_channels.contact_user_email IS 'The contact person''s e-mail (contact_user.email).';
COMMENT ON COLUMN hub.current_channels.contact_user_phone IS 'The contact person''s phone (contact_user.phone).';
COMMENT ON COLUMN hub.current_channels.status IS 'Current onboarding status (ready, error, …).';
COMMENT ON COLUMN hub.current_channels.status_since IS 'When a sync observed the channel entering its current status (the latest status history row; first_seen_at if there is none). The change happened between the previous run and this time.';
COMMENT ON COLUMN hub.current_channels.time_in_status IS 'now() - status_since: how long the channel has been in its current status.';
COMMENT ON COLUMN hub.current_channels.availability_status IS 'Current availability: setting_up, ready, error, cancelled, inactive (NULL when the API sends none).';
COMMENT ON COLUMN hub.current_channels.availability_since IS 'When a sync observed the channel entering its current availability_status (the latest availability history row; first_seen_at if there is none).';
COMMENT ON COLUMN hub.current_channels.current_quality_rating IS 'Current Meta quality rating: High, Medium, Low or NA.';
COMMENT ON COLUMN hub.current_channels.current_limit IS 'Current Meta messaging limit tier (TIER_50 … TIER_UNLIMITED, NA).';
COMMENT ON COLUMN hub.current_channels.phone_number IS 'The phone number.';
COMMENT ON COLUMN hub.current_channels.phone_name IS 'Display name on WhatsApp.';
COMMENT ON COLUMN hub.current_channels.is_oba IS 'Whether the number is a Meta Official Business Account.';
COMMENT ON COLUMN hub.current_channels.created_at IS 'When the channel was created upstream.';
COMMENT ON COLUMN hub.current_channels.first_seen_at IS 'When a sync first saw the channel.';
COMMENT ON COLUMN hub.current_channels.updated_at IS 'When the channel''s row last changed.';

-- -------------------------------------------------- channel_status_intervals
-- A lateral lookup of the next status row (not a window function) so that a
-- filter on status, channel_id or valid_from narrows the scan before the
-- lookups instead of after a pass over the whole history.
CREATE VIEW hub.channel_status_intervals AS
SELECT h.partner_id,
       h.entity_id AS channel_id,
       h.client_id,
       h.to_value AS status,
       h.changed_at AS valid_from,
       n.changed_at AS valid_to,
       coalesce(n.changed_at, now()) - h.changed_at AS duration,
       n.changed_at IS NULL AS is_current,
       n.to_value AS next_status
FROM hub.status_history h
LEFT JOIN LATERAL (
    SELECT x.changed_at, x.to_value
    FROM hub.status_history x
    WHERE x.entity_id = h.entity_id AND x.partner_id = h.partner_id
      AND x.entity = 'channel' AND x.attribute = 'status'
      AND (x.changed_at, x.id) > (h.changed_at, h.id)
    ORDER BY x.changed_at, x.id
    LIMIT 1
) n ON true
WHERE h.entity = 'channel' AND h.attribute = 'status' AND h.to_value IS NOT NULL;

COMMENT ON VIEW hub.channel_status_intervals IS 'One row per period a channel spent in one status (a slowly changing dimension, type 2), from hub.status_history. A period starts when a sync observed the status and ends when it observed the next one or the removal; the time a channel spent removed is no period. Times are observations: the real change happened after the previous run.';
COMMENT ON COLUMN hub.channel_status_intervals.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.channel_status_intervals.channel_id IS 'hub.channels.id.';
COMMENT ON COLUMN hub.channel_status_intervals.client_id IS 'Client owning the channel when the period began.';
COMMENT ON COLUMN hub.channel_status_intervals.status IS 'The status during the period (never NULL).';
COMMENT ON COLUMN hub.channel_status_intervals.valid_from IS 'When a sync observed the channel entering the status (inclusive).';
COMMENT ON COLUMN hub.channel_status_intervals.valid_to IS 'When a sync observed it leaving the status, by a change or a removal (exclusive); NULL while current.';
COMMENT ON COLUMN hub.channel_status_intervals.duration IS 'valid_to - valid_from; while current, now() - valid_from.';
COMMENT ON COLUMN hub.channel_status_intervals.is_current IS 'True for the period the channel is in now (valid_to NULL).';
COMMENT ON COLUMN hub.channel_status_intervals.next_status IS 'Status the channel went to when the period ended; NULL while current or when the period ended with the channel''s removal.';

-- ------------------------------------------------------ daily_channel_status
-- Walks back from the current counts with the last 90 days of changes, so it
-- reads hub.channels once and only the recent history (index above). That is
-- exact because every change writes its history row in the same transaction
-- (see the contract), and each status row's from_value is the previous row's
-- to_value.
CREATE VIEW hub.daily_channel_status AS
WITH bounds AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS today
),
days AS (
    SELECT (b.today - g.n) AS day
    FROM bounds b, generate_series(0, 89) AS g(n)
),
live AS (
    SELECT c.status, count(*) AS channels
    FROM hub.channels c
    WHERE c.removed_at IS NULL AND c.status IS NOT NULL
    GROUP BY c.status
),
-- Net change of each status per day: +1 for a row's to_value, -1 for its
-- from_value. Counting transitions first keeps the per-row work to one scan.
transitions AS (
    SELECT (h.changed_at AT TIME ZONE 'UTC')::date AS day, h.from_value, h.to_value, count(*) AS n
    FROM bounds b, hub.status_history h
    WHERE h.entity = 'channel' AND h.attribute = 'status'
      AND h.changed_at >= ((b.today - 88)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2, 3
),
changes AS (
    SELECT v.day, v.status, sum(v.delta) AS delta
    FROM (
        SELECT t.day, t.to_value AS status, t.n AS delta FROM transitions t
        UNION ALL
        SELECT t.day, t.from_value AS status, -t.n AS delta FROM transitions t
    ) AS v
    WHERE v.status IS NOT NULL
    GROUP BY 1, 2
    -- A status entered and left within one day changes no end-of-day count.
    HAVING sum(v.delta) <> 0
),
statuses AS (
    SELECT status FROM live
    UNION
    SELECT status FROM changes
)
SELECT d.day,
       s.status,
       (coalesce(l.channels, 0)
        - coalesce(sum(coalesce(c.delta, 0)) OVER (PARTITION BY s.status ORDER BY d.day DESC
                                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
       )::bigint AS channels
FROM days d
CROSS JOIN statuses s
LEFT JOIN live l ON l.status = s.status
LEFT JOIN changes c ON c.day = d.day AND c.status = s.status;

COMMENT ON VIEW hub.daily_channel_status IS 'How many channels were in each status at the end of each day (UTC), for the last 90 days including today (today: as of now). Removed channels count in no status. One row per day and status, zeros included, ready for a stacked chart: x = day, series = status, y = channels. All partners together.';
COMMENT ON COLUMN hub.daily_channel_status.day IS 'The day (UTC date); the last 90 days up to today.';
COMMENT ON COLUMN hub.daily_channel_status.status IS 'Channel status: every status that some channel has now or had at the end of one of the 90 days.';
COMMENT ON COLUMN hub.daily_channel_status.channels IS 'Channels in that status at the end of the day (23:59:59.999 UTC), as the syncs observed it; for today, now.';

-- ------------------------------------------------------------ client_overview
CREATE VIEW hub.client_overview AS
SELECT cl.partner_id,
       cl.id AS client_id,
       cl.name,
       cl.status,
       cl.removed_at IS NOT NULL AS removed,
       cl.contact_email,
       coalesce(ch.channels_total, 0) AS channels_total,
       coalesce(ch.channels_ready, 0) AS channels_ready,
       coalesce(ch.channels_error, 0) AS channels_error,
       coalesce(ch.channels_other_status, 0) AS channels_other_status,
       coalesce(ch.channels_setting_up, 0) AS channels_setting_up,
       coalesce(ch.channels_availability_ready, 0) AS channels_availability_ready,
       coalesce(ch.channels_availability_error, 0) AS channels_availability_error,
       coalesce(ch.channels_cancelled, 0) AS channels_cancelled,
       coalesce(ch.channels_inactive, 0) AS channels_inactive,
       coalesce(ch.channels_availability_other, 0) AS channels_availability_other,
       coalesce(ch.channels_removed, 0) AS channels_removed,
       (ARRAY['High', 'Medium', 'Low'])[ch.worst_quality_rank] AS worst_quality_rating,
       cl.max_channels,
       cl.max_channels - coalesce(ch.channels_total, 0) AS headroom,
       greatest(cl.updated_at, ch.channels_updated_at) AS last_changed_at
FROM hub.clients cl
LEFT JOIN (
    SELECT c.partner_id, c.client_id,
           count(*) FILTER (WHERE c.removed_at IS NULL) AS channels_total,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.status = 'ready') AS channels_ready,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.status = 'error') AS channels_error,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.status IS DISTINCT FROM 'ready'
                                 AND c.status IS DISTINCT FROM 'error') AS channels_other_status,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.availability_status = 'setting_up') AS channels_setting_up,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.availability_status = 'ready') AS channels_availability_ready,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.availability_status = 'error') AS channels_availability_error,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.availability_status = 'cancelled') AS channels_cancelled,
           count(*) FILTER (WHERE c.removed_at IS NULL AND c.availability_status = 'inactive') AS channels_inactive,
           count(*) FILTER (WHERE c.removed_at IS NULL AND (c.availability_status IS NULL
                                 OR c.availability_status NOT IN ('setting_up', 'ready', 'error', 'cancelled', 'inactive')))
               AS channels_availability_other,
           count(*) FILTER (WHERE c.removed_at IS NOT NULL) AS channels_removed,
           max(array_position(ARRAY['High', 'Medium', 'Low'], c.current_quality_rating))
               FILTER (WHERE c.removed_at IS NULL) AS worst_quality_rank,
           max(c.updated_at) AS channels_updated_at
    FROM hub.channels c
    GROUP BY c.partner_id, c.client_id
) ch ON ch.partner_id = cl.partner_id AND ch.client_id = cl.id;

COMMENT ON VIEW hub.client_overview IS 'One row per client, removed ones included (see removed), with counts of its live channels by status and by availability, its worst quality rating, its channel headroom and when anything about it last changed.';
COMMENT ON COLUMN hub.client_overview.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.client_overview.client_id IS 'hub.clients.id.';
COMMENT ON COLUMN hub.client_overview.name IS 'Client (company) name.';
COMMENT ON COLUMN hub.client_overview.status IS 'Client status.';
COMMENT ON COLUMN hub.client_overview.removed IS 'True when the API no longer lists the client (hub.clients.removed_at is set).';
COMMENT ON COLUMN hub.client_overview.contact_email IS 'The client''s contact e-mail.';
COMMENT ON COLUMN hub.client_overview.channels_total IS 'Live (not removed) channels the client owns now.';
COMMENT ON COLUMN hub.client_overview.channels_ready IS 'Live channels with status ready.';
COMMENT ON COLUMN hub.client_overview.channels_error IS 'Live channels with status error.';
COMMENT ON COLUMN hub.client_overview.channels_other_status IS 'Live channels with any other status (onboarding steps, migration, undocumented values, NULL).';
COMMENT ON COLUMN hub.client_overview.channels_setting_up IS 'Live channels with availability_status setting_up.';
COMMENT ON COLUMN hub.client_overview.channels_availability_ready IS 'Live channels with availability_status ready.';
COMMENT ON COLUMN hub.client_overview.channels_availability_error IS 'Live channels with availability_status error.';
COMMENT ON COLUMN hub.client_overview.channels_cancelled IS 'Live channels with availability_status cancelled.';
COMMENT ON COLUMN hub.client_overview.channels_inactive IS 'Live channels with availability_status inactive.';
COMMENT ON COLUMN hub.client_overview.channels_availability_other IS 'Live channels with no availability_status or an undocumented one.';
COMMENT ON COLUMN hub.client_overview.channels_removed IS 'Removed channels whose last owner was this client.';
COMMENT ON COLUMN hub.client_overview.worst_quality_rating IS 'Worst current quality rating among the live channels (Low is worse than Medium, Medium than High); NA and undocumented values are ignored; NULL when none has a rating.';
COMMENT ON COLUMN hub.client_overview.max_channels IS 'Maximum number of channels the client may have.';
COMMENT ON COLUMN hub.client_overview.headroom IS 'max_channels - channels_total: channels the client can still add (negative when over); NULL when max_channels is unknown.';
COMMENT ON COLUMN hub.client_overview.last_changed_at IS 'When anything about the client last changed: the latest updated_at of the client and of the channels it owns (removed ones included).';

-- +goose Down
DROP VIEW hub.client_overview;
DROP VIEW hub.daily_channel_status;
DROP VIEW hub.channel_status_intervals;
DROP VIEW hub.current_channels;
DROP INDEX hub.channels_live_availability_idx;
DROP INDEX hub.channels_client_id_idx;
DROP INDEX hub.channels_id_idx;
DROP INDEX hub.clients_id_idx;
DROP INDEX hub.status_history_attribute_changed_idx;
DROP INDEX hub.status_history_channel_status_changed_idx;
DROP INDEX hub.status_history_channel_attribute_idx;
