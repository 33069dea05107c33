"""Enforcement keys: issued once in the admin, stored as a digest, scoped, revocable, and
apart from the people's tokens in both directions."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from enforcement.models import CoverageLookup, EnforcementKey, Scope
from enforcement.services import enforcement_key_create, enforcement_key_revoke
from tasks.services import due_work_dispatch
from testing.factories import ReservationFactory
from tests.enforcement.conftest import COVERAGE

pytestmark = pytest.mark.django_db
PARAMS = {"plate": "ABC1234", "state": "NY"}
KEYS = reverse("admin:enforcement_enforcementkey_changelist")
ADD_KEY = reverse("admin:enforcement_enforcementkey_add")
LOOKUPS = reverse("admin:enforcement_coveragelookup_changelist")


def with_header(value: str | bytes) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def test_no_key_is_a_401_with_the_challenge():
    response = APIClient().get(COVERAGE, PARAMS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Key realm="enforcement"'
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "header",
    [
        "Key ek_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # unknown
        "Key not-a-key",
        "Key",
        "Key one two",
        "Key ek_0123456789abcdef." + "é" * 43,
        b"Key \xff\xfe",
    ],
)
def test_an_unknown_or_malformed_key_is_a_401(db, header):
    response = with_header(header).get(COVERAGE, PARAMS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Key realm="enforcement"'
    assert CoverageLookup.objects.count() == 0


def test_the_right_prefix_with_another_secret_is_a_401(issued):
    prefix = issued.clear.split(".")[0]
    forged = f"{prefix}.{'A' * 43}"

    assert with_header(f"Key {forged}").get(COVERAGE, PARAMS).status_code == 401


def test_a_revoked_key_is_a_401_and_stays_for_the_log(agent, issued):
    assert agent.get(COVERAGE, PARAMS).status_code == 200

    assert enforcement_key_revoke(key_id=issued.key.pk) is True
    assert enforcement_key_revoke(key_id=issued.key.pk) is False

    assert agent.get(COVERAGE, PARAMS).status_code == 401
    assert CoverageLookup.objects.get().key == EnforcementKey.objects.get(pk=issued.key.pk)


def test_a_key_without_the_scope_is_a_403(db):
    unscoped = enforcement_key_create(name="No scope", scopes=[], created_by=None)

    response = with_header(f"Key {unscoped.clear}").get(COVERAGE, PARAMS)

    assert response.status_code == 403
    assert "detail" in response.json()


def test_a_persons_token_opens_no_enforcement_route(signed_in):
    response = signed_in.get(COVERAGE, PARAMS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Key realm="enforcement"'
    with_key_word = with_header(f"Key {signed_in.token}").get(COVERAGE, PARAMS)
    assert with_key_word.status_code == 401


@pytest.mark.parametrize(
    "path", ["/reservation-auth/", "/expired-reservations-auth/", "/vehicles/"]
)
@pytest.mark.parametrize("scheme", ["Key", "Token", "Bearer"])
def test_a_key_opens_no_persons_route(issued, path, scheme):
    ReservationFactory(plate="ABC1234", plate_state="NY")

    response = with_header(f"{scheme} {issued.clear}").get(path)

    assert response.status_code == 401
    assert "ABC1234" not in response.content.decode()


def test_last_used_is_written_at_most_once_a_minute(agent, issued):
    assert issued.key.last_used_at is None

    agent.get(COVERAGE, PARAMS)
    first = EnforcementKey.objects.get(pk=issued.key.pk).last_used_at
    agent.get(COVERAGE, PARAMS)
    again = EnforcementKey.objects.get(pk=issued.key.pk).last_used_at
    a_minute_ago = timezone.now() - timedelta(seconds=61)
    EnforcementKey.objects.filter(pk=issued.key.pk).update(last_used_at=a_minute_ago)
    agent.get(COVERAGE, PARAMS)
    later = EnforcementKey.objects.get(pk=issued.key.pk).last_used_at

    assert first is not None and again == first
    assert later > a_minute_ago + timedelta(seconds=60)


def columns_holding(text: str) -> list[str]:
    """Every table whose rows, as text, contain `text` anywhere."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT count(*) FROM {quoted} t WHERE t::text LIKE %s", [f"%{text}%"])  # noqa: S608
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_the_admin_shows_a_new_key_once_and_stores_only_its_digest(admin_client):
    form = admin_client.get(ADD_KEY)
    assert form.status_code == 200 and 'name="scopes"' in form.content.decode()
    crumbs = form.content.decode().split('class="breadcrumbs"')[1].split("</div>")[0]
    assert f'href="{KEYS}"' in crumbs

    created = admin_client.post(ADD_KEY, {"name": "Midtown agents", "scopes": ["coverage"]})

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    [clear] = re.findall(r"ek_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", created.content.decode())
    key = EnforcementKey.objects.get()
    assert (key.name, key.scopes, key.prefix) == ("Midtown agents", ["coverage"], clear[:19])
    assert key.created_by is not None
    secret = clear.split(".")[1]
    assert columns_holding(secret) == []
    assert key.prefix in admin_client.get(KEYS).content.decode()
    assert clear not in admin_client.get(KEYS).content.decode()
    assert with_header(f"Key {clear}").get(COVERAGE, PARAMS).status_code == 200


