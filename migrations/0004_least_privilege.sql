-- Least privilege (README "Postgres roles"): what the projector and the query role may do in this database.
-- `ledger db setup-roles` creates the login roles (ledger_owner runs migrations and owns the bookkeeping,
-- ledger_projector owns the read models' schemas and the `reporting` views it replaces, ledger_query reads);
-- here they are created without login if missing (a database migrated by a superuser, as in the tests), so that
-- the grants below always apply. Roles are cluster-wide: another database of the same cluster may have created
-- them already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_projector') THEN
        CREATE ROLE ledger_projector NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_query') THEN
        CREATE ROLE ledger_query NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Both read which migrations are applied (they refuse to start on a database the owner has not migrated).
GRANT SELECT ON public.ledger_schema_migrations TO ledger_projector, ledger_query;
GRANT USAGE ON SCHEMA ledger TO ledger_projector, ledger_query;

-- The projector: its bookkeeping row (never its name, never a delete), the quarantine (append only), and the
-- `reporting` schema, where it creates and replaces the views of its read models. It creates its own schemas
-- (CREATE on the database, granted by `ledger db setup-roles`) and so owns them and can drop them after a rebuild.
GRANT SELECT, INSERT ON ledger.projections TO ledger_projector;
GRANT UPDATE (version, schema_name, position, updated_at, state, last_error) ON ledger.projections TO ledger_projector;
GRANT SELECT, INSERT ON ledger.quarantine TO ledger_projector;
GRANT USAGE, CREATE ON SCHEMA reporting TO ledger_projector;

-- The query role: the `reporting` views and what the status call needs (the bookkeeping rows, and of the
-- quarantine only which projection each entry belongs to: not the quarantined messages themselves).
GRANT SELECT ON ledger.projections TO ledger_query;
GRANT SELECT (projection) ON ledger.quarantine TO ledger_query;
GRANT USAGE ON SCHEMA reporting TO ledger_query;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO ledger_query, ledger_reporting;
-- Views the projector creates later are readable by the query role and BI tools as soon as they exist.
ALTER DEFAULT PRIVILEGES FOR ROLE ledger_projector IN SCHEMA reporting
    GRANT SELECT ON TABLES TO ledger_query, ledger_reporting;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO ledger_query;
