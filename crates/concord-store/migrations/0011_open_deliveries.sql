-- What a claim reads, indexed over the open deliveries only (part 7). A claim asks, for every
-- candidate, "is an earlier delivery to this target and subject still open?", and walks the
-- pending ones in due order and the in-flight ones in lease order. Indexes holding only those
-- rows stay as small as the queue, not as large as every delivery ever made, so a claim costs
-- the same with a million delivered rows as with none; and their order is the claim's, so a
-- claim reads them as an ordered scan that stops at its limit (and skips the entries of rows
-- that moved on, rather than visiting each of them) whatever the planner's statistics say.
CREATE INDEX deliveries_open ON deliveries (target, subject, seq) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until, seq) WHERE status = 'in_flight';
-- Rows that moved on leave index entries behind until they are vacuumed, and a claim reads
-- past them: the queue tables are vacuumed after a fixed number of changes, not after a share
-- of a table that only grows.
{{POSTGRES}}ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_analyze_scale_factor = 0.02);
{{POSTGRES}}ALTER TABLE inbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_analyze_scale_factor = 0.02);
{{POSTGRES}}ALTER TABLE timers SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
