-- The schema of hubsync: one baseline (pre-release builds had migrations
-- 00001-00005; see the README). Tables first, then the analyst views.
--
-- Constraints and indexes are named, so that later migrations can refer to
-- them. status_history.sync_run_id has no foreign key: only the sync writes
-- it, with the id of the run it is in, and runs are never deleted; a
-- trigger per history row is what a first sync would pay for it.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS hub;
COMMENT ON SCHEMA hub IS 'hubsync: clients and WhatsApp channels of 360dialog partners, synced from the Partner API, with the history of every tracked change. Every table and view carries partner_id.';

-- ---------------------------------------------------------------- sync_runs
CREATE TABLE hub.sync_runs (
    id                     bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT sync_runs_pkey PRIMARY KEY,
    partner_id             text        NOT NULL,
    started_at             timestamptz NOT NULL DEFAULT now(),
    finished_at            timestamptz,
    heartbeat_at           timestamptz NOT NULL DEFAULT now(),
    status                 text        NOT NULL DEFAULT 'running'
        CONSTRAINT sync_runs_status_check CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned')),
    complete               boolean     NOT NULL DEFAULT false,
    host                   text,
    pages                  integer     NOT NULL DEFAULT 0,
    clients_seen           integer     NOT NULL DEFAULT 0,
    clients_inserted       integer     NOT NULL DEFAULT 0,
    clients_updated        integer     NOT NULL DEFAULT 0,
    clients_removed        integer     NOT NULL DEFAULT 0,
    channels_seen          integer     NOT NULL DEFAULT 0,
    channels_inserted      integer     NOT NULL DEFAULT 0,
    channels_updated       integer     NOT NULL DEFAULT 0,
    channels_removed       integer     NOT NULL DEFAULT 0,
    transitions            integer     NOT NULL DEFAULT 0,
    api_requests           integer     NOT NULL DEFAULT 0,
    api_retries            integer     NOT NULL DEFAULT 0,
    api_throttled          integer     NOT NULL DEFAULT 0,
    clients_failed         integer     NOT NULL DEFAULT 0,
    bad_records            integer     NOT NULL DEFAULT 0,
    fields_made_safe       integer     NOT NULL DEFAULT 0,
    unparseable_timestamps integer     NOT NULL DEFAULT 0,
    unknown_values         integer     NOT NULL DEFAULT 0,
    unknown_value_list     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error                  text
);
CREATE INDEX sync_runs_partner_started_idx ON hub.sync_runs (partner_id, started_at DESC);
CREATE INDEX sync_runs_running_idx ON hub.sync_runs (partner_id) WHERE status = 'running';

