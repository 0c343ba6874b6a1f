from datetime import date

import pytest

from clinics.models import Closure, District, HealthCentre
from clinics.selectors import closed_days, distance_km, rank_centres

pytestmark = pytest.mark.django_db


def test_distance_between_two_bangkok_points():
    # Democracy Monument to Victory Monument: about 3.7 km as the crow flies.
    assert distance_km(13.7567, 100.5018, 13.7649, 100.5383) == pytest.approx(4.0, abs=0.4)
    assert distance_km(13.75, 100.5, 13.75, 100.5) == 0


def test_centres_rank_home_district_first_then_nearest(reference_data):
    bang_rak = District.objects.get(code=1004)
    ranked = rank_centres(
        HealthCentre.objects.select_related("district"),
        district=bang_rak,
        latitude=None,
        longitude=None,
    )
    home = [r for r in ranked if r.in_home_district]
    assert ranked[: len(home)] == home
    assert {r.centre.district_id for r in home} == {1004}
    rest = [r.distance_km for r in ranked[len(home) :]]
    assert rest == sorted(rest)


def test_without_any_location_centres_keep_their_number_order(reference_data):
    ranked = rank_centres(HealthCentre.objects.all(), district=None, latitude=None, longitude=None)
    assert [r.centre.number for r in ranked] == list(range(1, 70))
    assert ranked[0].distance_km is None


def test_closed_days_join_centre_closures_city_closures_and_holidays(reference_data):
    Closure.objects.create(
        centre_id=1, start_date=date(2026, 12, 1), end_date=date(2026, 12, 2), reason_th="x"
    )
    Closure.objects.create(
        centre=None, start_date=date(2026, 12, 4), end_date=date(2026, 12, 4), reason_th="y"
    )

    days = closed_days(centre_ids=[1, 2], start=date(2026, 11, 30), end=date(2026, 12, 10))

    assert days[1] == {
        date(2026, 12, 1),
        date(2026, 12, 2),
        date(2026, 12, 4),
        date(2026, 12, 5),
        date(2026, 12, 7),
        date(2026, 12, 10),
    }
    assert days[2] == days[1] - {date(2026, 12, 1), date(2026, 12, 2)}
