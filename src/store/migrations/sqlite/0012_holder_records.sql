-- Who held a closed habilitation, kept with the habilitation for the habilitation-data period
-- (2 years, 6 for Mon Compte Partenaire) so that annexe 1's list 2 still names the people once
-- their account data is erased, six months after their last habilitation ended. Written when
-- the habilitation closes (for a group, one row per member then).
CREATE TABLE habilitation_holders (
    habilitation_id TEXT NOT NULL REFERENCES habilitations(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    civility        TEXT,
    given_name      TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    email           TEXT NOT NULL,
    function        TEXT,
    recorded_at     INTEGER NOT NULL,
    PRIMARY KEY (habilitation_id, account_id)
);

-- Habilitations closed before this migration: their holders as they are now (an account
-- already erased has nothing left to copy).
INSERT INTO habilitation_holders
SELECT h.id, a.id, a.civility, a.given_name, a.family_name, a.email, a.function, h.closed_at
FROM habilitations h
JOIN accounts a ON a.id = h.account_id
   OR a.id IN (SELECT m.account_id FROM group_members m WHERE m.group_id = h.group_id)
WHERE h.status = 'closed' AND h.closed_at IS NOT NULL
  AND a.email NOT LIKE 'efface-%@compte.invalid';

-- The signed statements of what the retention job erased: the accounts (by their opaque id
-- only), when, and the cut-off applied.
CREATE TABLE erasure_attestations (
    id           TEXT PRIMARY KEY,
    erased_at    INTEGER NOT NULL,
    ended_before INTEGER NOT NULL,
    accounts     TEXT NOT NULL,  -- JSON array of account ids
    signature    TEXT NOT NULL
);