COMMENT ON TABLE hub.sync_runs IS 'One row per sync run: when it ran, how it ended, and what it saw and wrote. A run skipped because another run held the lock has no row.';
COMMENT ON COLUMN hub.sync_runs.id IS 'Run number; history rows point here through sync_run_id.';
COMMENT ON COLUMN hub.sync_runs.partner_id IS '360dialog partner whose clients this run synced.';
COMMENT ON COLUMN hub.sync_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN hub.sync_runs.finished_at IS 'When the run ended; NULL while running (or when the process died: see status abandoned).';
COMMENT ON COLUMN hub.sync_runs.heartbeat_at IS 'Last sign of life of the running process, refreshed about once a second while pages are written.';
COMMENT ON COLUMN hub.sync_runs.status IS 'running, succeeded (saw everything), partial (saw part; nothing marked removed), failed (stopped with an error; nothing marked removed) or abandoned (the process died; found by a later run).';
COMMENT ON COLUMN hub.sync_runs.complete IS 'True when the listing was proven complete and every client''s channels were fetched, so rows not seen were marked removed.';
COMMENT ON COLUMN hub.sync_runs.host IS 'Host name of the process that ran it.';
COMMENT ON COLUMN hub.sync_runs.pages IS 'Client list pages fetched.';
COMMENT ON COLUMN hub.sync_runs.clients_seen IS 'Distinct clients the API listed during the run.';
COMMENT ON COLUMN hub.sync_runs.clients_inserted IS 'Clients seen for the first time.';
COMMENT ON COLUMN hub.sync_runs.clients_updated IS 'Clients whose row changed (including a return after removal).';
COMMENT ON COLUMN hub.sync_runs.clients_removed IS 'Clients marked removed because a complete run no longer saw them.';
COMMENT ON COLUMN hub.sync_runs.channels_seen IS 'Distinct channels (shared numbers) the API returned during the run.';
COMMENT ON COLUMN hub.sync_runs.channels_inserted IS 'Channels seen for the first time.';
COMMENT ON COLUMN hub.sync_runs.channels_updated IS 'Channels whose row changed (including a move to another client or a return after removal).';
COMMENT ON COLUMN hub.sync_runs.channels_removed IS 'Channels marked removed because a complete run no longer saw them.';
COMMENT ON COLUMN hub.sync_runs.transitions IS 'History rows written by the run (all entities and attributes).';
COMMENT ON COLUMN hub.sync_runs.api_requests IS 'HTTP requests sent to the Partner API, retries included.';
COMMENT ON COLUMN hub.sync_runs.api_retries IS 'Requests that were retries of a failed attempt.';
COMMENT ON COLUMN hub.sync_runs.api_throttled IS 'Answers with HTTP 429 (rate limited).';
COMMENT ON COLUMN hub.sync_runs.clients_failed IS 'Clients whose shared numbers could not be fetched even after retries; their channels were left untouched.';
COMMENT ON COLUMN hub.sync_runs.bad_records IS 'Records the API sent that could not be stored and were skipped: not a JSON object, or without a usable id (a string of 1 to 256 bytes) or status (a string of at most 256 bytes).';
COMMENT ON COLUMN hub.sync_runs.fields_made_safe IS 'Fields of stored records that could not be stored as sent in their typed column (a wrong type, an integer beyond 64 bits, an unparseable timestamp, a tracked value over 256 bytes): the column is NULL, raw keeps the value. U+0000 and invalid UTF-8 replaced by U+FFFD count here too.';
COMMENT ON COLUMN hub.sync_runs.unparseable_timestamps IS 'Timestamp strings that could not be parsed; the typed column is NULL and the string stays in raw.';
COMMENT ON COLUMN hub.sync_runs.unknown_values IS 'Values outside the documented enums (a new status, say) seen in the run; stored as sent.';
COMMENT ON COLUMN hub.sync_runs.unknown_value_list IS 'The unknown enum values seen, as {"attribute=value": count}.';
COMMENT ON COLUMN hub.sync_runs.error IS 'Why the run ended failed or partial; NULL when it succeeded.';

-- ------------------------------------------------------------------ clients
CREATE TABLE hub.clients (
    partner_id               text        NOT NULL,
    id                       text        NOT NULL,
    name                     text,
    status                   text,
    partner_payload          text,
    max_channels             bigint,
    fb_business_id           text,
    organisation             text,
    contact_email            text,
    contact_phone            text,
    contact_webpage_url      text,
    contact_language         text,
    contact_country          text,
    contact_street_name      text,
    contact_city             text,
    contact_full_name        text,
    contact_zip_code         text,
    contact_user_name        text,
    contact_user_email       text,
    contact_user_phone       text,
    meta_info                jsonb,
    created_by               jsonb,
    modified_by              jsonb,
    suspicious               boolean,
    enabled_for_chat_support boolean,
    created_at               timestamptz,
    modified_at              timestamptz,
    raw                      jsonb       NOT NULL,
    raw_original             bytea,
    content_hash             bytea       NOT NULL,
    first_seen_at            timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    removed_at               timestamptz,
    CONSTRAINT clients_pkey PRIMARY KEY (partner_id, id)
);
-- Live clients by status; the ids ride along for the removal step, which
-- reads the live ids of a partner.
CREATE INDEX clients_live_idx ON hub.clients (partner_id, status) INCLUDE (id) WHERE removed_at IS NULL;
-- Lookups by id alone (analysts rarely write partner_id), and a page's
-- stored state for the sync, from the index alone.
CREATE INDEX clients_id_idx ON hub.clients (id, partner_id) INCLUDE (content_hash, removed_at);

