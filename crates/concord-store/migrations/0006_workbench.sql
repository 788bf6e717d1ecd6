-- Part 3: the exception workbench lists exceptions by facility and supplier (kept as columns,
-- not dug out of the JSON detail, so both databases filter them the same way) and records how
-- each one was resolved: the action, who, why.
ALTER TABLE exceptions ADD COLUMN facility TEXT;
ALTER TABLE exceptions ADD COLUMN supplier TEXT;
ALTER TABLE exceptions ADD COLUMN resolution TEXT;
CREATE INDEX exceptions_by_age ON exceptions (status, created_at);