def test_the_admin_refuses_a_key_without_a_name(admin_client):
    response = admin_client.post(ADD_KEY, {"name": "", "scopes": ["coverage"]})

    assert response.status_code == 200
    assert EnforcementKey.objects.count() == 0


def test_the_admin_revokes_and_never_edits_or_deletes_a_key(admin_client, issued):
    change = reverse("admin:enforcement_enforcementkey_change", args=[issued.key.pk])
    delete = reverse("admin:enforcement_enforcementkey_delete", args=[issued.key.pk])

    assert 'name="_save"' not in admin_client.get(change).content.decode()
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    revoked = admin_client.post(
        KEYS, {"action": "revoke", "_selected_action": [issued.key.pk]}, follow=True
    )

    assert revoked.status_code == 200
    assert EnforcementKey.objects.get(pk=issued.key.pk).revoked_at is not None
    assert with_header(f"Key {issued.clear}").get(COVERAGE, PARAMS).status_code == 401


def test_the_log_is_read_only_and_searched_by_plate_or_meter(admin_client, agent, issued):
    stay = ReservationFactory(plate="ABC1234", plate_state="NY")
    agent.get(COVERAGE, PARAMS)
    agent.get(COVERAGE, {"meter": stay.spot.meter_number})
    other = enforcement_key_create(name="Other", scopes=[Scope.COVERAGE], created_by=None)
    with_header(f"Key {other.clear}").get(COVERAGE, {"plate": "XYZ9", "state": "NJ"})

    def listed(**query) -> int:
        response = admin_client.get(LOOKUPS, query)
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    assert listed() == 3
    assert listed(q="abc-1234") == 1
    assert listed(q=stay.spot.meter_number) == 1
    assert listed(key__id__exact=other.key.pk) == 1
    lookup = CoverageLookup.objects.first()
    change = reverse("admin:enforcement_coveragelookup_change", args=[lookup.pk])
    assert 'name="_save"' not in admin_client.get(change).content.decode()
    assert admin_client.get(reverse("admin:enforcement_coveragelookup_add")).status_code == 403


def test_the_beats_sweep_forgets_lookups_past_their_keeping(issued, agent, settings):
    settings.ENFORCEMENT_LOOKUPS_KEEP_DAYS = 30
    for plate in ("OLD1", "NEW1"):
        assert agent.get(COVERAGE, {"plate": plate, "state": "NY"}).status_code == 200
    CoverageLookup.objects.filter(plate="OLD1").update(at=timezone.now() - timedelta(days=31))

    due_work_dispatch()

    assert list(CoverageLookup.objects.values_list("plate", flat=True)) == ["NEW1"]