COMMENT ON TABLE hub.clients IS 'One row per client (a business) of the partner, as last seen by a sync. Rows are never deleted: removed_at marks clients the API no longer lists.';
COMMENT ON COLUMN hub.clients.partner_id IS '360dialog partner the client belongs to.';
COMMENT ON COLUMN hub.clients.id IS 'Client id in the Partner API.';
COMMENT ON COLUMN hub.clients.name IS 'Client (company) name.';
COMMENT ON COLUMN hub.clients.status IS 'Client status as the API sends it; changes are tracked in hub.client_status_history.';
COMMENT ON COLUMN hub.clients.partner_payload IS 'Free text the partner sets on the client (PATCH) to drive its own logic.';
COMMENT ON COLUMN hub.clients.max_channels IS 'Maximum number of channels (phone numbers) the client may have.';
COMMENT ON COLUMN hub.clients.fb_business_id IS 'Meta business id of the first WhatsApp Business Account the client onboarded with.';
COMMENT ON COLUMN hub.clients.organisation IS 'Deprecated upstream field organisation.';
COMMENT ON COLUMN hub.clients.contact_email IS 'contact_info.email: the company''s contact e-mail.';
COMMENT ON COLUMN hub.clients.contact_phone IS 'contact_info.phone: the company''s phone.';
COMMENT ON COLUMN hub.clients.contact_webpage_url IS 'contact_info.webpage_url: the company''s web site.';
COMMENT ON COLUMN hub.clients.contact_language IS 'contact_info.language: preferred language.';
COMMENT ON COLUMN hub.clients.contact_country IS 'contact_info.country: country code.';
COMMENT ON COLUMN hub.clients.contact_street_name IS 'contact_info.street_name.';
COMMENT ON COLUMN hub.clients.contact_city IS 'contact_info.city.';
COMMENT ON COLUMN hub.clients.contact_full_name IS 'contact_info.full_name.';
COMMENT ON COLUMN hub.clients.contact_zip_code IS 'contact_info.zip_code.';
COMMENT ON COLUMN hub.clients.contact_user_name IS 'contact_user.name: the client''s contact person.';
COMMENT ON COLUMN hub.clients.contact_user_email IS 'contact_user.email: the contact person''s e-mail.';
COMMENT ON COLUMN hub.clients.contact_user_phone IS 'contact_user.phone: the contact person''s phone.';
COMMENT ON COLUMN hub.clients.meta_info IS 'Deprecated upstream object meta_info (business_vertical, timezone, about, business_description, use_case).';
COMMENT ON COLUMN hub.clients.created_by IS 'Upstream object created_by: who created the client.';
COMMENT ON COLUMN hub.clients.modified_by IS 'Upstream object modified_by: who last modified the client.';
COMMENT ON COLUMN hub.clients.suspicious IS 'Internal upstream flag suspicious (deprecated).';
COMMENT ON COLUMN hub.clients.enabled_for_chat_support IS 'Internal upstream flag enabled_for_chat_support (deprecated).';
COMMENT ON COLUMN hub.clients.created_at IS 'When the client was created upstream (UTC when the API sent no zone; NULL when unparseable, see raw).';
COMMENT ON COLUMN hub.clients.modified_at IS 'When the client was last modified upstream (NULL when absent or unparseable, see raw).';
COMMENT ON COLUMN hub.clients.raw IS 'The client object as the API sent it, unknown fields included. Where Postgres''s jsonb cannot hold it as sent (U+0000, a lone surrogate, invalid UTF-8, a duplicate key) it holds a safe copy, those characters replaced by U+FFFD, and raw_original the exact bytes.';
COMMENT ON COLUMN hub.clients.raw_original IS 'The client object exactly as received, byte for byte, when raw had to be made safe; NULL when raw is the object as sent. Read it with convert_from(raw_original, ''UTF8'') or encode(raw_original, ''escape'').';
COMMENT ON COLUMN hub.clients.content_hash IS 'SHA-256 of the object''s bytes as received; lets a sync skip unchanged rows without rewriting them.';
COMMENT ON COLUMN hub.clients.first_seen_at IS 'When a sync first saw the client.';
COMMENT ON COLUMN hub.clients.updated_at IS 'When this row''s content last changed (not when it was last checked).';
COMMENT ON COLUMN hub.clients.removed_at IS 'When a complete sync first no longer saw the client; NULL while the API lists it.';

