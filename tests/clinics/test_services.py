from datetime import date

import pytest

from clinics.models import District, HealthCentre, PublicHoliday, Service, ServiceDose
from clinics.services import load_reference_data

pytestmark = pytest.mark.django_db


def test_the_reference_data_holds_50_districts_69_centres_and_the_catalogue(reference_data):
    assert District.objects.count() == 50
    assert HealthCentre.objects.count() == 69
    assert Service.objects.count() == 12
    centre = HealthCentre.objects.get(number=51)
    assert centre.short_name_th == "จตุจักร"
    assert centre.district.name_en == "Chatuchak"
    assert centre.name_en == "Public Health Centre 51 (Chatuchak)"
    assert centre.services.count() == 12
    assert HealthCentre.objects.get(number=67).moph_hcode == ""


def test_every_centre_lies_near_its_district(reference_data):
    from clinics.selectors import distance_km

    for centre in HealthCentre.objects.select_related("district"):
        km = distance_km(
            centre.latitude, centre.longitude, centre.district.latitude, centre.district.longitude
        )
        assert km < 15, centre


def test_loading_again_adds_nothing_and_keeps_staff_edits(reference_data):
    HealthCentre.objects.filter(number=1).update(name_en="Saphan Mon Health Centre")
    Service.objects.filter(code="vaccine-hpv").update(name_en="HPV (edited)")
    PublicHoliday.objects.filter(date=date(2026, 12, 10)).update(closes_centres=False)
    HealthCentre.objects.get(number=2).services.remove(Service.objects.get(code="antenatal"))

    loaded = load_reference_data(years=[2026, 2027])

    assert (loaded.districts, loaded.centres, loaded.services, loaded.holidays) == (0, 0, 0, 0)
    assert HealthCentre.objects.get(number=1).name_en == "Saphan Mon Health Centre"
    assert Service.objects.get(code="vaccine-hpv").name_en == "HPV (edited)"
    assert not PublicHoliday.objects.get(date=date(2026, 12, 10)).closes_centres
    assert not HealthCentre.objects.get(number=2).services.filter(code="antenatal").exists()


def test_dose_series_come_with_their_intervals(reference_data):
    doses = ServiceDose.objects.filter(service__code="vaccine-rabies-pep").order_by("number")
    assert [(d.number, d.min_interval_days, d.max_interval_days) for d in doses] == [
        (1, None, None),
        (2, 3, 4),
        (3, 4, 5),
        (4, 21, 28),
    ]


def test_thai_holidays_have_thai_and_english_names(reference_data):
    songkran = PublicHoliday.objects.get(date=date(2027, 4, 13))
    assert songkran.name_th == "วันสงกรานต์"
    assert songkran.name_en == "Songkran Festival"
    assert songkran.source == PublicHoliday.Source.PACKAGE
    assert songkran.closes_centres


def test_a_dose_series_row_must_have_sane_intervals(reference_data):
    from django.db import IntegrityError, transaction

    service = Service.objects.get(code="vaccine-influenza")
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceDose.objects.create(
            service=service, number=2, min_interval_days=30, max_interval_days=10
        )


def test_every_vaccine_in_the_catalogue_has_its_cvx_code_and_nothing_else_has_one(reference_data):
    codes = dict(Service.objects.values_list("code", "cvx_code"))

    assert codes["vaccine-mmr"] == "03"
    assert codes["vaccine-dtp-hb-hib"] == "102"
    assert all(codes[s.code] for s in Service.objects.filter(kind=Service.Kind.VACCINATION))
    assert not any(codes[s.code] for s in Service.objects.exclude(kind=Service.Kind.VACCINATION))


def test_loading_again_gives_a_service_its_cvx_code_only_where_it_has_none(reference_data):
    Service.objects.filter(code="vaccine-influenza").update(cvx_code="")
    Service.objects.filter(code="vaccine-hpv").update(cvx_code="165")  # staff chose 9-valent

    load_reference_data(years=[2026, 2027])

    assert Service.objects.get(code="vaccine-influenza").cvx_code == "88"
    assert Service.objects.get(code="vaccine-hpv").cvx_code == "165"


@pytest.mark.parametrize("code", ["3a", "1234", "", " 03"])
def test_a_cvx_code_is_one_to_three_digits(code):
    from django.core.exceptions import ValidationError

    from clinics.models.reference import validate_cvx_code

    with pytest.raises(ValidationError):
        validate_cvx_code(code)
