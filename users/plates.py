"""Licence plates as a traffic agent reads them off a car, so a typed plate matches a stay.

People type plates every way ("abc 1234", "ABC-1234", full-width digits from a phone's
keyboard); agents and the DMV read only letters and digits. A plate is normalised to that
form before it is stored or looked up, and anything else in it is refused rather than guessed.
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from rest_framework import serializers

# Longest plate a US state or Canadian province issues (vanity plates reach 8 characters).
PLATE_MAX_LENGTH = 8
# What a person may type between the characters: spaces, dashes, dots and the middle dot
# printed on some plates. Nothing else is dropped.
_SEPARATORS = re.compile(r"[\s\-.\u00b7\u2010-\u2015]+")
# ASCII only, checked before upper-casing: a dotless i or a sharp s upper-cases to ASCII
# (I, SS), and that would be a guess.
_PLATE = re.compile(r"[A-Za-z0-9]+")

# The issuing jurisdictions NYC's parking tickets record: the 50 states, DC and the US
# territories by their USPS codes, Canada's provinces and territories, and "DP", the US
# State Department's diplomatic plates.
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split()
)
US_TERRITORIES = frozenset("PR GU VI AS MP".split())
CANADIAN_PROVINCES = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())
PLATE_STATES = US_STATES | US_TERRITORIES | CANADIAN_PROVINCES | {"DP"}
STATE_MAX_LENGTH = 2


def plate_normalise(value: str) -> str:
    """Upper case letters and digits only; ValidationError naming what is wrong otherwise."""
    # NFKC folds the full-width letters and digits of some phone keyboards into ASCII.
    plate = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    if not plate:
        raise ValidationError("Enter the plate's letters and digits, e.g. ABC1234.")
    if not _PLATE.fullmatch(plate):
        raise ValidationError("A plate holds only letters A-Z and digits 0-9.")
    if len(plate) > PLATE_MAX_LENGTH:
        raise ValidationError(f"A plate has at most {PLATE_MAX_LENGTH} letters and digits.")
    return plate.upper()


def plate_state_normalise(value: str) -> str:
    """The issuing state's or province's two-letter code, upper case."""
    state = unicodedata.normalize("NFKC", value).strip()
    state = state.upper() if state.isascii() else ""  # as for plates: no dotless i
    if state not in PLATE_STATES:
        raise ValidationError(
            "Give the issuing state's or province's two-letter code, e.g. NY, NJ or ON."
        )
    return state


class _NormalisedField(serializers.CharField):
    normalise = staticmethod(plate_normalise)

    def to_internal_value(self, data):
        typed = super().to_internal_value(data)
        # The field's max_length bounds what was typed: DRF's validators only see the result.
        if self.max_length is not None and len(typed) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        try:
            return self.normalise(typed)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class PlateField(_NormalisedField):
    """A plate in a request body, answered normalised (`abc-1234` becomes `ABC1234`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)  # before normalising: room for separators
        kwargs.setdefault("help_text", "Letters and digits; spaces and dashes are dropped.")
        super().__init__(**kwargs)


class PlateStateField(_NormalisedField):
    """The plate's issuing state or province, as its two-letter code."""

    normalise = staticmethod(plate_state_normalise)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 8)
        kwargs.setdefault("help_text", "Two-letter code of the issuing state or province: NY.")
        super().__init__(**kwargs)


class PlateSearchMixin:
    """For a ModelAdmin of rows with a `plate`: its search also finds a plate typed as people
    type it ("abc-1234" finds ABC1234), beside its own search_fields."""

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            plate = plate_normalise(search_term)
        except ValidationError:
            return results, may_have_duplicates
        return results | queryset.filter(plate=plate), may_have_duplicates
