"""The radius route's plain-query fast path agrees with its serializer on every query it
takes, and leaves every other query (and every error) to the serializer."""

import itertools
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from availability.areas import SpotNearInputSerializer, near_query_plain

VALUES = {
    "lat": ["40.758", "-90", "90.0", "90.000001", "4e1", " 40.7", "nan", "", "040.5"],
    "long": ["-73.9855", "180", "-180.5", "1E2", "-0"],
    "unit": ["km", "mil", "mi", "miles", "KM", " km", "furlong"],
    "dist": ["0.5", "0", "50", "50.0001", "31.07", "-1", "1e-3"],
    "limit": [None, "7", "10000", "10001", "0", "07", "1.0"],
    "format": [None, "json", "columnar", "xml"],
}


def serializer_data(query: str) -> dict | None:
    serializer = SpotNearInputSerializer(data=QueryDict(query))
    return dict(serializer.validated_data) if serializer.is_valid() else None


def queries() -> list[str]:
    names = list(VALUES)
    found = []
    for values in itertools.product(*(VALUES[name] for name in names)):
        params = {
            name: value for name, value in zip(names, values, strict=True) if value is not None
        }
        found.append(urlencode(params, safe="-."))
    return found[::53]  # a spread of the combinations


@pytest.mark.parametrize("query", queries())
def test_the_fast_path_agrees_with_the_serializer(query):
    plain = near_query_plain(query)
    if plain is not None:
        assert plain == serializer_data(query)


@pytest.mark.parametrize(
    "query",
    [
        "lat=40.758&long=-73.9855&unit=km&dist=0.5",
        "lat=40.758&lng=-73.9855&unit=mil&dist=1&limit=5&format=columnar",
    ],
)
def test_the_usual_queries_take_the_fast_path(query):
    assert near_query_plain(query) == serializer_data(query)


@pytest.mark.parametrize(
    "query",
    [
        "lat=40.758&long=-73.9855&unit=km&dist=0.5&start_time=2030-01-01T10:00Z",
        "lat=40.758&long=-73.9855&lng=-73.9&unit=km&dist=0.5",
        "lat=40.758&lat=40.7&long=-73.9855&unit=km&dist=0.5",
        "lat=40.758&long=-73.9855&unit=km",
        "lat=40.758&long=-73.9855&unit=km&dist=0.5&",
    ],
)
def test_anything_else_goes_to_the_serializer(query):
    assert near_query_plain(query) is None
