from django.db import migrations

# Recomputing next_change_at inside the UPDATE could use a snapshot taken before waiting for
# the state row's lock, missing the moment a transaction that just committed added. Lock
# first; the UPDATE, a statement of its own in this VOLATILE function, then sees that commit.
TOUCH = """
CREATE OR REPLACE FUNCTION availability_touch(
    bump boolean, at timestamptz, gone tstzrange, upcoming timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
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


class Migration(migrations.Migration):
    dependencies = [("availability", "0002_truncate")]

    operations = [migrations.RunSQL(TOUCH, reverse_sql=migrations.RunSQL.noop)]
