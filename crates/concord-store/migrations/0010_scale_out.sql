-- Part 7: several hub instances on one PostgreSQL. Work is claimed, not just read: a received
-- message, a due delivery or a due timer is taken by one instance until its lease ends, and the
-- claim (a token unique to that taking) fences what it commits, so an instance that lost its
-- lease (paused, partitioned, killed) can never commit over the instance that took over.
ALTER TABLE inbox ADD COLUMN claim TEXT;
ALTER TABLE inbox ADD COLUMN lease_until BIGINT;
ALTER TABLE deliveries ADD COLUMN claim TEXT;
ALTER TABLE timers ADD COLUMN lease_until BIGINT;
-- Every instance keeps an in-memory price index; it follows what the others committed by
-- reading what changed since its last look.
CREATE INDEX contract_versions_updated ON contract_versions (updated_at);
CREATE INDEX items_updated ON items (updated_at);
CREATE INDEX facilities_updated ON facilities (updated_at);
