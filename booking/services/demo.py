"""Demo data for a laptop or a staging site: weekly schedules at every centre, vaccine stock,
an open flu drive, a few staff accounts and a patient with a dependant. Never run in
production (it sets known passwords)."""

from dataclasses import dataclass
from datetime import date, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from booking.models import Patient, RiskGroup, VaccinationDrive, VaccineLot
from booking.services.slots import SlotSyncResult, sync_slots
from booking.vaccination.drives import DriveFields, create_drive, release_drive
from booking.vaccination.stock import receive_lot
from clinics.models import (
    HealthCentre,
    ScheduleTemplate,
    Service,
    StaffAuthenticator,
    StaffMembership,
)
from clinics.services import grant_membership

# The demo staff's authenticator key, printed by the run command (`manage.py demo_code` shows
# its current code): known to everyone, like the demo password.
DEMO_AUTHENTICATOR_KEY = "BMADEMOSTAFFKEYTWOFIVESIXNINEAAA"

# (service code, weekdays, start, end, slot minutes, people per slot): a typical BMA week.
WEEK = [
    ("general-checkup", "12345", time(8, 30), time(12, 0), 15, 4),
    ("video-general", "12345", time(13, 0), time(16, 0), 15, 1),
    ("video-ncd", "24", time(13, 0), time(15, 0), 20, 1),
    ("video-mental-health", "3", time(13, 0), time(16, 0), 30, 1),
    ("antenatal", "2", time(8, 30), time(12, 0), 30, 3),
    ("vaccine-influenza", "135", time(9, 0), time(12, 0), 15, 6),
    ("vaccine-covid19", "5", time(13, 0), time(15, 0), 15, 4),
    ("vaccine-hepatitis-b", "4", time(9, 0), time(11, 0), 15, 3),
    ("vaccine-hpv", "4", time(13, 0), time(15, 0), 15, 3),
    ("vaccine-rabies-pep", "1234567", time(8, 0), time(9, 0), 15, 2),
    ("vaccine-dtp-hb-hib", "3", time(9, 0), time(12, 0), 15, 4),
    ("vaccine-mmr", "3", time(9, 0), time(12, 0), 15, 4),
]

DEMO_STAFF = [
    ("scheduler1", "Somsri", "Scheduler", 1, StaffMembership.Role.SCHEDULER),
    ("nurse1", "Malee", "Nurse", 1, StaffMembership.Role.NURSE),
    ("doctor1", "Prasit", "Doctor", 1, StaffMembership.Role.CLINICIAN),
    ("admin12", "Wichai", "Admin", 12, StaffMembership.Role.CENTRE_ADMIN),
]


# Doses of each vaccine delivered to every centre, and a flu drive open at once.
DEMO_DOSES = 5000
DEMO_DRIVE_CENTRES = range(1, 11)


@dataclass(frozen=True)
class DemoSeeded:
    schedules: int
    slots: SlotSyncResult
    drive_slots: int


@transaction.atomic
def seed_demo(*, password: str, today: date | None = None) -> DemoSeeded:
    """Add demo schedules at centres that have none, demo staff and a demo patient."""
    today = today or timezone.localdate()
    services = {service.code: service for service in Service.objects.all()}
    templates = [
        ScheduleTemplate(
            centre=centre,
            service=services[code],
            weekdays=weekdays,
            start_time=start,
            end_time=end,
            slot_minutes=minutes,
            capacity=capacity,
            valid_from=today,
        )
        for centre in HealthCentre.objects.filter(is_active=True, schedule_templates__isnull=True)
        for code, weekdays, start, end, minutes, capacity in WEEK
        if code in services
    ]
    ScheduleTemplate.objects.bulk_create(templates)
    _seed_people(password)
    slots = sync_slots()
    _seed_stock(today)
    return DemoSeeded(schedules=len(templates), slots=slots, drive_slots=_seed_drive(today))


def _seed_stock(today: date) -> None:
    for service in Service.objects.filter(kind=Service.Kind.VACCINATION):
        for centre in HealthCentre.objects.filter(is_active=True):
            if not VaccineLot.objects.filter(centre=centre, service=service).exists():
                receive_lot(
                    centre=centre,
                    service=service,
                    lot_number=f"DEMO-{service.code.removeprefix('vaccine-').upper()}",
                    expires_on=today + timedelta(days=365),
                    doses=DEMO_DOSES,
                )


def _seed_drive(today: date) -> int:
    """A flu drive for older people and risk groups at ten centres, open now."""
    if VaccinationDrive.objects.exists():
        return 0
    User = get_user_model()
    drive = create_drive(
        fields=DriveFields(
            name_th="ฉีดวัคซีนไข้หวัดใหญ่ตามฤดูกาล กลุ่มเสี่ยง 7 กลุ่ม",
            name_en="Seasonal flu vaccination for the seven risk groups",
            service=Service.objects.get(code="vaccine-influenza"),
            centres=list(HealthCentre.objects.filter(number__in=DEMO_DRIVE_CENTRES)),
            first_day=today + timedelta(days=1),
            last_day=today + timedelta(days=14),
            weekdays="123456",
            sessions=[(time(9, 0), time(12, 0)), (time(13, 0), time(15, 0))],
            slot_minutes=15,
            capacity_per_slot=4,
            release_at=timezone.now(),
            risk_groups=list(RiskGroup.values),
        ),
        created_by=User.objects.get(username="admin"),
    )
    return release_drive(drive=drive).slots_created


def _seed_people(password: str) -> None:
    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@example.org", password)
    staff = [User.objects.get(username="admin")]
    for username, first, last, centre_number, role in DEMO_STAFF:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "is_staff": True}
        )
        if created:
            user.set_password(password)
            user.save()
        grant_membership(
            user=user, centre=HealthCentre.objects.get(number=centre_number), role=role
        )
        staff.append(user)
    for user in staff:
        StaffAuthenticator.objects.get_or_create(
            user=user, defaults={"key": DEMO_AUTHENTICATOR_KEY, "confirmed_at": timezone.now()}
        )
    phone = "+66812345678"
    if User.objects.filter(username=phone).exists():
        return
    account = User.objects.create_user(phone, password=password, first_name="สมหญิง")
    Patient.objects.create(
        account=account,
        relationship=Patient.Relationship.SELF,
        first_name="สมหญิง",
        last_name="รักดี",
        date_of_birth=date(1988, 3, 14),
        sex=Patient.Sex.FEMALE,
        phone=phone,
        national_id="1101700203450",
        district_id=1001,
    )
    Patient.objects.create(
        account=account,
        relationship=Patient.Relationship.CHILD,
        first_name="น้องข้าวหอม",
        last_name="รักดี",
        date_of_birth=date(2025, 6, 1),
        sex=Patient.Sex.FEMALE,
        national_id="1101700203468",
        district_id=1001,
    )
