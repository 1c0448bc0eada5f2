-- A read-only role for BI tools that connect to Postgres directly: it can read the `reporting` views and nothing
-- else (the views run with their owner's rights, so the role needs no access to the schemas behind them).
-- Roles are cluster-wide: another database of the same cluster may have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_reporting') THEN
        CREATE ROLE ledger_reporting NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
REVOKE ALL ON SCHEMA ledger FROM ledger_reporting;
GRANT USAGE ON SCHEMA reporting TO ledger_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO ledger_reporting;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO ledger_reporting;
