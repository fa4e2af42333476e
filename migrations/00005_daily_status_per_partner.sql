-- hub.daily_channel_status counted every partner's channels together; one
-- database may hold several partners, so it is now per partner like every
-- other relation of schema hub.

-- +goose Up
DROP VIEW hub.daily_channel_status;
CREATE VIEW hub.daily_channel_status AS
WITH bounds AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS today
),
days AS (
    SELECT (b.today - g.n) AS day
    FROM bounds b, generate_series(0, 89) AS g(n)
),
live AS (
    SELECT c.partner_id, c.status, count(*) AS channels
    FROM hub.channels c
    WHERE c.removed_at IS NULL AND c.status IS NOT NULL
    GROUP BY c.partner_id, c.status
),
-- Net change of each status per partner and day: +1 for a row's to_value,
-- -1 for its from_value. Counting transitions first keeps the per-row work
-- to one scan.
transitions AS (
    SELECT h.partner_id, (h.changed_at AT TIME ZONE 'UTC')::date AS day, h.from_value, h.to_value, count(*) AS n
    FROM bounds b, hub.status_history h
    WHERE h.entity = 'channel' AND h.attribute = 'status'
      AND h.changed_at >= ((b.today - 88)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2, 3, 4
),
changes AS (
    SELECT v.partner_id, v.day, v.status, sum(v.delta) AS delta
    FROM (
        SELECT t.partner_id, t.day, t.to_value AS status, t.n AS delta FROM transitions t
        UNION ALL
        SELECT t.partner_id, t.day, t.from_value AS status, -t.n AS delta FROM transitions t
    ) AS v
    WHERE v.status IS NOT NULL
    GROUP BY 1, 2, 3
    -- A status entered and left within one day changes no end-of-day count.
    HAVING sum(v.delta) <> 0
),
statuses AS (
    SELECT partner_id, status FROM live
    UNION
    SELECT partner_id, status FROM changes
)
SELECT s.partner_id,
       d.day,
       s.status,
       (coalesce(l.channels, 0)
        - coalesce(sum(coalesce(c.delta, 0)) OVER (PARTITION BY s.partner_id, s.status ORDER BY d.day DESC
                                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
       )::bigint AS channels
FROM days d
CROSS JOIN statuses s
LEFT JOIN live l ON l.partner_id = s.partner_id AND l.status = s.status
LEFT JOIN changes c ON c.partner_id = s.partner_id AND c.day = d.day AND c.status = s.status;

COMMENT ON VIEW hub.daily_channel_status IS 'How many channels of each partner were in each status at the end of each day (UTC), for the last 90 days including today (today: as of now). Removed channels count in no status. One row per partner, day and status, zeros included, ready for a stacked chart: x = day, series = status, y = channels (filter on partner_id).';
COMMENT ON COLUMN hub.daily_channel_status.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.daily_channel_status.day IS 'The day (UTC date); the last 90 days up to today.';
COMMENT ON COLUMN hub.daily_channel_status.status IS 'Channel status: every status that some channel of the partner has now or had at the end of one of the 90 days.';
COMMENT ON COLUMN hub.daily_channel_status.channels IS 'Channels of the partner in that status at the end of the day (23:59:59.999 UTC), as the syncs observed it; for today, now.';

-- +goose Down
-- The view keeps its per-partner shape; 00002's Down drops it.
SELECT 1;
