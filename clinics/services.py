"""Writes for the reference data: districts, centres, the service catalogue, holidays, staff.

Every loader is idempotent: it adds what is missing and leaves rows staff have edited alone,
so it runs on every start-up.
"""

import csv
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import holidays
import pyotp
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics import audit
from clinics.centre_facts import OpeningPeriod, normalise_centre_phone
from clinics.exceptions import Forbidden, InvalidInput, SecondFactorLocked, WrongSecondFactor
from clinics.models import (
    District,
    HealthCentre,
    PublicHoliday,
    Service,
    ServiceDose,
    StaffAuthenticator,
    StaffMembership,
)
from clinics.permissions import StaffAction, require_staff

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class ReferenceDataLoaded:
    districts: int
    centres: int
    services: int
    holidays: int


@transaction.atomic
def _load_districts(*, path: Path = DATA_DIR / "bangkok_districts.csv") -> int:
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


# The facts a centre's row in the CSV may give (clinics.centre_facts), by model field.
CENTRE_FACT_COLUMNS = ("address_th", "address_en", "postcode", "phone")


def _facts_from_row(row: dict[str, str]) -> dict[str, str]:
    """The facts the CSV gives for a centre (empty ones left out); the phone as E.164."""
    facts = {column: row.get(column, "").strip() for column in CENTRE_FACT_COLUMNS}
    if facts["phone"]:
        facts["phone"] = normalise_centre_phone(facts["phone"])
    return {field: value for field, value in facts.items() if value}


@transaction.atomic
def _load_health_centres(*, path: Path = DATA_DIR / "bma_health_centres.csv") -> int:
    """Add the centres in the CSV that are not in the database yet; return how many. A centre
    already here gets the facts the CSV gives (address, postcode, phone) only where its own are
    empty: what staff typed is kept."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    existing = {centre.number: centre for centre in HealthCentre.objects.all()}
    districts = {district.code: district for district in District.objects.all()}
    new = []
    for row in rows:
        number = int(row["number"])
        facts = _facts_from_row(row)
        if number in existing:
            centre = existing[number]
            blanks = [field for field, value in facts.items() if not getattr(centre, field)]
            for field in blanks:
                setattr(centre, field, facts[field])
            if blanks:
                centre.save(update_fields=blanks)
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
                **facts,
            )
        )
    HealthCentre.objects.bulk_create(new)
    return len(new)


@transaction.atomic
def _load_service_catalogue(*, path: Path = DATA_DIR / "service_catalogue.json") -> int:
    """Add missing services (with their dose series), offered at every active centre. A
    service already here gets the catalogue's CVX code only where its own is empty: what staff
    typed is kept."""
    catalogue = json.loads(path.read_text(encoding="utf-8"))
    existing = {service.code: service for service in Service.objects.all()}
    centres = list(HealthCentre.objects.filter(is_active=True))
    created = 0
    for entry in catalogue["services"]:
        if entry["code"] in existing:
            service = existing[entry["code"]]
            if entry.get("cvx_code") and not service.cvx_code:
                service.cvx_code = entry["cvx_code"]
                service.save(update_fields=["cvx_code"])
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
        districts=_load_districts(),
        centres=_load_health_centres(),
        services=_load_service_catalogue(),
        holidays=load_public_holidays(years=years),
    )


@dataclass(frozen=True)
class CentreFactsIn:
    """A centre's facts as staff give them: the phone as written, the hours by weekday."""

    address_th: str = ""
    address_en: str = ""
    postcode: str = ""
    phone: str = ""
    opening_hours: tuple[OpeningPeriod, ...] = ()


@transaction.atomic
def update_centre_facts(*, centre: HealthCentre, by: User, facts: CentreFactsIn) -> HealthCentre:
    """Set the centre's address, postcode, phone and opening hours (empty removes one), and
    record what changed. Locks the centre's row. InvalidInput naming the field for a value the
    centre's rules refuse; nothing is written then."""
    require_staff(by, StaffAction.MANAGE_CENTRE, centre.number)
    locked = HealthCentre.objects.select_for_update().get(number=centre.number)
    try:
        phone = normalise_centre_phone(facts.phone)
    except ValidationError as problem:
        raise InvalidInput(problem.messages[0], field="phone") from None
    wanted: dict[str, Any] = {
        "address_th": facts.address_th.strip(),
        "address_en": facts.address_en.strip(),
        "postcode": facts.postcode.strip(),
        "phone": phone,
        "opening_hours": [
            period.as_json() for period in sorted(facts.opening_hours, key=lambda p: p.day)
        ],
    }
    changed = {
        field: {"from": getattr(locked, field), "to": value}
        for field, value in wanted.items()
        if getattr(locked, field) != value
    }
    if not changed:
        return locked
    if "postcode" in changed and not wanted["postcode"]:
        # Scheduling Links publishers must give one (the Location's address.postalCode).
        raise InvalidInput(
            _("A centre's postcode can be corrected but not removed: partners' files need it."),
            field="postcode",
        )
    for field in changed:
        try:  # the model's own checks: length, postcode, one-line address, hours
            HealthCentre._meta.get_field(field).clean(wanted[field], locked)  # type: ignore[union-attr]
        except ValidationError as problem:
            raise InvalidInput(problem.messages[0], field=field) from None
        setattr(locked, field, wanted[field])
    locked.save(update_fields=list(changed))
    audit.record(
        "centre.facts_changed",
        locked,
        centre_id=locked.number,
        details={"changed": changed},
        actor=by,
    )
    return locked


