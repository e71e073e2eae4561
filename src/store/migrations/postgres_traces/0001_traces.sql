-- The trace store on PostgreSQL, in its own schema (the connection's search_path). Same
-- records as the SQLite trace store, with two differences:
--  * `traces` is partitioned by month of storage (`stored_us`, the server's clock when the
--    record was written), so retention drops whole months: within a stream, storage order is
--    chain order, so dropping the oldest months cuts every chain at one point only;
--  * the application's role `passerelle_app` may only SELECT and INSERT the trace tables:
--    partitions are created and dropped by the two SECURITY DEFINER functions below, which
--    run as the owner of this schema (the role that ran the migration).
-- Triggers also refuse UPDATE and DELETE to everyone, the owner included.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'passerelle_app') THEN
        CREATE ROLE passerelle_app NOLOGIN;
    END IF;
END
$$;

CREATE TABLE streams (
    name         TEXT PRIMARY KEY,
    -- The hash the oldest kept record follows: zeros, or the last destroyed record's hash.
    origin_hash  BYTEA NOT NULL
);

CREATE SEQUENCE traces_seq;

CREATE TABLE traces (
    seq            BIGINT NOT NULL DEFAULT nextval('traces_seq'),
    stored_us      BIGINT NOT NULL,
    stream         TEXT NOT NULL,
    id             TEXT NOT NULL,
    at_us          BIGINT NOT NULL,
    actor_account  TEXT,
    actor_partner  TEXT,
    actor_caf      TEXT,
    partner        TEXT,
    session        TEXT,
    client_id      TEXT,
    action         TEXT NOT NULL,
    target         TEXT,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    ip             TEXT,
    user_agent     TEXT,
    request_id     TEXT,
    prev_hash      BYTEA NOT NULL,
    hash           BYTEA NOT NULL
) PARTITION BY RANGE (stored_us);
-- (stream, id) is unique: checked under the stream's lock before chaining (a unique index of
-- a partitioned table would have to include the month).
CREATE INDEX traces_stream ON traces (stream, seq);
CREATE INDEX traces_stream_id ON traces (stream, id);
CREATE INDEX traces_account ON traces (actor_account, at_us);
CREATE INDEX traces_partner ON traces (partner, at_us);
CREATE INDEX traces_time ON traces (at_us);

CREATE TABLE seals (
    stream        TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    hash          BYTEA NOT NULL,
    sealed_at_us  BIGINT NOT NULL,
    signature     TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);

CREATE TABLE attestations (
    id               TEXT PRIMARY KEY,
    stream           TEXT NOT NULL,
    destroyed_at_us  BIGINT NOT NULL,
    from_us          BIGINT NOT NULL,
    to_us            BIGINT NOT NULL,
    count            BIGINT NOT NULL,
    first_hash       BYTEA NOT NULL,
    last_hash        BYTEA NOT NULL,
    signature        TEXT NOT NULL
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are written once', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER traces_write_once BEFORE UPDATE OR DELETE ON traces
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER seals_write_once BEFORE UPDATE OR DELETE ON seals
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER attestations_write_once BEFORE UPDATE OR DELETE ON attestations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Creates the partition of the month holding `at_us` (µs since the epoch, UTC) if missing.
CREATE FUNCTION trace_month(at_us BIGINT) RETURNS TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    month TIMESTAMP := date_trunc('month', to_timestamp(at_us / 1000000.0) AT TIME ZONE 'UTC');
    part  TEXT := 'traces_' || to_char(month, 'YYYYMM');
    lo    BIGINT := (extract(epoch FROM month AT TIME ZONE 'UTC') * 1000000)::BIGINT;
    hi    BIGINT := (extract(epoch FROM (month + INTERVAL '1 month') AT TIME ZONE 'UTC') * 1000000)::BIGINT;
BEGIN
    -- Replicas may ask at the same time: one creates, the others find it.
    PERFORM pg_advisory_xact_lock(hashtext('passerelle trace partitions'));
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF traces FOR VALUES FROM (%s) TO (%s)',
                       part, lo, hi);
        -- Reached only through `traces`, whose grants apply.
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC, passerelle_app', part);
    END IF;
    RETURN part;
END
$$;

-- Drops every month stored entirely before `before_us`. Returns, per stream, what went (for
-- the signed attestations) and moves each stream's origin to the last dropped record.
CREATE FUNCTION drop_trace_months(before_us BIGINT)
RETURNS TABLE (o_stream TEXT, o_first_at BIGINT, o_last_at BIGINT, o_first_hash BYTEA,
               o_last_hash BYTEA, o_count BIGINT)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    part  RECORD;
    hi    BIGINT;
    cut   BIGINT := NULL;
    parts TEXT[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('passerelle trace partitions'));
    FOR part IN
        SELECT c.relname::TEXT AS name
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'traces'::regclass AND c.relname ~ '^traces_[0-9]{6}$'
    LOOP
        hi := (extract(epoch FROM (to_date(substr(part.name, 8), 'YYYYMM')::TIMESTAMP
                + INTERVAL '1 month') AT TIME ZONE 'UTC') * 1000000)::BIGINT;
        IF hi <= before_us THEN
            parts := parts || part.name;
            cut := greatest(cut, hi);
        END IF;
    END LOOP;
    IF cut IS NULL THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE dropped ON COMMIT DROP AS
        SELECT a.stream, f.at_us AS first_at, l.at_us AS last_at, f.hash AS first_hash,
               l.hash AS last_hash, a.n
          FROM (SELECT t.stream, min(t.seq) AS first_seq, max(t.seq) AS last_seq, count(*) AS n
                  FROM traces t WHERE t.stored_us < cut GROUP BY t.stream) a
          JOIN traces f ON f.stream = a.stream AND f.seq = a.first_seq AND f.stored_us < cut
          JOIN traces l ON l.stream = a.stream AND l.seq = a.last_seq AND l.stored_us < cut;
    UPDATE streams s SET origin_hash = d.last_hash FROM dropped d WHERE s.name = d.stream;
    FOR i IN 1 .. cardinality(parts) LOOP
        EXECUTE format('DROP TABLE %I', parts[i]);
    END LOOP;
    RETURN QUERY SELECT d.stream, d.first_at, d.last_at, d.first_hash, d.last_hash, d.n
                   FROM dropped d ORDER BY d.stream;
END
$$;

REVOKE ALL ON streams, traces, seals, attestations FROM PUBLIC, passerelle_app;
REVOKE ALL ON SEQUENCE traces_seq FROM PUBLIC, passerelle_app;
REVOKE ALL ON FUNCTION trace_month(BIGINT), drop_trace_months(BIGINT) FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO passerelle_app', current_schema());
END
$$;
GRANT SELECT, INSERT ON streams, traces, seals, attestations TO passerelle_app;
GRANT USAGE ON SEQUENCE traces_seq TO passerelle_app;
GRANT EXECUTE ON FUNCTION trace_month(BIGINT), drop_trace_months(BIGINT) TO passerelle_app;
