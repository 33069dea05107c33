"""Which of NYC DOT's meter rate zones a spot lies in: a pure rule over the export's geography.

NYC DOT prices a meter's first hour and every later hour by zone. The 2023 zones, as press
coverage of DOT's rate change of October 2023 tabulates them: M1 "Midtown core and Lower
Manhattan", M2 "Manhattan south of 96th Street", M3 "Manhattan 96th to 110th Street", Zone 1
"business districts outside Manhattan (Downtown Brooklyn, Downtown Flushing, Jamaica;
Manhattan's 125th Street)", Zone 2 "neighborhood retail districts", Zone 3 "all other metered
locations". DOT publishes the zones as a map, not as data, and the export names no zone, so
the rule approximates the map from the one thing every row has right: its position.

The export's Borough column is not that thing: in the 2023 export it contradicts the
position on 10 active rows, and on each of them the street name and the meter number's
first digit (1 Manhattan, 2 Bronx, 3 Brooklyn, 4 Queens, 5 Staten Island) side with the
position. So the rule ignores it. Street names are messy; they serve only to catch 125th
Street where it leaves the grid.

The rule, in order:
1. On Manhattan island (MANHATTAN, an outline along the middle of the rivers; Marble Hill,
   north of the ship canal, is left to the Bronx as the meter numbers have it):
   - Lower Manhattan (LOWER_MANHATTAN: south of Chambers Street and the Brooklyn Bridge)
     and the Midtown core (34th to 59th Street, 9th Avenue to 1st Avenue, the boundary
     streets' and avenues' own meters included): "midtown-core", DOT's M1;
   - else below 96th Street: "manhattan-below-96" (M2); 96th to 110th Street, both
     included: "manhattan-96-110" (M3);
   - above 110th Street, 125th Street (its own meters, by position, or by a street name
     that names it, since it bends off the grid west of Amsterdam Avenue): "business-district"
     (DOT names it in Zone 1); the rest of upper Manhattan: "elsewhere".
2. In one of BUSINESS_DISTRICTS (approximate boxes): "business-district".
3. Anywhere else: "elsewhere".

"retail" (Zone 2) is never the rule's answer: nothing in the export tells a neighbourhood
retail corridor from any other metered street. Operators put a spot in it (or correct any
other answer) in the admin by pinning the spot's zone, which the rule then leaves alone.

Manhattan's grid: the avenues run 29.1 degrees east of true north and the numbered streets
lie 80.65 m apart along them, street 38.17 level with the origin (40.75, -73.98). The figures
are a least-squares fit to the 2,665 meters of the 2023 export that stand on a numbered
street, or on an avenue between two consecutive numbered streets, from 14th to 155th Street
(a local flat projection, 111,132 m per degree of latitude): the model places them within
0.22 of a street (root mean square), 2.6 at worst where 125th Street bends west of Amsterdam
Avenue. Across the avenues, positions are metres east-south-east of the origin: 9th Avenue's
meters lie at -1395 m, 1st Avenue's at +803 m (medians between 30th and 63rd Street). Hence
the Midtown core's corners: 9th Av & 34th St (40.75346, -73.99639), 1st Av & 34th St
(40.74384, -73.97362), 1st Av & 59th St (40.75969, -73.96199), 9th Av & 59th St (40.76931,
-73.98477).
"""

import math
import re
from dataclasses import dataclass
from decimal import Decimal

MIDTOWN_CORE = "midtown-core"
MANHATTAN_BELOW_96 = "manhattan-below-96"
MANHATTAN_96_110 = "manhattan-96-110"
BUSINESS_DISTRICT = "business-district"
RETAIL = "retail"
ELSEWHERE = "elsewhere"

GRID_ORIGIN = (40.75, -73.98)
GRID_BEARING_DEGREES = 29.1
METRES_PER_STREET = 80.65
STREET_AT_ORIGIN = 38.17
METRES_PER_DEGREE_LAT = 111_132.0
METRES_PER_DEGREE_LNG = 111_320.0 * math.cos(math.radians(GRID_ORIGIN[0]))

NINTH_AVENUE_M = -1395.0
FIRST_AVENUE_M = 803.0
# A meter stands at the curb, metres off the centreline that streets and avenues are measured
# on, and the model errs by a fifth of a street: the margins keep a boundary street's or
# avenue's own meters inside and the next block's out.
AVENUE_MARGIN_M = 40.0
STREET_MARGIN = 0.3

