-- As-of answers (issue 12, docs/audit.md): the query role builds a read model up to an earlier log position in
-- temporary tables and views of its own session (`pg_temp`: seen by no other session, gone with the connection),
-- so it may create temporary tables in this database. It still creates nothing that outlives its session or that
-- anyone else can see. `ledger db setup-roles` revokes the database's default rights from PUBLIC, TEMPORARY among
-- them; this grants TEMPORARY to the query role alone (not to the BI role, nor to the projector).
DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO ledger_query', current_database());
END
$$;
