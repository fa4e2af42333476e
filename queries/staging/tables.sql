-- The staging tables a page's write goes through, for sqlc's eyes only:
-- the syncer creates them per database session (ClientStageCreate,
-- ChannelStageCreate), COPYs a page's new and changed rows into them, and
-- ClientUpsert and ChannelUpsert write from them. They have the columns of
-- the tables they feed, so a new column needs no change here.
CREATE TEMP TABLE clients_stage (LIKE hub.clients INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE channels_stage (LIKE hub.channels INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