# Up there the model runs high: 125th Street's own meters come out at 125.16 to 125.40.
STREET_125_ON_MODEL = 125.28
_STREET_125 = re.compile(r"\b125(?:th)?\s+st(?:reet)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Area:
    """A named polygon of (lat, lng) corners."""

    name: str
    corners: tuple[tuple[float, float], ...]

    def contains(self, lat: float, lng: float) -> bool:
        """Ray casting: an odd number of edges crossed eastward from the point."""
        inside = False
        previous = self.corners[-1]
        for corner in self.corners:
            (lat1, lng1), (lat2, lng2) = previous, corner
            if (lat1 > lat) != (lat2 > lat):
                crossing = lng1 + (lat - lat1) * (lng2 - lng1) / (lat2 - lat1)
                if lng < crossing:
                    inside = not inside
            previous = corner
        return inside


def _box(name: str, south: float, west: float, north: float, east: float) -> Area:
    return Area(name, ((south, west), (north, west), (north, east), (south, east)))


# Clockwise from the Battery along the middle of the Hudson, the Harlem River and the East
# River. Roosevelt and Randall's Islands lie outside (the export has no meters there).
MANHATTAN = Area(
    "Manhattan",
    (
        (40.6990, -74.0230),
        (40.7300, -74.0175),
        (40.7600, -74.0110),
        (40.8000, -73.9830),
        (40.8500, -73.9550),
        (40.8770, -73.9300),
        (40.8725, -73.9130),
        (40.8700, -73.9085),
        (40.8420, -73.9300),
        (40.8200, -73.9330),
        (40.8050, -73.9310),
        (40.7960, -73.9270),
        (40.7750, -73.9405),
        (40.7600, -73.9550),
        (40.7450, -73.9650),
        (40.7300, -73.9680),
        (40.7100, -73.9720),
        (40.7055, -73.9965),
        (40.7000, -74.0080),
    ),
)

# Chambers Street from the Hudson to Centre Street, then the Brooklyn Bridge to the East
# River; everything south of that line.
LOWER_MANHATTAN = Area(
    "Lower Manhattan",
    (
        (40.7180, -74.0250),
        (40.7180, -74.0170),
        (40.7175, -74.0135),
        (40.7134, -74.0035),
        (40.7085, -73.9975),
        (40.7085, -73.9950),
        (40.6950, -74.0050),
        (40.6950, -74.0250),
    ),
)

# Boxes around each district's commercial core, drawn from a street map and checked against
# the 2023 export (its meters inside, and their main streets, in the comments). DOT names
# Downtown Brooklyn, Downtown Flushing and Jamaica in Zone 1; Long Island City, Fordham Road,
# The Hub and St. George are their boroughs' other main business districts, taken as Zone 1
# without a source that says so.
BUSINESS_DISTRICTS = (
    # Brooklyn, 123: Atlantic Avenue, Livingston, Smith, Court and Schermerhorn Streets.
    _box("Downtown Brooklyn", 40.6860, -73.9935, 40.6970, -73.9770),
    # Queens, 119: Northern Boulevard, Main Street, 41st Avenue, College Point Boulevard.
    _box("Downtown Flushing", 40.7530, -73.8370, 40.7650, -73.8230),
    # Queens, 157: Hillside and Jamaica Avenues, Sutphin Boulevard, 148th to 168th Street.
    _box("Jamaica", 40.6980, -73.8120, 40.7090, -73.7880),
    # Queens, 126: Vernon Boulevard, Skillman and Jackson Avenues, Queens Plaza, Court Square.
    _box("Long Island City", 40.7400, -73.9560, 40.7550, -73.9340),
    # Bronx, 154: Fordham Road, Jerome Avenue, Grand Concourse, East 188th Street.
    _box("Fordham Road", 40.8560, -73.9070, 40.8660, -73.8850),
    # Bronx, 39: Third Avenue and East 149th Street.
    _box("The Hub", 40.8120, -73.9230, 40.8200, -73.9110),
    # Staten Island, 56: Bay Street, St. Marks Place, Central Avenue by the ferry terminal.
    _box("St. George", 40.6370, -74.0830, 40.6470, -74.0720),
)


@dataclass(frozen=True)
class GridPosition:
    """Where a point lies on Manhattan's grid."""

    street: float  # the numbered street it is level with, as a fraction
    crosstown_m: float  # metres east-south-east of the origin, across the avenues


def manhattan_grid(lat: float, lng: float) -> GridPosition:
    """The linear model of the module docstring: metres from the origin, turned onto the grid."""
    east = (lng - GRID_ORIGIN[1]) * METRES_PER_DEGREE_LNG
    north = (lat - GRID_ORIGIN[0]) * METRES_PER_DEGREE_LAT
    bearing = math.radians(GRID_BEARING_DEGREES)
    uptown = east * math.sin(bearing) + north * math.cos(bearing)
    crosstown = east * math.cos(bearing) - north * math.sin(bearing)
    return GridPosition(STREET_AT_ORIGIN + uptown / METRES_PER_STREET, crosstown)


def _manhattan_zone(lat: float, lng: float, street: str) -> str:
    if LOWER_MANHATTAN.contains(lat, lng):
        return MIDTOWN_CORE
    position = manhattan_grid(lat, lng)
    core_avenues = (
        NINTH_AVENUE_M - AVENUE_MARGIN_M <= position.crosstown_m <= FIRST_AVENUE_M + AVENUE_MARGIN_M
    )
    if core_avenues and 34 - STREET_MARGIN <= position.street <= 59 + STREET_MARGIN:
        return MIDTOWN_CORE
    if position.street < 96 - STREET_MARGIN:
        return MANHATTAN_BELOW_96
    if position.street <= 110 + STREET_MARGIN:
        return MANHATTAN_96_110
    if abs(position.street - STREET_125_ON_MODEL) <= STREET_MARGIN or _STREET_125.search(street):
        return BUSINESS_DISTRICT
    return ELSEWHERE


def zone_code_for(*, lat: Decimal | float, lng: Decimal | float, street: str = "") -> str:
    """The rate zone's code for a meter at (lat, lng) on `street`: the same row, the same zone."""
    lat, lng = float(lat), float(lng)
    if MANHATTAN.contains(lat, lng):
        return _manhattan_zone(lat, lng, street)
    if any(district.contains(lat, lng) for district in BUSINESS_DISTRICTS):
        return BUSINESS_DISTRICT
    return ELSEWHERE
