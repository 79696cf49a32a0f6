-- Retention purges delete an account's oldest events by seq prefix; their
-- idempotency records go with them, found by seq.
CREATE INDEX idempotency_seq ON idempotency (account_id, seq);
