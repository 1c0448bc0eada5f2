-- The ledger's own bookkeeping in Postgres: which projections exist, where each stands, and what was quarantined.
-- Read models themselves live in one schema per projection build (see services/projector/src/growth.rs).
CREATE SCHEMA IF NOT EXISTS ledger;
CREATE SCHEMA IF NOT EXISTS reporting;

-- One row per projection: the schema currently serving queries and the last log position applied to it.
-- Projectors update `position` in the same transaction as the read-model rows it covers.
CREATE TABLE ledger.projections (
    name        text PRIMARY KEY,
    version     integer NOT NULL,
    schema_name text NOT NULL,
    position    bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Messages a projection could not use (undecodable, broken envelope, unknown type), kept with the reason.
CREATE TABLE ledger.quarantine (
    projection     text NOT NULL,
    position       bigint NOT NULL,
    subject        text NOT NULL,
    reason         text NOT NULL,
    body           bytea NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
