-- Part 3: X12 control numbers, one row per trading partner. ISA13 and GS06 must never repeat
-- for a partner (partners reject duplicates as replays), so they come from here, advanced in
-- the same statement that reads them.
CREATE TABLE x12_control_numbers (
    partner TEXT NOT NULL PRIMARY KEY,
    interchange BIGINT NOT NULL,
    grp BIGINT NOT NULL
);
