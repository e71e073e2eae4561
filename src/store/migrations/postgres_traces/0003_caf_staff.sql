-- A Caf's security officer reads the traces of the Caf's own staff (no partner) beside its
-- partners': their index.
CREATE INDEX traces_caf_staff ON traces (actor_caf, at_us) WHERE partner IS NULL;
