-- Part 4: the operations console. Targets an operator paused (an ERP maintenance window): the
-- delivery claim skips them until resumed. The indexes serve the console's pages at a million
-- events: throughput per time bucket, and recent attempts (systems' error rates, sync latency).
-- No index on deliveries' status and update time: it would be rewritten at every status change,
-- on the hottest table; dead letters and queues are found through the claim's status index.
CREATE TABLE paused_targets (
    target TEXT NOT NULL PRIMARY KEY,
    paused_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX events_time ON events (time);
CREATE INDEX delivery_attempts_at ON delivery_attempts (at);
-- What a transaction can be found by in the console (its PO, contract, requisition, invoice,
-- supplier, facility), written with the commit that makes the transaction known.
CREATE TABLE search_keys (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (kind, value, correlation_id)
);
CREATE INDEX search_keys_recent ON search_keys (kind, value, at);
-- A transaction's lineage: its raw messages, canonical events and deliveries.
CREATE INDEX inbox_correlation ON inbox (correlation_id);
CREATE INDEX events_correlation ON events (correlation_id, seq);
CREATE INDEX deliveries_correlation ON deliveries (correlation_id, seq);