-- ----------------------------------------------------------------- channels
CREATE TABLE hub.channels (
    partner_id                           text        NOT NULL,
    id                                   text        NOT NULL,
    client_id                            text        NOT NULL,
    status                               text,
    availability_status                  text,
    hub_status                           text,
    current_limit                        text,
    current_quality_rating               text,
    current_quality_update_event         text,
    phone_number                         text,
    phone_name                           text,
    certificate                          text,
    default_language                     text,
    ivr                                  boolean,
    verification_method                  text,
    was_in_use                           boolean,
    is_oba                               boolean,
    settings_tier                        text,
    settings_data_localization_region    text,
    settings_allowed_to_send_outbound    boolean,
    throughput_level                     text,
    account_mode                         text,
    is_migrated                          boolean,
    has_inbox                            boolean,
    version                              bigint,
    created_at                           timestamptz,
    cancelled_at                         timestamptz,
    terminated_at                        timestamptz,
    billing_started_at                   timestamptz,
    raw                                  jsonb       NOT NULL,
    raw_original                         bytea,
    content_hash                         bytea       NOT NULL,
    first_seen_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                           timestamptz NOT NULL DEFAULT now(),
    removed_at                           timestamptz,
    CONSTRAINT channels_pkey PRIMARY KEY (partner_id, id)
);
-- Live channels by status and by availability; the ids ride along for the
-- removal step.
CREATE INDEX channels_live_status_idx ON hub.channels (partner_id, status) INCLUDE (id) WHERE removed_at IS NULL;
CREATE INDEX channels_live_availability_idx ON hub.channels (partner_id, availability_status)
    WHERE removed_at IS NULL;
-- Channels by client, for analysts (who rarely name the partner) and for the
-- sync's lookup of a page's stored channels, from the index alone.
CREATE INDEX channels_client_partner_idx ON hub.channels (client_id, partner_id)
    INCLUDE (id, content_hash, removed_at);
-- Lookups by id alone.
CREATE INDEX channels_id_idx ON hub.channels (id);

COMMENT ON TABLE hub.channels IS 'One row per channel (a WhatsApp phone number a client shared with the partner), as last seen by a sync. Rows are never deleted: removed_at marks channels the API no longer returns. client_id has no foreign key on purpose: the API may report a channel under a client before that client is listed.';
COMMENT ON COLUMN hub.channels.partner_id IS '360dialog partner the channel belongs to.';
COMMENT ON COLUMN hub.channels.id IS 'Channel id in the Partner API; stable when the channel moves to another client.';
COMMENT ON COLUMN hub.channels.client_id IS 'Client that owns the channel now (hub.clients.id); moves are recorded in hub.status_history with attribute client_id.';
COMMENT ON COLUMN hub.channels.status IS 'Onboarding status (created, unverified, verified, ready, error, …; undocumented values are stored as sent). Changes are in hub.channel_status_history.';
COMMENT ON COLUMN hub.channels.availability_status IS 'Unified availability: setting_up, ready, error, cancelled, inactive (NULL when the API sends none). Changes are tracked in hub.status_history.';
COMMENT ON COLUMN hub.channels.hub_status IS 'Deprecated upstream hub status (live, draft, pending_deletion, …); use availability_status.';
COMMENT ON COLUMN hub.channels.current_limit IS 'Meta messaging limit tier: NA, TIER_50 … TIER_UNLIMITED. Changes are tracked in hub.status_history.';
COMMENT ON COLUMN hub.channels.current_quality_rating IS 'Meta quality rating: NA, Low, Medium, High. Changes are tracked in hub.status_history.';
COMMENT ON COLUMN hub.channels.current_quality_update_event IS 'Meta''s last quality update event for the number.';
COMMENT ON COLUMN hub.channels.phone_number IS 'setup_info.phone_number: the phone number.';
COMMENT ON COLUMN hub.channels.phone_name IS 'setup_info.phone_name: display name on WhatsApp.';
COMMENT ON COLUMN hub.channels.certificate IS 'setup_info.certificate: the number''s certificate on Meta.';
COMMENT ON COLUMN hub.channels.default_language IS 'setup_info.default_language.';
COMMENT ON COLUMN hub.channels.ivr IS 'setup_info.ivr: whether the number has interactive voice response.';
COMMENT ON COLUMN hub.channels.verification_method IS 'setup_info.verification_method: voice or sms.';
COMMENT ON COLUMN hub.channels.was_in_use IS 'setup_info.was_in_use: whether the number was already in use on WhatsApp.';
COMMENT ON COLUMN hub.channels.is_oba IS 'Whether the number is a Meta Official Business Account.';
COMMENT ON COLUMN hub.channels.settings_tier IS 'settings.tier: billing tier.';
COMMENT ON COLUMN hub.channels.settings_data_localization_region IS 'settings.data_localization_region: where Meta stores message data.';
COMMENT ON COLUMN hub.channels.settings_allowed_to_send_outbound IS 'settings.is_allowed_to_send_outbound_message (internal upstream flag).';
COMMENT ON COLUMN hub.channels.throughput_level IS 'settings.throughput.level: current throughput level.';
COMMENT ON COLUMN hub.channels.account_mode IS 'Deprecated upstream account_mode: live or sandbox.';
COMMENT ON COLUMN hub.channels.is_migrated IS 'Internal upstream flag is_migrated (deprecated).';
COMMENT ON COLUMN hub.channels.has_inbox IS 'Internal upstream flag has_inbox (deprecated).';
COMMENT ON COLUMN hub.channels.version IS 'Deprecated upstream version number.';
COMMENT ON COLUMN hub.channels.created_at IS 'When the channel was created upstream (UTC when the API sent no zone; NULL when unparseable, see raw).';
COMMENT ON COLUMN hub.channels.cancelled_at IS 'When the channel was cancelled upstream, if it was.';
COMMENT ON COLUMN hub.channels.terminated_at IS 'When the channel was (or will be) terminated upstream, if it was.';
COMMENT ON COLUMN hub.channels.billing_started_at IS 'Deprecated upstream billing_started_at.';
COMMENT ON COLUMN hub.channels.raw IS 'The channel object as the API sent it, unknown fields included. Where Postgres''s jsonb cannot hold it as sent (U+0000, a lone surrogate, invalid UTF-8, a duplicate key) it holds a safe copy, those characters replaced by U+FFFD, and raw_original the exact bytes.';
COMMENT ON COLUMN hub.channels.raw_original IS 'The channel object exactly as received, byte for byte, when raw had to be made safe; NULL when raw is the object as sent.';
COMMENT ON COLUMN hub.channels.content_hash IS 'SHA-256 of the object''s bytes as received; lets a sync skip unchanged rows without rewriting them.';
COMMENT ON COLUMN hub.channels.first_seen_at IS 'When a sync first saw the channel.';
COMMENT ON COLUMN hub.channels.updated_at IS 'When this row''s content last changed (not when it was last checked).';
COMMENT ON COLUMN hub.channels.removed_at IS 'When a complete sync first no longer saw the channel; NULL while the API returns it.';

