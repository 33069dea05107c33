"""Each spot keeps its public JSON object (the spot routes' `{"id":...}`, orjson's compact
form) in a column the database writes, so no answer formats a spot again. The object is
kept open, without its closing brace: a search appends `distance` before closing it, where
cutting the brace off cost PostgreSQL more than the rest of the answer (left() counts
characters).

Formatting was most of the work of an answer: at 100,000 spots the all-spots body took
~0.8 s to build (rows through psycopg2 and orjson, or ~0.7 s of to_char and to_json in
PostgreSQL), a radius search ~2.5 us of SQL per spot found. Now the all-spots body is the
column copied out in id order and closed, and a search appends each spot's `distance`.

A BEFORE trigger writes the column from the row on every insert and update, whoever writes
(the ORM, the importer's upsert, the zone-rate trigger of 0005, SQL by hand); it is named
to run after 0005's rate trigger, so the object shows the rate that trigger set.
Timestamps are written in UTC whatever the session's time zone. Django's model does not
declare the column: nothing else reads it, and every spot query would otherwise carry it.
Tests hold the object to SpotOutputSerializer's output (tests/availability/test_snapshot.py).
"""

from django.db import migrations

FORMAT = """
CREATE FUNCTION parking_spot_public_json() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.public_json_open := '{"id":' || NEW.id
        || ',"lat":"' || NEW.lat || '","lng":"' || NEW.lng || '","rate":"' || NEW.rate
        || '","reserved":false,"active":' || NEW.active::text
        || ',"created_at":"' || replace(to_char(NEW.created_at AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')
        || '","updated_at":"' || replace(to_char(NEW.updated_at AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')
        || '","meter_number":' || coalesce(to_json(NEW.meter_number)::text, 'null')
        || ',"borough":' || to_json(NEW.borough)::text
        || ',"street":' || to_json(NEW.street)::text
        || ',"side_of_street":' || to_json(NEW.side_of_street)::text
        || ',"time_limit_minutes":' || coalesce(NEW.time_limit_minutes::text, 'null');
    RETURN NEW;
END
$$;

ALTER TABLE parking_spots_parkingspot ADD COLUMN public_json_open text NOT NULL DEFAULT '';

CREATE TRIGGER parking_spot_written_json
    BEFORE INSERT OR UPDATE ON parking_spots_parkingspot
    FOR EACH ROW EXECUTE FUNCTION parking_spot_public_json();

UPDATE parking_spots_parkingspot SET public_json_open = '';
CLUSTER parking_spots_parkingspot;
ANALYZE parking_spots_parkingspot;
"""

DROP = """
DROP TRIGGER parking_spot_written_json ON parking_spots_parkingspot;
DROP FUNCTION parking_spot_public_json();
ALTER TABLE parking_spots_parkingspot DROP COLUMN public_json_open;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("parking_spots", "0006_spot_position_order"),
    ]

    operations = [migrations.RunSQL(FORMAT, DROP)]
