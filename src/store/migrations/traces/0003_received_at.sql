-- When Passerelle received a relying application's event (UTC µs), beside the time the
-- application gives it; empty for Passerelle's own events, whose time is their reception.
ALTER TABLE traces ADD COLUMN received_at_us INTEGER;
