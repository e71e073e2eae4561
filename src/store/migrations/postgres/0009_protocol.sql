-- A service's protocol settings beyond the columns above (JSON object, serde defaults for
-- what it omits): pushed authorization requests required, refresh rotation grace.
ALTER TABLE services ADD COLUMN protocol TEXT NOT NULL DEFAULT '{}';
