-- A run's scope is NULL for every account, or the accounts it names: never
-- an empty list, which a service's job could carry (SPEC §9: empty means
-- every account). Runs are created with the empty list folded to NULL;
-- rows written before that are folded here, and the check keeps the two
-- spellings of "every account" from coming back.
UPDATE billing_runs SET account_ids = NULL WHERE cardinality(account_ids) = 0;
ALTER TABLE billing_runs ADD CONSTRAINT billing_runs_scope_not_empty
    CHECK (account_ids IS NULL OR cardinality(account_ids) > 0);
