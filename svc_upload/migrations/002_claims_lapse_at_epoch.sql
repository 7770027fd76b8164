-- A released claim used to lapse at '-infinity', which no client library can read back as a
-- timestamp (issue 10, defect 6: the session answered 500 forever and every reaper pass
-- crashed on it). A lapsed lease is now the epoch; repair the rows written the old way.
UPDATE upload_sessions SET claimed_at = 'epoch' WHERE NOT isfinite(claimed_at);
