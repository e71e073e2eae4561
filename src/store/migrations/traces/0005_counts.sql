-- What the security dashboard reads instead of counting millions of traces: Passerelle's own
-- traces counted per UTC hour, partner (or, for a Caf's own staff, their Caf), action, outcome
-- and reason, kept up to date in the transaction that appends them; and each account's last
-- successful login. They hold ids and counts only, and go with the traces at retention.
CREATE TABLE trace_counts (
    hour       INTEGER NOT NULL,
    partner    TEXT NOT NULL,
    staff_caf  TEXT NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (hour, partner, staff_caf, action, outcome, reason)
);
INSERT INTO trace_counts (hour, partner, staff_caf, action, outcome, reason, count)
SELECT at_us / 3600000000, COALESCE(partner, ''),
       CASE WHEN partner IS NULL THEN COALESCE(actor_caf, '') ELSE '' END,
       action, outcome, COALESCE(reason, ''), COUNT(*)
  FROM traces WHERE stream = 'passerelle'
 GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TABLE last_logins (
    account  TEXT PRIMARY KEY,
    at_us    INTEGER NOT NULL
);
INSERT INTO last_logins (account, at_us)
SELECT actor_account, MAX(at_us) FROM traces
 WHERE stream = 'passerelle' AND action = 'auth.login' AND outcome = 'success'
   AND actor_account IS NOT NULL
 GROUP BY actor_account;
