-- Legacy onboarding by temporary password (the monenfant case).

-- How a service's new users receive their first credential: 'activation_link' or
-- 'temporary_password'.
ALTER TABLE services ADD COLUMN onboarding TEXT NOT NULL DEFAULT 'activation_link';
-- While set, the password is a temporary one: refused after this time, and spent (set to the
-- time of use) by its one successful login.
ALTER TABLE accounts ADD COLUMN temporary_password_expires_at INTEGER;