-- ----------------------------------------------------------- status_history
CREATE TABLE hub.status_history (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT status_history_pkey PRIMARY KEY,
    partner_id   text        NOT NULL,
    entity       text        NOT NULL CONSTRAINT status_history_entity_check CHECK (entity IN ('client', 'channel')),
    entity_id    text        NOT NULL,
    client_id    text,
    attribute    text        NOT NULL,
    from_value   text,
    to_value     text,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    sync_run_id  bigint
);
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
-- Changes of one attribute over a time range: quality drops this week,
-- moves between clients. Changes only (from_value set): first sightings,
-- whose keys repeat across a whole page, would be most of it; additions and
-- returns by time come from status_history_channel_status_changed_idx and
-- the BRIN index. Queries write from_value IS NOT NULL to use it.
CREATE INDEX status_history_attribute_changed_idx ON hub.status_history (entity, attribute, changed_at)
    WHERE from_value IS NOT NULL;
-- One client's history, as status_history_channel_attribute_idx is one
-- channel's.
CREATE INDEX status_history_client_attribute_idx
    ON hub.status_history (entity_id, partner_id, attribute, changed_at, id) INCLUDE (to_value)
    WHERE entity = 'client';
-- Everything changed in a time range, or by one run: history is appended in
-- time order, so a BRIN index finds the blocks for next to nothing per
-- insert.
CREATE INDEX status_history_changed_run_brin ON hub.status_history USING brin (changed_at, sync_run_id);

COMMENT ON TABLE hub.status_history IS 'Every observed change of a tracked attribute: first sighting (from_value NULL), change, removal (to_value NULL) and return (from_value NULL). Written in the same transaction as the row it describes. Polling sees states, not events: changed_at is when a sync observed the change.';
COMMENT ON COLUMN hub.status_history.id IS 'Row number; increases with time.';
COMMENT ON COLUMN hub.status_history.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.status_history.entity IS 'client or channel.';
COMMENT ON COLUMN hub.status_history.entity_id IS 'hub.clients.id or hub.channels.id, as entity says.';
COMMENT ON COLUMN hub.status_history.client_id IS 'The client concerned: the client itself, or the channel''s owner after the change.';
COMMENT ON COLUMN hub.status_history.attribute IS 'What changed: status (clients and channels), availability_status, current_quality_rating, current_limit or client_id (channels).';
COMMENT ON COLUMN hub.status_history.from_value IS 'Value before the change; NULL on first sighting or return after removal.';
COMMENT ON COLUMN hub.status_history.to_value IS 'Value after the change; NULL when the row was removed.';
COMMENT ON COLUMN hub.status_history.changed_at IS 'When the change was observed. It happened after the previous run that saw the old value.';
COMMENT ON COLUMN hub.status_history.sync_run_id IS 'Run that observed it (hub.sync_runs.id); NULL for a write-through by hubsync clients update.';

