-- Concord core schema. Timestamps are BIGINT microseconds since the Unix epoch
-- (UTC); money and canonical documents are TEXT (decimal strings, JSON).
-- Written once for both databases: {{SEQ_PRIMARY_KEY}} is the only dialect difference and is
-- filled in by the migration runner (src/migrate.rs).
CREATE TABLE inbox (
    id TEXT NOT NULL PRIMARY KEY,
    system TEXT NOT NULL,
    message_type TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    correlation_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    body TEXT NOT NULL,
    original_body TEXT,
    status TEXT NOT NULL,
    response_status BIGINT,
    response_body TEXT,
    error TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX inbox_status ON inbox (status, received_at);

CREATE TABLE events (
    seq {{SEQ_PRIMARY_KEY}},
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    time BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    data TEXT NOT NULL
);

CREATE TABLE deliveries (
    seq {{SEQ_PRIMARY_KEY}},
    id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    target TEXT NOT NULL,
    message_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    correlation_id TEXT NOT NULL,
    required BIGINT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_subject ON deliveries (target, subject, seq);

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    status_code BIGINT,
    latency_us BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

CREATE TABLE suppliers (id TEXT NOT NULL PRIMARY KEY, tin TEXT, data TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX suppliers_tin ON suppliers (tin);
CREATE TABLE items (gtin TEXT NOT NULL PRIMARY KEY, supplier_id TEXT, vendor_part TEXT, data TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX items_vendor_part ON items (supplier_id, vendor_part);
CREATE TABLE facilities (gln TEXT NOT NULL PRIMARY KEY, data TEXT NOT NULL, updated_at BIGINT NOT NULL);

CREATE TABLE contract_versions (
    contract_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    digest TEXT NOT NULL,
    data TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (contract_id, version)
);
CREATE INDEX contract_versions_status ON contract_versions (status);

CREATE TABLE crosswalks (
    system TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    canonical_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (system, entity_type, external_id)
);
CREATE INDEX crosswalks_canonical ON crosswalks (entity_type, canonical_id);

CREATE TABLE workflows (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE timers (
    id TEXT NOT NULL PRIMARY KEY,
    due_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    correlation_id TEXT NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);

CREATE TABLE timeline (
    seq {{SEQ_PRIMARY_KEY}},
    correlation_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX timeline_correlation ON timeline (correlation_id, seq);

CREATE TABLE exceptions (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX exceptions_open ON exceptions (status, kind, subject);
