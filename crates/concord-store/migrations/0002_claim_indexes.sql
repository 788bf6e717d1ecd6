-- Claiming walks due deliveries in the order it takes them and stops at its limit, instead of
-- sorting every pending row: with a backlog of thousands the old (status, next_attempt_at)
-- index made each claim cost the whole backlog. Expired leases get an index of their own.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at, seq);
CREATE INDEX deliveries_lease ON deliveries (status, lease_until, seq);
