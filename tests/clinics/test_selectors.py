import copy
from datetime import date

import pytest
from django.db.utils import DJANGO_VERSION_PICKLE_KEY

from clinics.exceptions import NotFound
from clinics.models import Closure, District, HealthCentre, Service, ServiceDose
from clinics.selectors import (
    closed_days,
    distance_km,
    own_copy,
    rank_centres,
    service_by_code,
    service_doses,
    service_id_by_code,
)

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


def test_a_service_is_read_once_and_again_after_it_is_saved(
    reference_data, django_assert_num_queries
):
    service_by_code("general-checkup")
    with django_assert_num_queries(0):
        kept = service_by_code("general-checkup")
    assert kept.booking_cutoff_minutes != 5

    service = Service.objects.get(code="general-checkup")
    service.booking_cutoff_minutes = 5
    service.save()
    assert service_by_code("general-checkup").booking_cutoff_minutes == 5

    service.is_active = False
    service.save()
    with pytest.raises(NotFound):
        service_by_code("general-checkup")


def test_a_services_copy_is_the_callers_own(reference_data):
    service_by_code("general-checkup").name_en = "changed by one caller"
    assert service_by_code("general-checkup").name_en != "changed by one caller"


def test_a_callers_own_copy_is_what_copy_copy_makes_and_changes_apart(reference_data):
    kept = HealthCentre.objects.select_related("district").get(number=1)
    kept.district  # noqa: B018 - in the cache of related objects

    mine, pickled = own_copy(kept), copy.copy(kept)

    assert type(mine) is HealthCentre
    # copy.copy also leaves pickling's mark of Django's version on its copy.
    apart = {"_state", DJANGO_VERSION_PICKLE_KEY}
    assert {k: v for k, v in mine.__dict__.items() if k not in apart} == {
        k: v for k, v in pickled.__dict__.items() if k not in apart
    }
    assert vars(mine._state) == vars(pickled._state)
    assert mine.district is kept.district  # shallow, as copy.copy
    mine.name_en = "changed by one caller"
    mine.district = District(code=9999, name_th="อื่น", name_en="Other")
    mine._state.adding = True
    assert kept.name_en != "changed by one caller"
    assert kept.district.code == kept.district_id
    assert kept._state.adding is False
    assert kept._state.db == "default"


def test_an_unknown_service_code_is_not_kept(reference_data, django_assert_num_queries):
    with pytest.raises(NotFound):
        service_by_code("no-such-service")
    Service.objects.create(code="no-such-service", name_th="ใหม่", name_en="New")
    assert service_by_code("no-such-service").name_en == "New"


def test_a_services_id_is_the_kept_services_and_follows_it(
    reference_data, django_assert_num_queries
):
    checkup = Service.objects.get(code="general-checkup")
    service_by_code("general-checkup")
    with django_assert_num_queries(0):
        assert service_id_by_code("general-checkup") == checkup.pk
    checkup.is_active = False
    checkup.save()
    with pytest.raises(NotFound):
        service_id_by_code("general-checkup")


def test_a_dose_series_follows_a_changed_or_deleted_dose(reference_data, django_assert_num_queries):
    hepatitis_b = Service.objects.get(code="vaccine-hepatitis-b")
    numbers = [dose.number for dose in service_doses(hepatitis_b.pk)]
    assert numbers == sorted(numbers)
    assert len(numbers) > 1
    with django_assert_num_queries(0):
        service_doses(hepatitis_b.pk)

    last = ServiceDose.objects.get(service=hepatitis_b, number=numbers[-1])
    last.max_interval_days = 999
    last.save()
    assert service_doses(hepatitis_b.pk)[-1].max_interval_days == 999
    last.delete()
    assert [dose.number for dose in service_doses(hepatitis_b.pk)] == numbers[:-1]


def test_a_change_made_elsewhere_is_seen_once_the_kept_copy_is_old(reference_data, settings):
    """A bulk update (or another process) sends no signal here: the kept copy serves until
    REFERENCE_CACHE_SECONDS have passed."""
    service_by_code("general-checkup")
    Service.objects.filter(code="general-checkup").update(name_en="Edited elsewhere")
    assert service_by_code("general-checkup").name_en != "Edited elsewhere"

    settings.REFERENCE_CACHE_SECONDS = 0  # every copy is old at once
    service_by_code("vaccine-hpv")
    Service.objects.filter(code="vaccine-hpv").update(name_en="Edited elsewhere")
    assert service_by_code("vaccine-hpv").name_en == "Edited elsewhere"
