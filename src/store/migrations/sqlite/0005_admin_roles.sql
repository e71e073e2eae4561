-- Passerelle's own administrative roles held by an account (JSON array): Caf habilitation
-- officer, partner administrators, delegated managers, security officers, national operator.
-- Holding any of them imposes the administrator password profile and a second factor.
ALTER TABLE accounts ADD COLUMN admin_roles TEXT NOT NULL DEFAULT '[]';
