-- Part 6: what is on the shelf, per facility (GLN), stock location and item (GTIN), in whole
-- units; the par level and reorder point that drive replenishment; whether the item is
-- bill-only (consignment) there; and the replenishment requisition still open, so a second is
-- never raised while one is on its way.
CREATE TABLE stock_levels (
    facility TEXT NOT NULL,
    location TEXT NOT NULL,
    gtin TEXT NOT NULL,
    on_hand BIGINT NOT NULL,
    par_level BIGINT NOT NULL,
    reorder_point BIGINT NOT NULL,
    bill_only BIGINT NOT NULL,
    replenishment TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (facility, location, gtin)
);
