from django.db import migrations, models

# When a reservation row holds its spot (reservations.selectors.reservation_holding_q as a
# range): active for [start, end), a payment hold until it runs out, nothing otherwise.
# tests/availability/test_hold_rule.py checks this copy against the rule; a change to the
# rule needs a migration that replaces these functions.
HOLD_RANGE = """
CREATE FUNCTION availability_hold_range(
    status text, start_time timestamptz, end_time timestamptz, hold_expires_at timestamptz
) RETURNS tstzrange LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN status = 'active' THEN tstzrange(start_time, end_time)
        WHEN status = 'pending_payment' AND hold_expires_at > start_time
            THEN tstzrange(start_time, least(end_time, hold_expires_at))
        ELSE 'empty'::tstzrange
    END
$$;

-- The first moment after `after` at which the range starts or stops holding.
CREATE FUNCTION availability_next_moment(hold tstzrange, after timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN isempty(hold) OR upper(hold) <= after THEN NULL
        WHEN lower(hold) > after THEN lower(hold)
        ELSE upper(hold)
    END
$$;

-- The next moment any reservation starts or stops holding its spot by time alone.
CREATE FUNCTION availability_next_change(after timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT min(availability_next_moment(
        availability_hold_range(r.status, r.start_time, r.end_time, r.hold_expires_at), after
    ))
    FROM reservations_reservation r
    WHERE r.status IN ('pending_payment', 'active') AND r.end_time > after
$$;

-- Record a change at `at`: bump the version when the answer changed now (`bump`), and keep
-- next_change_at right: recomputed when the moment it names may be gone (`gone`) or passed.
-- The row is locked first: the UPDATE, a statement of its own in this VOLATILE function,
-- then sees every transaction that committed while this one waited for the lock.
CREATE FUNCTION availability_touch(bump boolean, at timestamptz, gone tstzrange, upcoming timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM availability_availabilitystate WHERE id = 1 FOR UPDATE;
    UPDATE availability_availabilitystate SET
        version = version + bump::int,
        changed_at = CASE WHEN bump THEN at ELSE changed_at END,
        next_change_at = CASE
            WHEN next_change_at <= at OR next_change_at = lower(gone)
                OR next_change_at = upper(gone) THEN availability_next_change(at)
            ELSE least(next_change_at, upcoming)
        END
    WHERE id = 1;
    IF NOT FOUND THEN  -- the row was truncated away (a test flush): start a new epoch
        INSERT INTO availability_availabilitystate (id, version, changed_at, next_change_at)
        VALUES (1, (extract(epoch FROM at) * 1000000)::bigint, at, availability_next_change(at))
        ON CONFLICT (id) DO NOTHING;
    END IF;
END
$$;
"""

RESERVATION_TRIGGER = """
CREATE FUNCTION availability_reservation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := clock_timestamp();  -- commit time: the trigger is deferred
    ahead tstzrange := tstzrange(at, NULL);
    old_hold tstzrange := 'empty';
    new_hold tstzrange := 'empty';
    old_spot bigint;
    new_spot bigint;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_hold := ahead * availability_hold_range(
            OLD.status, OLD.start_time, OLD.end_time, OLD.hold_expires_at);
        old_spot := OLD.spot_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_hold := ahead * availability_hold_range(
            NEW.status, NEW.start_time, NEW.end_time, NEW.hold_expires_at);
        new_spot := NEW.spot_id;
    END IF;
    IF old_hold = new_hold AND (old_spot = new_spot OR isempty(new_hold)) THEN
        RETURN NULL;  -- e-mails sent, charges, a past row billed: nothing a map shows
    END IF;
    PERFORM availability_touch(
        (old_hold @> at) IS DISTINCT FROM (new_hold @> at)
            OR (old_spot IS DISTINCT FROM new_spot AND (old_hold @> at OR new_hold @> at)),
        at,
        old_hold,
        availability_next_moment(new_hold, at)
    );
    PERFORM pg_notify('availability', concat_ws(',', old_spot, new_spot));
    RETURN NULL;
END
$$;

-- Deferred to commit: the state row is locked for microseconds, not for the whole booking.
CREATE CONSTRAINT TRIGGER availability_reservation_changed
    AFTER INSERT OR UPDATE OR DELETE ON reservations_reservation
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION availability_reservation_changed();
"""

# Spots change rarely and in bulk (imports, the admin): one bump per statement.
SPOT_TRIGGERS = """
CREATE FUNCTION availability_spots_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := clock_timestamp();
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO ids FROM new_spots n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.id) INTO ids FROM old_spots o;
    ELSE
        SELECT array_agg(n.id) INTO ids
        FROM new_spots n JOIN old_spots o ON o.id = n.id WHERE o IS DISTINCT FROM n;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM availability_touch(true, at, 'empty', NULL);
    -- A NOTIFY payload is short: a bulk change asks listeners to look at every spot.
    PERFORM pg_notify('availability', CASE
        WHEN cardinality(ids) > 500 THEN '*' ELSE array_to_string(ids, ',') END);
    RETURN NULL;
END
$$;

CREATE TRIGGER availability_spots_inserted AFTER INSERT ON parking_spots_parkingspot
    REFERENCING NEW TABLE AS new_spots
    FOR EACH STATEMENT EXECUTE FUNCTION availability_spots_changed();
CREATE TRIGGER availability_spots_updated AFTER UPDATE ON parking_spots_parkingspot
    REFERENCING OLD TABLE AS old_spots NEW TABLE AS new_spots
    FOR EACH STATEMENT EXECUTE FUNCTION availability_spots_changed();
CREATE TRIGGER availability_spots_deleted AFTER DELETE ON parking_spots_parkingspot
    REFERENCING OLD TABLE AS old_spots
    FOR EACH STATEMENT EXECUTE FUNCTION availability_spots_changed();
"""

FIRST_ROW = """
INSERT INTO availability_availabilitystate (id, version, changed_at, next_change_at)
VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, clock_timestamp(),
        availability_next_change(clock_timestamp()));
"""

DROP = """
DROP TRIGGER availability_spots_inserted ON parking_spots_parkingspot;
DROP TRIGGER availability_spots_updated ON parking_spots_parkingspot;
DROP TRIGGER availability_spots_deleted ON parking_spots_parkingspot;
DROP TRIGGER availability_reservation_changed ON reservations_reservation;
DROP FUNCTION availability_spots_changed();
DROP FUNCTION availability_reservation_changed();
DROP FUNCTION availability_touch(boolean, timestamptz, tstzrange, timestamptz);
DROP FUNCTION availability_next_change(timestamptz);
DROP FUNCTION availability_next_moment(tstzrange, timestamptz);
DROP FUNCTION availability_hold_range(text, timestamptz, timestamptz, timestamptz);
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("parking_spots", "0002_point_index"),
        ("reservations", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AvailabilityState",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("version", models.BigIntegerField()),
                ("changed_at", models.DateTimeField()),
                ("next_change_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", 1)), name="availability_one_row"
                    )
                ],
            },
        ),
        migrations.RunSQL(HOLD_RANGE + RESERVATION_TRIGGER + SPOT_TRIGGERS + FIRST_ROW, DROP),
    ]
