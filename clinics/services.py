"""Writes for the reference data: districts, centres, the service catalogue, holidays, staff.

Every loader is idempotent: it adds what is missing and leaves rows staff have edited alone,
so it runs on every start-up.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import holidays
from django.contrib.auth.models import User
from django.db import transaction

from clinics.models import (
    District,
    HealthCentre,
    PublicHoliday,
    Service,
    ServiceDose,
    StaffMembership,
)

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ReferenceDataLoaded:
    districts: int
    centres: int
    services: int
    holidays: int


@transaction.atomic
def load_districts(*, path: Path = DATA_DIR / "bangkok_districts.csv") -> int:
    """Add the districts in the CSV that are not in the database yet; return how many."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    existing = set(District.objects.values_list("code", flat=True))
    new = [
        District(
            code=int(row["district_code"]),
            name_th=row["name_th"],
            name_en=row["name_en"],
            latitude=float(row["lat"]),
            longitude=float(row["lon"]),
            zone_group_th=row["zone_group_th"],
        )
        for row in rows
        if int(row["district_code"]) not in existing
    ]
    District.objects.bulk_create(new)
    return len(new)


@transaction.atomic
def load_health_centres(*, path: Path = DATA_DIR / "bma_health_centres.csv") -> int:
    """Add the centres in the CSV that are not in the database yet; return how many."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    existing = set(HealthCentre.objects.values_list("number", flat=True))
    districts = {district.code: district for district in District.objects.all()}
    new = []
    for row in rows:
        number = int(row["number"])
        if number in existing:
            continue
        district = districts[int(row["district_code"])]
        new.append(
            HealthCentre(
                number=number,
                name_th=row["name_th"],
                # No official English names exist: derive one instead of inventing a translation.
                name_en=f"Public Health Centre {number} ({district.name_en})",
                short_name_th=row["short_name_th"],
                abbrev_th=row["abbrev_th"],
                district=district,
                subdistrict_th=row["subdistrict_th"],
                latitude=float(row["lat"]),
                longitude=float(row["lon"]),
                moph_hcode=row["moph_hcode"],
                line_oa=row["line_oa"],
            )
        )
    HealthCentre.objects.bulk_create(new)
    return len(new)


@transaction.atomic
def load_service_catalogue(*, path: Path = DATA_DIR / "service_catalogue.json") -> int:
    """Add missing services (with their dose series), offered at every active centre."""
    catalogue = json.loads(path.read_text(encoding="utf-8"))
    existing = set(Service.objects.values_list("code", flat=True))
    centres = list(HealthCentre.objects.filter(is_active=True))
    created = 0
    for entry in catalogue["services"]:
        if entry["code"] in existing:
            continue
        fields = {key: value for key, value in entry.items() if key != "doses"}
        service = Service.objects.create(**fields)
        ServiceDose.objects.bulk_create(
            ServiceDose(service=service, **dose) for dose in entry.get("doses", [])
        )
        service.centres.add(*centres)
        created += 1
    return created


@transaction.atomic
def load_public_holidays(*, years: list[int]) -> int:
    """Add Thai public holidays for `years` from the `holidays` package; keep staff edits."""
    thai = holidays.country_holidays("TH", years=years, language="th")
    english = holidays.country_holidays("TH", years=years, language="en_US")
    existing = set(
        PublicHoliday.objects.filter(date__year__in=years).values_list("date", flat=True)
    )
    new = [
        PublicHoliday(
            date=day,
            name_th=name[:300],
            name_en=english.get(day, "")[:300],
            source=PublicHoliday.Source.PACKAGE,
        )
        for day, name in sorted(thai.items())
        if day not in existing
    ]
    PublicHoliday.objects.bulk_create(new)
    return len(new)


def load_reference_data(*, years: list[int]) -> ReferenceDataLoaded:
    """Load districts, centres, the service catalogue and holidays; add only what is missing."""
    return ReferenceDataLoaded(
        districts=load_districts(),
        centres=load_health_centres(),
        services=load_service_catalogue(),
        holidays=load_public_holidays(years=years),
    )


def grant_membership(
    *, user: User, centre: HealthCentre, role: StaffMembership.Role
) -> StaffMembership:
    """Give `user` a role at `centre`, replacing any role they had there."""
    membership, _ = StaffMembership.objects.update_or_create(
        user=user, centre=centre, defaults={"role": role}
    )
    return membership
