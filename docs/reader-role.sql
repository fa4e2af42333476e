-- Read-only access to schema hub for analysts and BI tools (Metabase,
-- Superset, Grafana, Power BI).
--
-- Run once per database, as an administrator (a superuser, or the role that
-- owns schema hub and has CREATEROLE):
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/reader-role.sql
--
-- It creates the NOLOGIN group role hub_reader with read access to every
-- table and view in hub, now and later. Each person or tool then gets its own
-- login role in that group, so that it can be revoked alone; pass its name
-- and password to create one in the same run:
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 \
--        -v login=metabase -v password='a long random secret' -f docs/reader-role.sql
--
-- or, later, run the second part of this file by hand.
--
-- Variables (psql -v NAME=value):
--   reader    group role to create                      (default hub_reader)
--   owner     role that runs the migrations, i.e. owns  (default: the user
--             the tables hubsync will create later        running this file)
--   login     login role to create in the group         (default: none)
--   password  its password                              (required with login)

\if :{?reader}
\else
  \set reader hub_reader
\endif
\if :{?owner}
\else
  \set owner :USER
\endif

-- ------------------------------------------------------------ the group role
CREATE ROLE :"reader" NOLOGIN;
COMMENT ON ROLE :"reader" IS 'Read-only access to schema hub (hubsync): SELECT on every table and view.';

GRANT CONNECT ON DATABASE :"DBNAME" TO :"reader";
GRANT USAGE ON SCHEMA hub TO :"reader";
-- Tables and views alike.
GRANT SELECT ON ALL TABLES IN SCHEMA hub TO :"reader";
-- Tables and views that later migrations create. Default privileges belong to
-- the role that creates the objects, hence FOR ROLE owner.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA hub GRANT SELECT ON TABLES TO :"reader";

-- ----------------------------------------------------- a login role (optional)
-- Session settings are not inherited from a group role: Postgres applies only
-- the settings of the role that logs in. So they go on each login role.
\if :{?login}

CREATE ROLE :"login" LOGIN PASSWORD :'password' IN ROLE :"reader";
COMMENT ON ROLE :"login" IS 'Analyst or BI login, member of the hub read-only group.';

-- Every transaction is read-only unless the session asks otherwise; the
-- grants above are what actually forbid writes.
ALTER ROLE :"login" SET default_transaction_read_only = on;
-- A runaway query (a BI tool's unfiltered cross join, say) is cancelled after
-- five minutes instead of running for hours.
ALTER ROLE :"login" SET statement_timeout = '5min';
-- A session left idle inside a transaction (a forgotten BEGIN in a SQL
-- console) is closed after ten minutes: its snapshot would otherwise hold
-- back vacuum of hub.status_history and hub.channels for as long as it lives.
ALTER ROLE :"login" SET idle_in_transaction_session_timeout = '10min';
-- A query stuck behind a lock (a migration's ALTER TABLE, say) fails after
-- 30 seconds with a clear error instead of hanging the dashboard.
ALTER ROLE :"login" SET lock_timeout = '30s';
-- JIT compilation costs more than it saves on these queries: 0.1 to 2
-- seconds of compiling for queries with under a second of work (compare
-- go run ./cmd/querybench with and without -jit).
ALTER ROLE :"login" SET jit = off;

\endif

-- To remove a login:         DROP ROLE metabase;
-- To remove the group, in every database where it has grants:
--   DROP OWNED BY hub_reader;  then, once:  DROP ROLE hub_reader;
