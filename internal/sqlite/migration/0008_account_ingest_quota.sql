-- An account's own ingest quota settings; NULL takes its type's (the types
-- are configuration, not stored). A rate of 0 is unlimited. The CHECKs only
-- back up stele.Account.Validate, which every path that changes an account
-- calls first.
ALTER TABLE accounts ADD COLUMN ingest_events_per_second INTEGER NULL CHECK (ingest_events_per_second >= 0);
ALTER TABLE accounts ADD COLUMN ingest_bytes_per_second INTEGER NULL CHECK (ingest_bytes_per_second >= 0);
ALTER TABLE accounts ADD COLUMN ingest_burst_seconds INTEGER NULL CHECK (ingest_burst_seconds >= 1);
