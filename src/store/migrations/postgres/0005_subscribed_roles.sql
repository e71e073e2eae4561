-- The roles each convention subscribes to (JSON list of {service, role}): only those can be
-- granted. A service none of whose roles is listed opens them all (conventions recorded
-- before subscriptions were).
ALTER TABLE conventions ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
