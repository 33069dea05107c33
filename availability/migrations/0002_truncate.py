from django.db import migrations

# TRUNCATE skips row and statement triggers of the other events: emptying the spots (a fresh
# import) or the reservations must still name a new answer.
TRUNCATED = """
CREATE FUNCTION availability_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM availability_touch(true, clock_timestamp(), 'empty', NULL);
    PERFORM pg_notify('availability', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER availability_spots_truncated AFTER TRUNCATE ON parking_spots_parkingspot
    FOR EACH STATEMENT EXECUTE FUNCTION availability_truncated();
CREATE TRIGGER availability_reservations_truncated AFTER TRUNCATE ON reservations_reservation
    FOR EACH STATEMENT EXECUTE FUNCTION availability_truncated();
"""

DROP = """
DROP TRIGGER availability_spots_truncated ON parking_spots_parkingspot;
DROP TRIGGER availability_reservations_truncated ON reservations_reservation;
DROP FUNCTION availability_truncated();
"""


class Migration(migrations.Migration):
    dependencies = [("availability", "0001_initial")]

    operations = [migrations.RunSQL(TRUNCATED, DROP)]
