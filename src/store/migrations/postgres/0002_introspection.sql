-- The relying applications whose tokens this client may introspect as their resource server
-- (JSON array of client ids); a client always may introspect its own tokens.
ALTER TABLE services ADD COLUMN introspects TEXT NOT NULL DEFAULT '[]';
