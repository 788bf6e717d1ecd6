-- Part 5: supplier onboarding, exclusion screening, crosswalk conflicts and reconciliation.
-- Suppliers gain the keys duplicate detection narrows its candidates by (the first word of the
-- normalised name, the 5-digit ZIP); rows written before this migration get them at start-up.
ALTER TABLE suppliers ADD COLUMN name_key TEXT;
ALTER TABLE suppliers ADD COLUMN zip TEXT;
CREATE INDEX suppliers_name_key ON suppliers (name_key);
CREATE INDEX suppliers_zip ON suppliers (zip);
-- Exclusion lists (OIG LEIE, a SAM-style file): one row per entry, keyed within its list so a
-- re-import updates in place; looked up by NPI and by normalised business or person name.
CREATE TABLE exclusions (
    list TEXT NOT NULL,
    entry_key TEXT NOT NULL,
    npi TEXT,
    business_key TEXT,
    person_key TEXT,
    data TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (list, entry_key)
);
-- Partial indexes: most entries have no NPI, and each is a business or a person, so each index
-- holds only the rows it can find (half the index work of an import). `col = $1` implies
-- `col IS NOT NULL` on both databases, so lookups use them.
CREATE INDEX exclusions_npi ON exclusions (npi) WHERE npi IS NOT NULL;
CREATE INDEX exclusions_business ON exclusions (business_key) WHERE business_key IS NOT NULL;
CREATE INDEX exclusions_person ON exclusions (person_key) WHERE person_key IS NOT NULL;
-- A system's external id that something tried to map to a second canonical id: the first
-- mapping is kept, the attempt recorded here until a person decides.
CREATE TABLE crosswalk_conflicts (
    system TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    proposed_canonical_id TEXT NOT NULL,
    existing_canonical_id TEXT NOT NULL,
    status TEXT NOT NULL,
    detected_at BIGINT NOT NULL,
    resolution TEXT,
    PRIMARY KEY (system, entity_type, external_id, proposed_canonical_id)
);
CREATE INDEX crosswalk_conflicts_status ON crosswalk_conflicts (status, detected_at);
-- Reconciliation: one run compares each system's view with the canonical state.
CREATE TABLE reconciliation_runs (
    id TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX reconciliation_runs_started ON reconciliation_runs (started_at);
CREATE TABLE reconciliation_findings (
    run_id TEXT NOT NULL,
    system TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    repaired_at BIGINT,
    repaired_by TEXT,
    PRIMARY KEY (run_id, system, entity_type, entity_key)
);
