-- Verification, sealing and retention walk a stream in chain order.
CREATE INDEX traces_stream ON traces (stream, seq);
