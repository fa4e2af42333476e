-- +goose Up
CREATE SCHEMA IF NOT EXISTS hub;
COMMENT ON SCHEMA hub IS 'hubsync: clients and WhatsApp channels of a 360dialog partner, synced from the Partner API, with the history of every tracked change.';

-- ---------------------------------------------------------------- sync_runs
CREATE TABLE hub.sync_runs (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id             text        NOT NULL,
    started_at             timestamptz NOT NULL DEFAULT now(),
    finished_at            timestamptz,
    heartbeat_at           timestamptz NOT NULL DEFAULT now(),
    status                 text        NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned')),
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
COMMENT ON COLUMN hub.sync_runs.heartbeat_at IS 'Last sign of life of the running process, refreshed as pages are written.';
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
COMMENT ON COLUMN hub.sync_runs.bad_records IS 'Records the API sent that could not be used (malformed, no id, channel without status) and were skipped.';
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
    content_hash             bytea       NOT NULL,
    first_seen_at            timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    removed_at               timestamptz,
    PRIMARY KEY (partner_id, id)
);
CREATE INDEX clients_live_idx ON hub.clients (partner_id, status) WHERE removed_at IS NULL;

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
COMMENT ON COLUMN hub.clients.raw IS 'The client object exactly as the API sent it, unknown fields included.';
COMMENT ON COLUMN hub.clients.content_hash IS 'SHA-256 of raw as received; lets a sync skip unchanged rows without rewriting them.';
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
    content_hash                         bytea       NOT NULL,
    first_seen_at                        timestamptz NOT NULL DEFAULT now(),
    updated_at                           timestamptz NOT NULL DEFAULT now(),
    removed_at                           timestamptz,
    PRIMARY KEY (partner_id, id)
);
CREATE INDEX channels_client_idx ON hub.channels (partner_id, client_id);
CREATE INDEX channels_live_status_idx ON hub.channels (partner_id, status) WHERE removed_at IS NULL;

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
COMMENT ON COLUMN hub.channels.raw IS 'The channel object exactly as the API sent it, unknown fields included.';
COMMENT ON COLUMN hub.channels.content_hash IS 'SHA-256 of raw as received; lets a sync skip unchanged rows without rewriting them.';
COMMENT ON COLUMN hub.channels.first_seen_at IS 'When a sync first saw the channel.';
COMMENT ON COLUMN hub.channels.updated_at IS 'When this row''s content last changed (not when it was last checked).';
COMMENT ON COLUMN hub.channels.removed_at IS 'When a complete sync first no longer saw the channel; NULL while the API returns it.';

-- ----------------------------------------------------------- status_history
CREATE TABLE hub.status_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id   text        NOT NULL,
    entity       text        NOT NULL CHECK (entity IN ('client', 'channel')),
    entity_id    text        NOT NULL,
    client_id    text,
    attribute    text        NOT NULL,
    from_value   text,
    to_value     text,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    sync_run_id  bigint REFERENCES hub.sync_runs (id)
);
CREATE INDEX status_history_entity_idx ON hub.status_history (partner_id, entity, entity_id, changed_at);
CREATE INDEX status_history_changed_idx ON hub.status_history (changed_at);
CREATE INDEX status_history_to_idx ON hub.status_history (entity, attribute, to_value, changed_at);
CREATE INDEX status_history_run_idx ON hub.status_history (sync_run_id);

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

-- ---------------------------------------------------------- sync_run_seen
CREATE UNLOGGED TABLE hub.sync_run_seen (
    run_id  bigint NOT NULL,
    entity  text   NOT NULL,
    id      text   NOT NULL,
    PRIMARY KEY (run_id, entity, id)
);
COMMENT ON TABLE hub.sync_run_seen IS 'Working set of a running sync (not for analysis): the ids it has seen, so that a complete run can mark the rest removed. Unlogged (no WAL) and emptied when the run ends.';
COMMENT ON COLUMN hub.sync_run_seen.run_id IS 'hub.sync_runs.id of the run.';
COMMENT ON COLUMN hub.sync_run_seen.entity IS 'client or channel.';
COMMENT ON COLUMN hub.sync_run_seen.id IS 'Id seen by the run.';

-- +goose Down
DROP SCHEMA hub CASCADE;
