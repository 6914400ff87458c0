-- A run's period bounds and billing time zone, fixed when the run is
-- created. Before this, every worker computed the bounds of the run's
-- 'YYYY-MM' from its own BILLING_TIMEZONE, so two workers configured
-- differently drafted one run over two different months and numbered its
-- invoices in two different years. Workers now read these columns instead.
ALTER TABLE billing_runs
    ADD COLUMN time_zone    text,
    ADD COLUMN period_start timestamptz,
    ADD COLUMN period_end   timestamptz;

-- Existing runs get UTC: BILLING_TIMEZONE defaults to UTC, and the engine
-- kept no record of any other zone a deployment may have configured, so
-- UTC is what it assumed for them by default. Their invoices keep the
-- bounds they were drafted with (invoices.period_start/period_end).
UPDATE billing_runs SET
    time_zone    = 'UTC',
    period_start = (period || '-01')::timestamp AT TIME ZONE 'UTC',
    period_end   = ((period || '-01')::timestamp + interval '1 month') AT TIME ZONE 'UTC';

ALTER TABLE billing_runs
    ALTER COLUMN time_zone    SET NOT NULL,
    ALTER COLUMN period_start SET NOT NULL,
    ALTER COLUMN period_end   SET NOT NULL,
    ADD CONSTRAINT billing_runs_bounds CHECK (period_start < period_end);

-- invoices.CreateRun always names the zone and the bounds, computed in Go
-- (the engine's own tz database, the one that rated usage before). An
-- insert that names only the period (tools and test fixtures written
-- before this migration) gets the same UTC bounds as the backfill above,
-- or the bounds in the zone it names. Once written, the zone and bounds
-- never change: every shard and chunk of a run, drafted or finalized by
-- any worker at any time, must see the same month.
CREATE FUNCTION billing_runs_bounds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.period_start IS NULL AND NEW.period_end IS NULL THEN
            NEW.time_zone    := coalesce(NEW.time_zone, 'UTC');
            NEW.period_start := (NEW.period || '-01')::timestamp AT TIME ZONE NEW.time_zone;
            NEW.period_end   := ((NEW.period || '-01')::timestamp + interval '1 month') AT TIME ZONE NEW.time_zone;
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.period, NEW.time_zone, NEW.period_start, NEW.period_end)
       IS DISTINCT FROM (OLD.period, OLD.time_zone, OLD.period_start, OLD.period_end) THEN
        RAISE EXCEPTION 'billing run %: its period, time zone and bounds are fixed at creation', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

-- UPDATE OF: the counters a run updates at every shard and chunk don't
-- fire it.
CREATE TRIGGER billing_runs_bounds BEFORE INSERT OR UPDATE OF period, time_zone, period_start, period_end ON billing_runs
    FOR EACH ROW EXECUTE FUNCTION billing_runs_bounds();
