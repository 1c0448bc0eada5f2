-- The notary's Merkle tree of the log and its signed checkpoints (issue 12). Leaf i is the message at log position
-- i + 1, its hash SHA-256(0x00 || the message body as stored); see docs/audit.md.
CREATE SCHEMA IF NOT EXISTS audit;

-- How far the tree goes: its size and the roots of the complete subtrees on its right border (highest first), so
-- that the notary resumes where its last committed batch ended.
CREATE TABLE audit.tree (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    size       bigint NOT NULL CHECK (size >= 0),
    border     bytea[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit.tree (size, border) VALUES (0, '{}');

-- The root of every complete subtree: (level, index) covers leaves index * 2^level .. (index + 1) * 2^level.
-- Every root and proof of any size is computed from O(log n) of them.
CREATE TABLE audit.nodes (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    index bigint NOT NULL CHECK (index >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);

-- Every checkpoint signed: a C2SP tlog-checkpoint (origin, size, root) in a signed note. `published`: also in the
-- JetStream checkpoint stream.
CREATE TABLE audit.checkpoints (
    size      bigint PRIMARY KEY CHECK (size > 0),
    root      bytea NOT NULL CHECK (length(root) = 32),
    note      text NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    published boolean NOT NULL DEFAULT false
);

-- Nothing of the tree or a checkpoint is ever changed or removed (but a checkpoint's `published` flag).
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE ON audit.nodes
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE DELETE OR UPDATE OF size, root, note, signed_at ON audit.checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();

-- The notary connects as the projector's role (migration 0004 makes the roles): it adds nodes and checkpoints,
-- moves the tree's size and marks checkpoints published, and can change nothing else. The query role reads it all.
GRANT USAGE ON SCHEMA audit TO ledger_projector, ledger_query;
GRANT SELECT, INSERT ON audit.nodes, audit.checkpoints TO ledger_projector;
GRANT UPDATE (published) ON audit.checkpoints TO ledger_projector;
GRANT SELECT, UPDATE (size, border, updated_at) ON audit.tree TO ledger_projector;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO ledger_query;
