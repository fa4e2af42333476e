-- Bulk first sightings: the syncer's path for a page none of whose clients
-- is stored yet (a first sync, or a batch of new clients). COPY is the
-- cheapest way into Postgres: no JSON document to build and parse, no
-- conflict handling, no snapshot of previous values. The three run in the
-- page's transaction behind a savepoint; a row that exists after all (a
-- channel that moved to one of these new clients) fails the COPY with a
-- unique violation, and the page goes through ClientUpsert and ChannelUpsert
-- instead. The history rows are what those would write for new rows: one per
-- tracked attribute with a value, from NULL.

-- name: ClientsCopy :copyfrom
INSERT INTO hub.clients (
    partner_id, id, name, status, partner_payload, max_channels, fb_business_id, organisation,
    contact_email, contact_phone, contact_webpage_url, contact_language, contact_country,
    contact_street_name, contact_city, contact_full_name, contact_zip_code, contact_user_name,
    contact_user_email, contact_user_phone, meta_info, created_by, modified_by, suspicious,
    enabled_for_chat_support, created_at, modified_at, raw, content_hash)
VALUES (
    @partner_id, @id, @name, @status, @partner_payload, @max_channels, @fb_business_id,
    @organisation, @contact_email, @contact_phone, @contact_webpage_url, @contact_language,
    @contact_country, @contact_street_name, @contact_city, @contact_full_name,
    @contact_zip_code, @contact_user_name, @contact_user_email, @contact_user_phone, @meta_info,
    @created_by, @modified_by, @suspicious, @enabled_for_chat_support, @created_at,
    @modified_at, @raw, @content_hash);

-- name: ChannelsCopy :copyfrom
INSERT INTO hub.channels (
    partner_id, id, client_id, status, availability_status, hub_status, current_limit,
    current_quality_rating, current_quality_update_event, phone_number, phone_name, certificate,
    default_language, ivr, verification_method, was_in_use, is_oba, settings_tier,
    settings_data_localization_region, settings_allowed_to_send_outbound, throughput_level,
    account_mode, is_migrated, has_inbox, version, created_at, cancelled_at, terminated_at,
    billing_started_at, raw, content_hash)
VALUES (
    @partner_id, @id, @client_id, @status, @availability_status, @hub_status, @current_limit,
    @current_quality_rating, @current_quality_update_event, @phone_number, @phone_name,
    @certificate, @default_language, @ivr, @verification_method, @was_in_use, @is_oba,
    @settings_tier, @settings_data_localization_region, @settings_allowed_to_send_outbound,
    @throughput_level, @account_mode, @is_migrated, @has_inbox, @version, @created_at,
    @cancelled_at, @terminated_at, @billing_started_at, @raw, @content_hash);

-- name: StatusHistoryCopy :copyfrom
INSERT INTO hub.status_history (
    partner_id, entity, entity_id, client_id, attribute, from_value, to_value, sync_run_id)
VALUES (
    @partner_id, @entity, @entity_id, @client_id, @attribute, @from_value, @to_value,
    @sync_run_id);
