-- Run once by the postgres image at first start, as the owner. The migrations (run by the
-- replicas with store.migration_url) grant passerelle_app what it needs; the replicas log in
-- as `passerelle`, which owns nothing.
CREATE ROLE passerelle_app NOLOGIN;
CREATE ROLE passerelle LOGIN PASSWORD 'change-me-app' IN ROLE passerelle_app;
