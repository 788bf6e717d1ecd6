-- Every delivery is inserted once and changes status twice (claimed, then delivered), and each
-- index on the hottest table is written at each of those (the status ones twice: an entry out,
-- an entry in). Two have had no reader since part 7: the claim finds its earlier open
-- deliveries through `deliveries_open` and its lapsed leases through `deliveries_leased`, and
-- status listings and counts use `deliveries_due`'s leading status column.
DROP INDEX deliveries_lease;
DROP INDEX deliveries_subject;