def grant_membership(
    *, user: User, centre: HealthCentre, role: StaffMembership.Role
) -> StaffMembership:
    """Give `user` a role at `centre`, replacing any role they had there."""
    membership, _ = StaffMembership.objects.update_or_create(
        user=user, centre=centre, defaults={"role": role}
    )
    return membership


# --- Two-factor sign-in for staff (TOTP) ---------------------------------------------------------

AUTHENTICATOR_ISSUER = "BMA Health Centres"
MAX_WRONG_CODES = 5
WRONG_CODES_LOCK_SECONDS = 15 * 60


def needs_second_factor(user: User) -> bool:
    """Staff accounts (admin site users, and anyone on a centre's staff) sign in with a code
    from an authenticator app as well as their password; patients use texted passcodes."""
    if not settings.STAFF_TWO_FACTOR:
        return False
    return bool(
        user.is_staff
        or user.is_superuser
        or StaffMembership.objects.filter(user_id=user.pk).exists()
    )


def has_authenticator(user: User) -> bool:
    return StaffAuthenticator.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists()


@transaction.atomic
def start_authenticator(*, user: User) -> StaffAuthenticator:
    """Give a member of staff without a working authenticator a new key to add to their app.
    Locks the user's authenticator row."""
    current = StaffAuthenticator.objects.select_for_update().filter(user_id=user.pk).first()
    if current is not None and current.confirmed_at is not None:
        raise Forbidden(_("This account already has an authenticator app."))
    if current is None:
        return StaffAuthenticator.objects.create(user=user, key=pyotp.random_base32())
    return current  # the key shown before: the app may have it already


def authenticator_uri(authenticator: StaffAuthenticator) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(authenticator.key).provisioning_uri(
        name=authenticator.user.get_username(), issuer_name=AUTHENTICATOR_ISSUER
    )


def confirm_authenticator(*, user: User, code: str) -> StaffAuthenticator:
    """Finish setting up the authenticator with a first code from it. Locks its row.

    A wrong code is counted even though the error is raised: the count commits first."""
    with transaction.atomic():
        authenticator = (
            StaffAuthenticator.objects.select_for_update().filter(user_id=user.pk).first()
        )
        if authenticator is None or authenticator.confirmed_at is not None:
            raise Forbidden(_("Start setting up the authenticator app again."))
        accepted = _accept_code(authenticator, code)
        if accepted:
            authenticator.confirmed_at = timezone.now()
        authenticator.save(update_fields=["confirmed_at", *_CODE_FIELDS])
    if not accepted:
        raise WrongSecondFactor()
    return authenticator


def check_second_factor(*, user: User, code: str) -> None:
    """Accept a code from the user's authenticator app once. After five wrong codes in a row
    the account takes no code for 15 minutes. Locks the authenticator's row.

    The wrong codes are counted on that row, not in the cache, so that the lockout holds
    while Redis is down; a wrong code's count commits before the error is raised."""
    with transaction.atomic():
        authenticator = (
            StaffAuthenticator.objects.select_for_update()
            .filter(user_id=user.pk, confirmed_at__isnull=False)
            .first()
        )
        if authenticator is None:
            raise Forbidden(_("Set up an authenticator app first: sign in at /staff/sign-in."))
        accepted = _accept_code(authenticator, code)
        authenticator.save(update_fields=_CODE_FIELDS)
    if not accepted:
        raise WrongSecondFactor()


_CODE_FIELDS = ["last_step", "wrong_codes", "locked_until"]


def _accept_code(authenticator: StaffAuthenticator, code: str) -> bool:
    """Check the code against the current 30-second step and one either side (clocks drift);
    a step at or before the last accepted one is refused, so a code works once. Records the
    outcome on the authenticator (to be saved); SecondFactorLocked while it is locked."""
    now = timezone.now()
    if authenticator.locked_until is not None and authenticator.locked_until > now:
        wait = authenticator.locked_until - now
        raise SecondFactorLocked(retry_after=max(1, int(wait.total_seconds() + 0.999)))
    code = "".join(code.split())
    totp = pyotp.TOTP(authenticator.key)
    step = totp.timecode(now)
    well_formed = code.isdigit() and len(code) == totp.digits
    for candidate in (step, step - 1, step + 1):
        fresh = candidate > authenticator.last_step
        if well_formed and fresh and hmac.compare_digest(totp.generate_otp(candidate), code):
            authenticator.last_step = candidate
            authenticator.wrong_codes = 0
            authenticator.locked_until = None
            return True
    authenticator.wrong_codes += 1
    if authenticator.wrong_codes >= MAX_WRONG_CODES:
        authenticator.wrong_codes = 0
        authenticator.locked_until = now + timedelta(seconds=WRONG_CODES_LOCK_SECONDS)
    return False
