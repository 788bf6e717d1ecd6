-- Part 2: API keys and the hash-chained audit log.
CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    -- SHA-256 (hex) of the whole key: the key itself is shown once and never stored.
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    system TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- Entries are appended in the transaction of the change they witness (chain_seq NULL), then
-- sealed in order by the sealer: chain_seq, the previous entry's hash and this entry's hash.
CREATE TABLE audit_log (
    seq {{SEQ_PRIMARY_KEY}},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    correlation_id TEXT,
    before_digest TEXT,
    after_digest TEXT,
    detail TEXT NOT NULL,
    chain_seq BIGINT UNIQUE,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_unsealed ON audit_log (seq) WHERE chain_seq IS NULL;

-- The chain's head: the last sealed position and its hash (detects a deleted tail).
CREATE TABLE audit_head (
    id BIGINT NOT NULL PRIMARY KEY,
    chain_seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, chain_seq, hash) VALUES (1, 0, 'genesis');

-- Who posted each inbound message (the principal's actor name), for the audit trail.
ALTER TABLE inbox ADD COLUMN received_by TEXT;