-- ------------------------------------------------------------------- views
CREATE VIEW hub.channel_status_history AS
SELECT id, partner_id, entity_id AS channel_id, client_id,
       from_value AS from_status, to_value AS to_status, changed_at, sync_run_id
FROM hub.status_history
WHERE entity = 'channel' AND attribute = 'status';

COMMENT ON VIEW hub.channel_status_history IS 'Changes of channel status: first sighting (from_status NULL), change, removal (to_status NULL), return (from_status NULL).';
COMMENT ON COLUMN hub.channel_status_history.id IS 'hub.status_history.id.';
COMMENT ON COLUMN hub.channel_status_history.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.channel_status_history.channel_id IS 'hub.channels.id.';
COMMENT ON COLUMN hub.channel_status_history.client_id IS 'Client owning the channel at the time of the change.';
COMMENT ON COLUMN hub.channel_status_history.from_status IS 'Status before; NULL on first sighting or return after removal.';
COMMENT ON COLUMN hub.channel_status_history.to_status IS 'Status after; NULL when the channel was removed.';
COMMENT ON COLUMN hub.channel_status_history.changed_at IS 'When a sync observed the change.';
COMMENT ON COLUMN hub.channel_status_history.sync_run_id IS 'Run that observed it (hub.sync_runs.id).';

CREATE VIEW hub.channel_attribute_history AS
SELECT id, partner_id, entity_id AS channel_id, client_id, attribute,
       from_value, to_value, changed_at, sync_run_id
FROM hub.status_history
WHERE entity = 'channel';

COMMENT ON VIEW hub.channel_attribute_history IS 'Changes of every tracked channel attribute: status, availability_status, current_quality_rating, current_limit, and client_id (a move to another client). First sighting: from_value NULL; removal: to_value NULL; return: from_value NULL. Filter on attribute; write from_value IS NOT NULL for changes only (quality drops, moves), which an index serves.';
COMMENT ON COLUMN hub.channel_attribute_history.id IS 'hub.status_history.id.';
COMMENT ON COLUMN hub.channel_attribute_history.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.channel_attribute_history.channel_id IS 'hub.channels.id.';
COMMENT ON COLUMN hub.channel_attribute_history.client_id IS 'Client owning the channel after the change.';
COMMENT ON COLUMN hub.channel_attribute_history.attribute IS 'What changed: status, availability_status, current_quality_rating, current_limit or client_id.';
COMMENT ON COLUMN hub.channel_attribute_history.from_value IS 'Value before; NULL on first sighting or return after removal.';
COMMENT ON COLUMN hub.channel_attribute_history.to_value IS 'Value after; NULL when the channel was removed.';
COMMENT ON COLUMN hub.channel_attribute_history.changed_at IS 'When a sync observed the change.';
COMMENT ON COLUMN hub.channel_attribute_history.sync_run_id IS 'Run that observed it (hub.sync_runs.id).';

CREATE VIEW hub.client_status_history AS
SELECT id, partner_id, entity_id AS client_id,
       from_value AS from_status, to_value AS to_status, changed_at, sync_run_id
FROM hub.status_history
WHERE entity = 'client' AND attribute = 'status';

COMMENT ON VIEW hub.client_status_history IS 'Changes of client status: first sighting (from_status NULL), change, removal (to_status NULL), return (from_status NULL).';
COMMENT ON COLUMN hub.client_status_history.id IS 'hub.status_history.id.';
COMMENT ON COLUMN hub.client_status_history.partner_id IS '360dialog partner.';
COMMENT ON COLUMN hub.client_status_history.client_id IS 'hub.clients.id.';
COMMENT ON COLUMN hub.client_status_history.from_status IS 'Status before; NULL on first sighting or return after removal.';
COMMENT ON COLUMN hub.client_status_history.to_status IS 'Status after; NULL when the client was removed.';
COMMENT ON COLUMN hub.client_status_history.changed_at IS 'When a sync observed the change.';
COMMENT ON COLUMN hub.client_status_history.sync_run_id IS 'Run that observed it; NULL for a write-through by hubsync clients update.';
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
-- reads hub.channels once and only the recent history. That is exact
-- because every change writes its history row in the same transaction (see
-- the contract), and each status row's from_value is the previous row's
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
DROP SCHEMA hub CASCADE;
