"""Plates and states as people type them, normalised to what a traffic agent reads."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework import serializers

from users.plates import PlateField, PlateStateField, plate_normalise, plate_state_normalise


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("abc 1234", "ABC1234"),
        ("ABC-1234", "ABC1234"),
        (" abc1234 ", "ABC1234"),
        ("abc.1234", "ABC1234"),
        ("ABC\u00b71234", "ABC1234"),  # the middle dot printed on some plates
        ("ABC\u20141234", "ABC1234"),  # an em dash a phone substituted
        ("\uff21\uff22\uff23\uff11\uff12\uff13\uff14", "ABC1234"),  # full-width, from a phone
        ("abc\uff11\uff12\uff13\uff14", "ABC1234"),
        ("T123456C", "T123456C"),  # NY's taxi plates
        ("t 123456 c", "T123456C"),
        ("ILUVNYC1", "ILUVNYC1"),  # an 8-character vanity plate, the longest
        ("1", "1"),
        ("7", "7"),
    ],
)
def test_a_plate_typed_every_way_is_stored_as_an_agent_reads_it(typed, stored):
    assert plate_normalise(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "letters and digits"),
        ("   ", "letters and digits"),
        ("- . -", "letters and digits"),
        ("ILUVNYC12", "at most 8"),
        ("ABC 1234 5678", "at most 8"),
        ("AB&12", "only letters"),
        ("AB/12", "only letters"),
        ("AB_12", "only letters"),
        ("ABC1234!", "only letters"),
        ("\U0001f697 ABC", "only letters"),  # a car emoji
        ("\u0410\u0412\u04211234", "only letters"),  # Cyrillic A, B, C look-alikes
        ("\u0391BC1234", "only letters"),  # Greek capital alpha
        ("AB\u200b1234", "only letters"),  # a zero-width space pasted along
        ("ABC\x001234", "only letters"),
        # Letters whose upper case is ASCII but which are none: refused, not guessed.
        ("ABC\u01311", "only letters"),  # Turkish dotless i (upper case: I)
        ("STRA\u00dfE", "only letters"),  # German sharp s (upper case: SS)
    ],
)
def test_anything_else_in_a_plate_is_refused_with_what_is_wrong(typed, says):
    with pytest.raises(ValidationError) as refused:
        plate_normalise(typed)

    assert says in refused.value.messages[0]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("ny", "NY"), (" NJ ", "NJ"), ("ON", "ON"), ("DP", "DP"), ("dc", "DC"), ("PR", "PR")],
)
def test_a_state_is_its_two_letter_code(typed, stored):
    assert plate_state_normalise(typed) == stored


@pytest.mark.parametrize(
    "typed", ["XX", "New York", "N.Y.", "", "NYC", "UK", "\u041d\u0423", "\u0131a", "\u0131n"]
)
def test_an_unknown_state_is_refused_naming_the_two_letter_code(typed):
    with pytest.raises(ValidationError) as refused:
        plate_state_normalise(typed)

    assert "two-letter code" in refused.value.messages[0]
    assert "NY" in refused.value.messages[0]


class Body(serializers.Serializer):
    plate = PlateField()
    state = PlateStateField()


def test_the_fields_answer_normalised_values():
    body = Body(data={"plate": "abc-1234", "state": " ny "})

    assert body.is_valid(), body.errors
    assert body.validated_data == {"plate": "ABC1234", "state": "NY"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"plate": None, "state": "NY"}, "plate"),
        ({"plate": ["ABC"], "state": "NY"}, "plate"),
        ({"plate": {"a": 1}, "state": "NY"}, "plate"),
        ({"plate": True, "state": "NY"}, "plate"),
        ({"plate": "ABC1234", "state": 12}, "state"),
        ({"plate": "ABC1234"}, "state"),
        ({"state": "NY"}, "plate"),
    ],
)
def test_the_fields_refuse_what_is_no_plate_by_name(data, field):
    body = Body(data=data)

    assert not body.is_valid()
    assert list(body.errors) == [field]


def test_a_plate_longer_than_its_field_is_refused_before_it_is_normalised():
    """The field's documented limit (32 characters as typed, separators included) holds: a
    long run of separators is not worked through only to be found short."""
    body = Body(data={"plate": "A" + " -" * 20 + "1", "state": "NY"})

    assert not body.is_valid()
    assert "no more than 32" in str(body.errors["plate"][0])
    huge = Body(data={"plate": "ABC-" * 10_000, "state": "NY" * 10_000})
    assert not huge.is_valid()
    assert set(huge.errors) == {"plate", "state"}
