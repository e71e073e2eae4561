-- Search: the commune of a partner, and folded keys (lower case, no accents) written by the
-- application beside the names, so that lists filter and sort in the database. Rows written
-- before this migration get their keys when the store opens (`backfill_search_keys`).
ALTER TABLE partners ADD COLUMN commune TEXT;
ALTER TABLE partners ADD COLUMN name_key TEXT;
ALTER TABLE partners ADD COLUMN commune_key TEXT;
ALTER TABLE accounts ADD COLUMN name_key TEXT;
CREATE INDEX partners_name_key ON partners (name_key, id);
CREATE INDEX accounts_partner_name_key ON accounts (partner_id, name_key, id);
CREATE INDEX habilitations_valid_until ON habilitations (valid_until) WHERE valid_until IS NOT NULL;
