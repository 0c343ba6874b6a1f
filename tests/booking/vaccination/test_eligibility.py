"""Who may book a drive: each rule on its own, ages taken on the vaccination day, every reason
given at once, and the rules in plain words (booking.vaccination.eligibility). No database:
the rules read only the patient's and the drive's fields."""

from datetime import date

from django.utils import translation

from booking.models import Patient, RiskGroup, VaccinationDrive
from booking.vaccination.eligibility import (
    anyone_eligible,
    describe_rules,
    ineligibilities,
    risk_groups_on,
)

VACCINATION_DAY = date(2026, 12, 15)


def person(born: date, **fields: object) -> Patient:
    return Patient(date_of_birth=born, sex=Patient.Sex.FEMALE, district_id=1029, **fields)


def codes(drive: VaccinationDrive, patient: Patient, *, districts: set[int] = frozenset()) -> list:
    return [
        reason.code
        for reason in ineligibilities(drive, patient, VACCINATION_DAY, district_codes=districts)
    ]


def test_a_drive_without_rules_is_for_everyone() -> None:
    assert codes(VaccinationDrive(), person(date(1990, 5, 1))) == []


def test_age_counts_whole_months_on_the_vaccination_day() -> None:
    six_months = VaccinationDrive(min_age_months=6)

    assert codes(six_months, person(date(2026, 6, 15))) == []  # six months that very day
    assert codes(six_months, person(date(2026, 6, 16))) == ["too_young"]


def test_a_birthday_on_the_31st_comes_at_the_end_of_a_shorter_month() -> None:
    one_month = VaccinationDrive(min_age_months=1)
    born = date(2026, 10, 31)

    # 15 December: one whole month (30 November) and not yet two.
    assert codes(one_month, person(born)) == []
    assert codes(VaccinationDrive(max_age_months=2), person(born)) == []
    assert codes(VaccinationDrive(max_age_months=1), person(born)) == ["too_old"]


def test_the_age_groups_follow_from_the_date_of_birth_and_cannot_be_declared() -> None:
    turns_65 = person(date(1961, 12, 15))
    declared_only = person(date(1990, 1, 1), risk_groups=[RiskGroup.AGED_65_PLUS])
    toddler = person(date(2025, 6, 1), risk_groups=[RiskGroup.PREGNANT])

    assert risk_groups_on(turns_65, VACCINATION_DAY) == {RiskGroup.AGED_65_PLUS}
    assert risk_groups_on(declared_only, VACCINATION_DAY) == set()
    assert risk_groups_on(toddler, VACCINATION_DAY) == {RiskGroup.YOUNG_CHILD, RiskGroup.PREGNANT}


def test_one_group_of_the_drive_is_enough() -> None:
    drive = VaccinationDrive(risk_groups=[RiskGroup.PREGNANT, RiskGroup.AGED_65_PLUS])

    assert codes(drive, person(date(1950, 1, 1))) == []
    assert codes(drive, person(date(1995, 1, 1), risk_groups=[RiskGroup.PREGNANT])) == []
    assert codes(drive, person(date(1995, 1, 1))) == ["risk_group"]


def test_every_rule_that_fails_gives_its_reason_at_once() -> None:
    drive = VaccinationDrive(
        min_age_months=65 * 12,
        sexes=[Patient.Sex.MALE],
        risk_groups=[RiskGroup.CHRONIC_DISEASE],
    )

    assert codes(drive, person(date(1990, 5, 1)), districts={1001}) == [
        "too_young",
        "sex",
        "risk_group",
        "district",
    ]
    assert codes(drive, person(date(1990, 5, 1)), districts={1029}) == [
        "too_young",
        "sex",
        "risk_group",
    ]


def test_each_reason_is_worded_in_the_readers_language() -> None:
    drive = VaccinationDrive(min_age_months=24)
    baby = person(date(2026, 1, 1))

    with translation.override("en"):
        [english] = ineligibilities(drive, baby, VACCINATION_DAY, district_codes=set())
    with translation.override("th"):
        [thai] = ineligibilities(drive, baby, VACCINATION_DAY, district_codes=set())

    assert english.message == (
        "This drive is for people aged 2 years or over on the vaccination day."
    )
    assert thai.message != english.message
    assert "2" in thai.message


def test_the_rules_in_plain_words_before_anyone_books() -> None:
    drive = VaccinationDrive(
        min_age_months=6,
        max_age_months=24,
        sexes=[Patient.Sex.FEMALE],
        risk_groups=[RiskGroup.YOUNG_CHILD],
    )

    with translation.override("en"):
        words = [str(rule) for rule in describe_rules(drive, district_names=["Bang Sue"])]

    assert words == [
        "Aged 6 months or over and under 2 years on the vaccination day.",
        "Only: Female.",
        "In one of these groups: Child aged 6 months to 2 years.",
        "Living in: Bang Sue.",
    ]
    assert describe_rules(VaccinationDrive(), district_names=[]) == []


def test_a_household_may_book_a_drive_when_any_one_of_them_meets_its_rules() -> None:
    drive = VaccinationDrive(risk_groups=[RiskGroup.PREGNANT])
    mother = person(date(1995, 1, 1), risk_groups=[RiskGroup.PREGNANT])
    father = person(date(1993, 1, 1))

    assert anyone_eligible(drive, [father, mother], VACCINATION_DAY, district_codes=set())
    assert not anyone_eligible(drive, [father], VACCINATION_DAY, district_codes=set())
    assert not anyone_eligible(drive, [], VACCINATION_DAY, district_codes=set())
