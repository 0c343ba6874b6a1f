"""Who may call what: every page and every API operation, called as each kind of caller,
allowed or denied as this table says. A route the table does not name fails the coverage test,
so nothing new is added without deciding who may use it.

Callers: nobody signed in; a patient (with their own appointment); a guardian (an account
holder whose child has the appointment); another patient; a centre admin of centre 1, where
everything in the scenario is; a centre admin of centre 2; a partner's API key (all scopes);
and a city admin. A caller given an object uses their own where they have one (the patient
their appointment, the guardian their child's, the partner the one it booked), everyone else
the patient's.

Allowed: any answer but 401, 403, 404 or a redirect to sign in (a 409 or 422 from the rules of
the thing is allowed: the caller got past the checks). Denied: one of those. Nobody ever gets
a 5xx. Token links (texts, calendar files) are allowed for whoever holds the token, and a token
opens only the routes of its own kind: the read-only calendar link that API answers carry
opens none of the others."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from booking.interop.calendars.services import start_calendar_feed
from booking.interop.fhir.publishing import PREFIX, publish_scheduling_links
from booking.interop.partners import issue_partner_key
from booking.links import (
    appointment_calendar_token,
    appointment_link_token,
    calendar_feed_link,
    offer_link_token,
    video_join_token,
)
from booking.models import (
    Appointment,
    CalendarFeed,
    Partner,
    PartnerKey,
    Patient,
    PublishedFile,
    Slot,
    VaccinationDrive,
    VaccineLot,
    WaitlistOffer,
    WalkIn,
)
from booking.services.schedules import add_closure
from booking.vaccination.drives import create_drive, release_drive
from booking.vaccination.records import issue_record, token_for
from booking.waitlist.services import join_waitlist, offer_free_places
from clinics.models import Closure, HealthCentre, ScheduleTemplate, Service, StaffMembership
from clinics.services import grant_membership
from config.api import api
from tests.factories import (
    PatientFactory,
    ScheduleTemplateFactory,
    SlotFactory,
    UserFactory,
    bangkok,
    booked,
    drive_fields,
    given_dose,
    national_id,
    stock_up,
    vaccine,
    walked_in,
)
from video.services import room_for

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 1)
WEDNESDAY = date(2026, 12, 2)

ANONYMOUS, PATIENT, GUARDIAN, OTHER = "anonymous", "patient", "guardian", "other patient"
CENTRE_STAFF, STAFF_ELSEWHERE, PARTNER, CITY = (
    "staff of the centre",
    "staff of another centre",
    "partner key",
    "city admin",
)
CALLERS = [ANONYMOUS, OTHER, STAFF_ELSEWHERE, PARTNER, PATIENT, GUARDIAN, CENTRE_STAFF, CITY]

EVERYONE = frozenset(CALLERS)
NOBODY: frozenset[str] = frozenset()
SIGNED_IN = EVERYONE - {ANONYMOUS, PARTNER}
OWNERS = frozenset({PATIENT, GUARDIAN})
STAFF_HERE = frozenset({CENTRE_STAFF, CITY})
ANY_STAFF = frozenset({CENTRE_STAFF, STAFF_ELSEWHERE, CITY})
CITY_ONLY = frozenset({CITY})
PARTNER_ONLY = frozenset({PARTNER})
# Sign-in steps, sign-out and unknown addresses: whoever calls, only never a 5xx.
ANY_ANSWER = None


# --- The scenario --------------------------------------------------------------------------------


@dataclass
class Scenario:
    patient: Patient
    child: Patient
    other: Patient
    mine: Appointment
    childs: Appointment
    partnered: Appointment
    video: dict[str, Appointment]
    free_slot: Slot
    later_slot: Slot
    template: ScheduleTemplate
    closure: Closure
    lot: VaccineLot
    drive: VaccinationDrive
    offers: dict[str, WaitlistOffer]
    feed: CalendarFeed
    bulk_file: str
    walk_in: WalkIn
    # A vaccine dose given to the patient, the child and someone the partner booked.
    doses: dict[str, Appointment]
    users: dict[str, User] = field(default_factory=dict)
    partner_secret: str = ""

    def appointment(self, caller: str) -> Appointment:
        return {GUARDIAN: self.childs, PARTNER: self.partnered}.get(caller, self.mine)

    def dose(self, caller: str) -> Appointment:
        return self.doses.get(caller, self.doses[PATIENT])

    def person(self, caller: str) -> Patient:
        return self.child if caller == GUARDIAN else self.patient

    def client(self, caller: str) -> Client:
        if caller == PARTNER:
            return Client(HTTP_AUTHORIZATION=f"Bearer {self.partner_secret}")
        client = Client()
        if caller != ANONYMOUS:
            client.force_login(self.users[caller])
        return client


def _staff(username: str, centre: int) -> User:
    user = UserFactory(username=username, is_staff=True)
    grant_membership(
        user=user,
        centre=HealthCentre.objects.get(number=centre),
        role=StaffMembership.Role.CENTRE_ADMIN,
    )
    return user


@pytest.fixture
def scenario(reference_data, clock, settings) -> Scenario:
    for name in (
        "SIGN_IN_CODES_PER_PHONE_PER_HOUR",
        "SIGN_IN_CODES_PER_ADDRESS_PER_HOUR",
        "SIGN_INS_PER_USER_PER_10_MINUTES",
        "SIGN_INS_PER_ADDRESS_PER_10_MINUTES",
        "SEARCHES_PER_ADDRESS_PER_MINUTE",
        "BOOKINGS_PER_ACCOUNT_PER_HOUR",
        "BOOKINGS_PER_ADDRESS_PER_HOUR",
        "BOOKINGS_PER_NATIONAL_ID_PER_DAY",
    ):
        setattr(settings, name, 0)
    settings.AUDIT_REPEATED_READ_SECONDS = 0
    centre = HealthCentre.objects.get(number=1)
    video_service = Service.objects.get(code="video-general")
    patient = PatientFactory(account=UserFactory(username="+66810000001"), phone="+66810000001")
    guardian = PatientFactory(account=UserFactory(username="+66810000003"), phone="+66810000003")
    child = PatientFactory(
        account=guardian.account, relationship=Patient.Relationship.CHILD, phone=""
    )
    other = PatientFactory(account=UserFactory(username="+66810000002"), phone="+66810000002")
    slot = SlotFactory(start=bangkok(TUESDAY, time(10)), capacity=10)
    mine, childs = booked(patient, slot), booked(child, slot)
    video = {
        caller: booked(person, SlotFactory(service=video_service, start=bangkok(TUESDAY, time(14))))
        for caller, person in ((PATIENT, patient), (GUARDIAN, child))
    }
    room_for(video[PATIENT])
    partner = Partner.objects.create(name="Super-app", contact_email="api@example.org")
    secret = issue_partner_key(
        partner=partner, scopes=list(PartnerKey.Scope.values), issued_by=None
    ).secret
    partnered = booked(
        PatientFactory(), SlotFactory(start=bangkok(TUESDAY, time(11))), partner=partner
    )
    flu = vaccine("vaccine-influenza")
    lot = stock_up(1, flu, 500)
    stock_up(1, vaccine(), 10, lot="HEPB-1")
    doses = {
        caller: given_dose(person, TUESDAY, at=time(8), **options)
        for caller, person, options in (
            (PATIENT, patient, {}),
            (GUARDIAN, child, {}),
            (PARTNER, PatientFactory(), {"partner": partner}),
        )
    }
    drive = create_drive(
        fields=drive_fields(centres=[centre], release_at=timezone.now()),
        created_by=UserFactory(),
    )
    release_drive(drive=drive)
    checkup = Service.objects.get(code="general-checkup")
    offers = {}
    for person in (patient, child):
        join_waitlist(
            patient=person,
            service=checkup,
            centres=[centre],
            district=None,
            date_from=WEDNESDAY,
            date_to=WEDNESDAY,
            joined_by=person.account,
        )
    for hour in (15, 16):
        SlotFactory(start=bangkok(WEDNESDAY, time(hour)), capacity=1)
    offer_free_places()
    for offer in WaitlistOffer.objects.select_related("entry__patient"):
        offers[PATIENT if offer.entry.patient_id == patient.pk else GUARDIAN] = offer
    publish_scheduling_links()

    scenario = Scenario(
        patient=patient,
        child=child,
        other=other,
        mine=mine,
        childs=childs,
        partnered=partnered,
        video=video,
        free_slot=SlotFactory(start=bangkok(WEDNESDAY, time(9)), capacity=10),
        later_slot=SlotFactory(start=bangkok(WEDNESDAY, time(10)), capacity=10),
        template=ScheduleTemplateFactory(centre=centre, service=checkup),
        closure=add_closure(
            centre=centre,
            start_date=TUESDAY + timedelta(days=20),
            end_date=TUESDAY + timedelta(days=20),
            reason_th="ปิด",
        ).closure,
        lot=lot,
        drive=drive,
        offers=offers,
        feed=start_calendar_feed(owner=patient.account, kind=CalendarFeed.Kind.HOUSEHOLD),
        bulk_file=PublishedFile.objects.filter(name__startswith=PREFIX)
        .values_list("name", flat=True)[0]
        .removeprefix(PREFIX),
        partner_secret=secret,
        walk_in=walked_in(other),
        doses=doses,
    )
    scenario.users = {
        PATIENT: patient.account,
        GUARDIAN: guardian.account,
        OTHER: other.account,
        CENTRE_STAFF: _staff("admin1", 1),
        STAFF_ELSEWHERE: _staff("admin2", 2),
        CITY: UserFactory(username="city", is_staff=True, is_superuser=True),
    }
    for caller, user in scenario.users.items():  # everyone's calendars have an address
        if caller != PATIENT:
            start_calendar_feed(owner=user, kind=CalendarFeed.Kind.HOUSEHOLD)
        if caller in ANY_STAFF:
            start_calendar_feed(owner=user, kind=CalendarFeed.Kind.CLINICIAN)
    return scenario


# --- The table -----------------------------------------------------------------------------------

Fill = Callable[[Scenario, str], Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # as the URL configuration or the OpenAPI schema names it
    allowed: frozenset[str] | None  # None: any answer but a 5xx
    path: Fill  # the address to call, for the scenario and the caller
    body: Fill | None = None
    headers: Fill | None = None
    why: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.pattern}"


def at(address: str) -> Fill:
    return lambda s, caller: address


def own(template: str) -> Fill:
    """An address about the caller's own appointment (the patient's for callers with none)."""
    return lambda s, caller: template.format(id=s.appointment(caller).pk)


def person_body(s: Scenario, caller: str) -> dict[str, object]:
    person = s.person(caller)
    return {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "date_of_birth": person.date_of_birth.isoformat(),
        "sex": person.sex,
        "phone": person.phone,
        "national_id": person.national_id,
        "preferred_language": person.preferred_language,
    }


def desk_person_body(s: Scenario, caller: str) -> dict[str, object]:
    """Someone new at the desk, with no phone, whose ID card staff saw."""
    return {
        "first_name": "บุญมี",
        "last_name": "มีสุข",
        "date_of_birth": "1948-03-09",
        "sex": "female",
        "national_id": national_id(),
        "preferred_language": "th",
        "id_card_seen": "on",
    }


def idempotency(s: Scenario, caller: str) -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}


SCHEDULE = {
    "service": "general-checkup",
    "weekdays": [6],
    "start_time": "13:00",
    "end_time": "14:00",
    "slot_minutes": 15,
    "capacity": 2,
    "valid_from": "2026-12-05",
}
CLOSURE = {"start_date": "2026-12-28", "end_date": "2026-12-28", "reason_th": "ปิด"}


def drive_body(s: Scenario, caller: str) -> dict[str, object]:
    return {
        "name_th": "ฉีดวัคซีน",
        "service": "vaccine-influenza",
        "centres": [1],
        "first_day": "2026-12-08",
        "last_day": "2026-12-09",
        "sessions": [{"start_time": "09:00", "end_time": "10:00"}],
        "capacity_per_slot": 2,
        "release_at": "2026-12-01T10:00:00+07:00",
    }


A = "/api/v1"
ROUTES: list[Route] = [
    # Pages: finding and booking, signing in
    Route("GET", "", EVERYONE, at("/?service=general-checkup")),
    Route("GET", "sign-in", EVERYONE, at("/sign-in")),
    Route("GET", "sign-in/thaid", ANY_ANSWER, at("/sign-in/thaid"), why="404 until configured"),
    Route("GET", "sign-in/thaid/callback", ANY_ANSWER, at("/sign-in/thaid/callback?code=x")),
    Route("POST", "sign-in/thaid/connect", ANY_ANSWER, at("/sign-in/thaid/connect")),
    Route("POST", "sign-out", ANY_ANSWER, at("/sign-out")),
    Route(
        "GET", "book/slots/<int:slot_id>", EVERYONE, lambda s, c: f"/book/slots/{s.free_slot.pk}"
    ),
    # Pages: a patient's own
    Route("GET", "me/", SIGNED_IN, at("/me/"), why="staff see their own (empty) household"),
    Route("GET", "me/data.json", SIGNED_IN, at("/me/data.json")),
    Route("GET", "me/delete", SIGNED_IN, at("/me/delete")),
    Route("POST", "me/delete/withdraw", SIGNED_IN, at("/me/delete/withdraw")),
    Route("GET", "me/appointments/<int:appointment_id>", OWNERS, own("/me/appointments/{id}")),
    Route(
        "GET",
        "me/people/<int:patient_id>/vaccinations",
        OWNERS,
        lambda s, c: f"/me/people/{s.person(c).pk}/vaccinations",
    ),
    Route(
        "POST",
        "me/people/<int:patient_id>/vaccinations",
        OWNERS,
        lambda s, c: f"/me/people/{s.person(c).pk}/vaccinations",
        body=lambda s, c: {"action": "withdraw"},
    ),
    Route(
        "GET",
        "verify/<str:token>",
        EVERYONE,
        lambda s, c: f"/verify/{token_for(issue_record(patient=s.patient))}",
        why="a vaccination record's public check: the signed token is the key",
    ),
    # Pages: links in text messages and calendar files (the token is the key)
    Route("GET", "a/<str:token>", EVERYONE, lambda s, c: f"/a/{appointment_link_token(s.mine.pk)}"),
    Route(
        "GET",
        "a/<str:token>/calendar.ics",
        EVERYONE,
        lambda s, c: f"/a/{appointment_link_token(s.mine.pk)}/calendar.ics",
    ),
    Route(
        "GET",
        "c/<str:token>.ics",
        EVERYONE,
        lambda s, c: f"/c/{appointment_calendar_token(s.mine.pk)}.ics",
        why="read-only calendar link in API answers",
    ),
    Route(
        "GET",
        "w/<str:token>",
        EVERYONE,
        lambda s, c: f"/w/{offer_link_token(s.offers[PATIENT].pk)}",
    ),
    Route(
        "GET",
        "calendars/<str:token>.ics",
        EVERYONE,
        lambda s, c: urlsplit(calendar_feed_link(s.feed.pk)).path,
    ),
    Route("GET", "centres/<int:number>/closures.ics", EVERYONE, at("/centres/1/closures.ics")),
    Route(
        "GET", "v/<str:token>", EVERYONE, lambda s, c: f"/v/{video_join_token(s.video[PATIENT].pk)}"
    ),
    # Pages: staff
    Route("GET", "staff/sign-in", EVERYONE, at("/staff/sign-in")),
    Route("GET", "staff/sign-in/code", ANY_ANSWER, at("/staff/sign-in/code")),
    Route("GET", "staff/sign-in/authenticator", ANY_ANSWER, at("/staff/sign-in/authenticator")),
    Route("POST", "staff/sign-out", ANY_ANSWER, at("/staff/sign-out")),
    Route("GET", "staff/", ANY_STAFF, at("/staff/")),
    Route("GET", "staff/audit", CITY_ONLY, at("/staff/audit")),
    Route("GET", "staff/dashboard", CITY_ONLY, at("/staff/dashboard")),
    Route("GET", "staff/centres/<int:number>/about", STAFF_HERE, at("/staff/centres/1/about")),
    Route(
        "POST",
        "staff/centres/<int:number>/about",
        STAFF_HERE,
        at("/staff/centres/1/about"),
        body=lambda s, c: {"postcode": "10200"},
    ),
    Route("GET", "staff/centres/<int:number>/audit", STAFF_HERE, at("/staff/centres/1/audit")),
    Route("GET", "staff/centres/<int:number>/today", STAFF_HERE, at("/staff/centres/1/today")),
    Route(
        "POST",
        "staff/centres/<int:number>/today/appointments/<int:appointment_id>/<str:action>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/today/appointments/{s.mine.pk}/check-in",
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/today/appointments/<int:appointment_id>/<str:action>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/today/appointments/{s.mine.pk}/verify-id",
        why="the desk marks an ID checked",
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/today/walk-ins/<int:walk_in_id>/<str:action>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/today/walk-ins/{s.walk_in.pk}/left",
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/walk-ins",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/walk-ins?find={s.patient.national_id}",
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/walk-ins/add",
        STAFF_HERE,
        at("/staff/centres/1/walk-ins/add"),
        body=lambda s, c: {"patient": s.patient.pk, "service": "general-checkup"},
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/walk-ins/<int:walk_in_id>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/walk-ins/{s.walk_in.pk}",
    ),
    Route("GET", "staff/centres/<int:number>/week", STAFF_HERE, at("/staff/centres/1/week")),
    Route(
        "GET", "staff/centres/<int:number>/schedules", STAFF_HERE, at("/staff/centres/1/schedules")
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/schedules/<int:schedule_id>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/schedules/{s.template.pk}",
    ),
    Route(
        "GET", "staff/centres/<int:number>/closures", STAFF_HERE, at("/staff/centres/1/closures")
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/move-or-cancel",
        STAFF_HERE,
        at("/staff/centres/1/move-or-cancel"),
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/shared-phones",
        STAFF_HERE,
        at("/staff/centres/1/shared-phones"),
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/shared-phones/<int:account_id>/<str:action>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/shared-phones/{s.patient.account_id}/allow",
    ),
    # Pages: the desk (find, register, book for people; the slip)
    Route("GET", "staff/centres/<int:number>/desk", STAFF_HERE, at("/staff/centres/1/desk")),
    Route(
        "POST",
        "staff/centres/<int:number>/desk",
        STAFF_HERE,
        at("/staff/centres/1/desk"),
        body=lambda s, c: {"national_id": s.patient.national_id},
        why="a search",
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/desk/register",
        STAFF_HERE,
        at("/staff/centres/1/desk/register"),
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/desk/register",
        STAFF_HERE,
        at("/staff/centres/1/desk/register"),
        body=lambda s, c: desk_person_body(s, c),
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/desk/people/<int:patient_id>",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/desk/people/{s.patient.pk}",
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/desk/people/<int:patient_id>/book",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/desk/people/{s.patient.pk}/book",
        body=lambda s, c: {"slot_id": s.free_slot.pk, "idempotency_key": str(uuid.uuid4())},
    ),
    Route(
        "GET",
        "staff/centres/<int:number>/desk/appointments/<int:appointment_id>/slip",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/desk/appointments/{s.mine.pk}/slip",
    ),
    Route("GET", "staff/centres/<int:number>/stock", STAFF_HERE, at("/staff/centres/1/stock")),
    Route(
        "GET",
        "staff/centres/<int:number>/stock/lots/<int:lot_id>/withdraw",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/stock/lots/{s.lot.pk}/withdraw",
    ),
    Route(
        "POST",
        "staff/centres/<int:number>/stock/lots/<int:lot_id>/withdraw",
        STAFF_HERE,
        lambda s, c: f"/staff/centres/1/stock/lots/{s.lot.pk}/withdraw",
        body=lambda s, c: {"reason": "Cold chain broken"},
    ),
    Route(
        "GET", "staff/centres/<int:number>/dashboard", STAFF_HERE, at("/staff/centres/1/dashboard")
    ),
    Route("GET", "staff/drives", ANY_STAFF, at("/staff/drives")),
    Route("GET", "staff/drives/new", ANY_STAFF, at("/staff/drives/new")),
    Route(
        "GET", "staff/drives/<int:drive_id>", STAFF_HERE, lambda s, c: f"/staff/drives/{s.drive.pk}"
    ),
    Route(
        "POST",
        "staff/drives/<int:drive_id>/<str:action>",
        STAFF_HERE,
        lambda s, c: f"/staff/drives/{s.drive.pk}/release",
    ),
    Route(
        "GET",
        "video/rooms/<str:code>",
        STAFF_HERE,
        lambda s, c: f"/video/rooms/{room_for(s.video[PATIENT]).code}",
    ),
    Route("GET", "video/centres/<int:number>/", STAFF_HERE, at("/video/centres/1/")),
    Route("GET", "admin/", ANY_STAFF, at("/admin/")),
    Route("GET", "admin/login/", ANY_ANSWER, at("/admin/login/")),
    # Twilio's webhooks: only requests Twilio signed
    Route("POST", "sms/twilio/status", NOBODY, at("/sms/twilio/status")),
    Route("POST", "sms/twilio/incoming", NOBODY, at("/sms/twilio/incoming")),
    # FHIR, scheduling links and open data
    Route("GET", "fhir/r4/metadata", EVERYONE, at("/fhir/r4/metadata")),
    Route("GET", "fhir/r4/$bulk-publish", EVERYONE, at("/fhir/r4/$bulk-publish")),
    Route("GET", "fhir/r4/bulk/<str:name>", EVERYONE, lambda s, c: f"/fhir/r4/bulk/{s.bulk_file}"),
    Route("GET", "fhir/r4/<str:kind>", EVERYONE, at("/fhir/r4/Location")),
    Route(
        "GET",
        "fhir/r4/<str:kind>",
        SIGNED_IN | PARTNER_ONLY,
        at("/fhir/r4/Appointment"),
        why="appointments: signed in or a partner key, each seeing only their own",
    ),
    Route("GET", "fhir/r4/<str:kind>/<str:ident>", EVERYONE, at("/fhir/r4/Location/1")),
    Route(
        "GET",
        "fhir/r4/<str:kind>/<str:ident>",
        OWNERS | STAFF_HERE | PARTNER_ONLY,
        own("/fhir/r4/Appointment/{id}"),
    ),
    Route(
        "GET",
        "fhir/r4/<str:kind>",
        SIGNED_IN | PARTNER_ONLY,
        at("/fhir/r4/Immunization"),
        why="doses given: signed in or a partner key, each seeing only their own",
    ),
    Route(
        "GET",
        "fhir/r4/<str:kind>/<str:ident>",
        OWNERS | STAFF_HERE | PARTNER_ONLY,
        lambda s, c: f"/fhir/r4/Immunization/{s.dose(c).pk}",
    ),
    Route("GET", "fhir/r4/<path:rest>", ANY_ANSWER, at("/fhir/r4/Nothing/here/at/all")),
    Route("GET", "open-data/", EVERYONE, at("/open-data/")),
    Route("GET", "open-data/daily-figures.csv", EVERYONE, at("/open-data/daily-figures.csv")),
    Route("GET", "open-data/daily-figures.json", EVERYONE, at("/open-data/daily-figures.json")),
    Route(
        "GET",
        "open-data/daily-figures/dictionary.json",
        EVERYONE,
        at("/open-data/daily-figures/dictionary.json"),
    ),
    Route(
        "GET",
        "open-data/daily-figures/dictionary.csv",
        EVERYONE,
        at("/open-data/daily-figures/dictionary.csv"),
    ),
    Route("GET", "api/docs", EVERYONE, at("/api/docs")),
    Route("GET", "^api/v1/(?P<rest>(?s:.*))$", ANY_ANSWER, at(f"{A}/no/such/thing")),
    # API: reference data and open times
    Route("GET", f"{A}/districts", EVERYONE, at(f"{A}/districts")),
    Route("GET", f"{A}/centres", EVERYONE, at(f"{A}/centres")),
    Route("GET", f"{A}/centres/{{number}}", EVERYONE, at(f"{A}/centres/1")),
    Route("GET", f"{A}/services", EVERYONE, at(f"{A}/services")),
    Route("GET", f"{A}/services/{{code}}", EVERYONE, at(f"{A}/services/general-checkup")),
    Route("GET", f"{A}/slots", EVERYONE, at(f"{A}/slots?service=general-checkup")),
    Route("GET", f"{A}/drives", EVERYONE, at(f"{A}/drives")),
    Route("GET", f"{A}/drives/{{drive_id}}", EVERYONE, lambda s, c: f"{A}/drives/{s.drive.pk}"),
    # API: signing in
    Route("GET", f"{A}/auth/csrf", EVERYONE, at(f"{A}/auth/csrf")),
    Route(
        "POST",
        f"{A}/auth/passcode",
        EVERYONE,
        at(f"{A}/auth/passcode"),
        body=lambda s, c: {"phone": "+66819999999"},
    ),
    Route(
        "POST",
        f"{A}/auth/passcode/sign-in",
        ANY_ANSWER,
        at(f"{A}/auth/passcode/sign-in"),
        body=lambda s, c: {"phone": "+66819999999", "code": "000000"},
    ),
    Route(
        "POST",
        f"{A}/auth/register",
        EVERYONE,
        at(f"{A}/auth/register"),
        body=lambda s, c: {"first_name": ""},
        why="a 422 for the empty form: anyone may register",
    ),
    Route(
        "POST",
        f"{A}/auth/sign-in",
        ANY_ANSWER,
        at(f"{A}/auth/sign-in"),
        body=lambda s, c: {"username": "nobody", "password": "wrong"},
    ),
    Route("POST", f"{A}/auth/sign-out", SIGNED_IN, at(f"{A}/auth/sign-out")),
    Route("GET", f"{A}/auth/me", SIGNED_IN, at(f"{A}/auth/me")),
    # API: a patient's own
    Route("GET", f"{A}/me/patients", SIGNED_IN, at(f"{A}/me/patients")),
    Route(
        "POST",
        f"{A}/me/patients",
        SIGNED_IN,
        at(f"{A}/me/patients"),
        body=lambda s, c: {"relationship": "child"},
        why="a 422 for the empty form: anyone signed in may add someone they book for",
    ),
    Route(
        "GET",
        f"{A}/me/patients/{{patient_id}}",
        OWNERS,
        lambda s, c: f"{A}/me/patients/{s.person(c).pk}",
    ),
    Route(
        "PUT",
        f"{A}/me/patients/{{patient_id}}",
        OWNERS,
        lambda s, c: f"{A}/me/patients/{s.person(c).pk}",
        body=person_body,
    ),
    Route(
        "POST",
        f"{A}/me/patients/{{patient_id}}/phone/passcode",
        OWNERS,
        lambda s, c: f"{A}/me/patients/{s.person(c).pk}/phone/passcode",
        why="a 422 when the phone needs no proving: the caller got past the checks",
    ),
    Route(
        "POST",
        f"{A}/me/patients/{{patient_id}}/phone/verify",
        OWNERS,
        lambda s, c: f"{A}/me/patients/{s.person(c).pk}/phone/verify",
        body=lambda s, c: {"code": "000000"},
        why="a 422 when the phone needs no proving: the caller got past the checks",
    ),
    Route("GET", f"{A}/me/appointments", SIGNED_IN, at(f"{A}/me/appointments")),
    Route(
        "POST",
        f"{A}/me/appointments",
        OWNERS,
        at(f"{A}/me/appointments"),
        body=lambda s, c: {"patient_id": s.person(c).pk, "slot_id": s.free_slot.pk},
        headers=idempotency,
    ),
    Route(
        "GET", f"{A}/me/appointments/{{appointment_id}}", OWNERS, own(f"{A}/me/appointments/{{id}}")
    ),
    Route(
        "POST",
        f"{A}/me/appointments/allocate",
        OWNERS,
        at(f"{A}/me/appointments/allocate"),
        body=lambda s, c: {"patient_id": s.person(c).pk, "service": "general-checkup"},
        headers=idempotency,
    ),
    Route(
        "POST",
        f"{A}/me/appointments/{{appointment_id}}/reschedule",
        OWNERS,
        own(f"{A}/me/appointments/{{id}}/reschedule"),
        body=lambda s, c: {"slot_id": s.later_slot.pk},
    ),
    Route(
        "POST",
        f"{A}/me/appointments/{{appointment_id}}/cancel",
        OWNERS,
        own(f"{A}/me/appointments/{{id}}/cancel"),
        body=lambda s, c: {},
    ),
    Route(
        "GET",
        f"{A}/me/appointments/{{appointment_id}}/video",
        OWNERS,
        lambda s, c: f"{A}/me/appointments/{s.video.get(c, s.video[PATIENT]).pk}/video",
    ),
    Route("GET", f"{A}/me/vaccinations", SIGNED_IN, at(f"{A}/me/vaccinations")),
    Route(
        "GET",
        f"{A}/drives/{{drive_id}}/eligibility",
        OWNERS,
        lambda s, c: f"{A}/drives/{s.drive.pk}/eligibility?patient_id={s.person(c).pk}",
    ),
    Route(
        "POST",
        f"{A}/me/waitlist",
        OWNERS,
        at(f"{A}/me/waitlist"),
        body=lambda s, c: {
            "patient_id": s.person(c).pk,
            "service": "vaccine-influenza",
            "date_from": "2026-12-03",
            "date_to": "2026-12-04",
        },
    ),
    Route("GET", f"{A}/me/waitlist", SIGNED_IN, at(f"{A}/me/waitlist")),
    Route(
        "DELETE",
        f"{A}/me/waitlist/{{entry_id}}",
        OWNERS,
        lambda s, c: f"{A}/me/waitlist/{s.offers.get(c, s.offers[PATIENT]).entry_id}",
    ),
    Route(
        "POST",
        f"{A}/me/waitlist/offers/{{offer_id}}/claim",
        OWNERS,
        lambda s, c: f"{A}/me/waitlist/offers/{s.offers.get(c, s.offers[PATIENT]).pk}/claim",
    ),
    Route(
        "POST",
        f"{A}/me/waitlist/offers/{{offer_id}}/decline",
        OWNERS,
        lambda s, c: f"{A}/me/waitlist/offers/{s.offers.get(c, s.offers[PATIENT]).pk}/decline",
    ),
    Route("GET", f"{A}/me/calendar-feed", SIGNED_IN, at(f"{A}/me/calendar-feed")),
    Route("POST", f"{A}/me/calendar-feed", SIGNED_IN, at(f"{A}/me/calendar-feed")),
    Route("DELETE", f"{A}/me/calendar-feed", SIGNED_IN, at(f"{A}/me/calendar-feed")),
    # API: links in text messages (the token is the key)
    Route(
        "GET",
        f"{A}/links/{{token}}",
        EVERYONE,
        lambda s, c: f"{A}/links/{appointment_link_token(s.mine.pk)}",
    ),
    Route(
        "GET",
        f"{A}/links/{{token}}/alternatives",
        EVERYONE,
        lambda s, c: f"{A}/links/{appointment_link_token(s.mine.pk)}/alternatives",
    ),
    Route(
        "POST",
        f"{A}/links/{{token}}/confirm",
        EVERYONE,
        lambda s, c: f"{A}/links/{appointment_link_token(s.mine.pk)}/confirm",
    ),
    Route(
        "POST",
        f"{A}/links/{{token}}/reschedule",
        EVERYONE,
        lambda s, c: f"{A}/links/{appointment_link_token(s.mine.pk)}/reschedule",
        body=lambda s, c: {"slot_id": s.later_slot.pk},
    ),
    Route(
        "POST",
        f"{A}/links/{{token}}/cancel",
        EVERYONE,
        lambda s, c: f"{A}/links/{appointment_link_token(s.mine.pk)}/cancel",
    ),
    # API: staff of a centre
    Route("GET", f"{A}/staff/centres/{{number}}", STAFF_HERE, at(f"{A}/staff/centres/1")),
    Route(
        "PATCH",
        f"{A}/staff/centres/{{number}}",
        STAFF_HERE,
        at(f"{A}/staff/centres/1"),
        body=lambda s, c: {"postcode": "10200"},
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/schedules",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/schedules"),
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/clinicians",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/clinicians"),
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/schedules",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/schedules"),
        body=lambda s, c: SCHEDULE,
    ),
    Route(
        "PUT",
        f"{A}/staff/schedules/{{schedule_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/schedules/{s.template.pk}",
        body=lambda s, c: {**SCHEDULE, "weekdays": [7]},
    ),
    Route(
        "DELETE",
        f"{A}/staff/schedules/{{schedule_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/schedules/{s.template.pk}",
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/closures",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/closures"),
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/closures",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/closures"),
        body=lambda s, c: CLOSURE,
    ),
    Route(
        "POST",
        f"{A}/staff/closures",
        CITY_ONLY,
        at(f"{A}/staff/closures"),
        body=lambda s, c: CLOSURE,
    ),
    Route(
        "DELETE",
        f"{A}/staff/closures/{{closure_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/closures/{s.closure.pk}",
    ),
    Route(
        "GET", f"{A}/staff/centres/{{number}}/slots", STAFF_HERE, at(f"{A}/staff/centres/1/slots")
    ),
    Route(
        "PATCH",
        f"{A}/staff/slots/{{slot_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/slots/{s.free_slot.pk}",
        body=lambda s, c: {"capacity": 12},
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/appointments",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/appointments"),
    ),
    *[
        Route(
            "POST",
            f"{A}/staff/appointments/{{appointment_id}}/{step}",
            STAFF_HERE,
            lambda s, c, step=step: f"{A}/staff/appointments/{s.mine.pk}/{step}",
            body=lambda s, c: {},
        )
        for step in (
            "check-in",
            "start",
            "complete",
            "no-show",
            "undo-check-in",
            "undo-no-show",
            "cancel",
            "verify-identity",
        )
    ],
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/people",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/centres/1/people?national_id={s.patient.national_id}",
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/people",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/people"),
        body=lambda s, c: desk_person_body(s, c),
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/appointments",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/appointments"),
        body=lambda s, c: {"patient_id": s.patient.pk, "slot_id": s.free_slot.pk},
        headers=idempotency,
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/walk-ins",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/walk-ins?day=2026-11-30"),
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/walk-ins",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/walk-ins"),
        body=lambda s, c: {"patient_id": s.patient.pk, "service": "general-checkup"},
    ),
    *[
        Route(
            "POST",
            f"{A}/staff/walk-ins/{{walk_in_id}}/{step}",
            STAFF_HERE,
            lambda s, c, step=step: f"{A}/staff/walk-ins/{s.walk_in.pk}/{step}",
        )
        for step in ("start", "complete", "left", "undo-start", "undo-left")
    ],
    Route(
        "POST",
        f"{A}/staff/appointments/bulk",
        STAFF_HERE,
        at(f"{A}/staff/appointments/bulk"),
        body=lambda s, c: {"appointment_ids": [s.mine.pk], "action": "cancel"},
    ),
    Route(
        "GET",
        f"{A}/staff/appointments/{{appointment_id}}/messages",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/appointments/{s.mine.pk}/messages",
    ),
    Route(
        "GET",
        f"{A}/staff/patients/{{patient_id}}/messages",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/patients/{s.patient.pk}/messages",
    ),
    Route(
        "GET",
        f"{A}/staff/centres/{{number}}/video/rooms",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/video/rooms"),
    ),
    Route(
        "GET", f"{A}/staff/centres/{{number}}/audit", STAFF_HERE, at(f"{A}/staff/centres/1/audit")
    ),
    Route(
        "GET", f"{A}/staff/centres/{{number}}/stock", STAFF_HERE, at(f"{A}/staff/centres/1/stock")
    ),
    Route(
        "POST",
        f"{A}/staff/centres/{{number}}/stock",
        STAFF_HERE,
        at(f"{A}/staff/centres/1/stock"),
        body=lambda s, c: {
            "service": "vaccine-influenza",
            "lot_number": "LOT-2",
            "expires_on": "2027-06-30",
            "doses": 10,
        },
    ),
    Route(
        "POST",
        f"{A}/staff/lots/{{lot_id}}/withdraw",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/lots/{s.lot.pk}/withdraw",
        body=lambda s, c: {"reason": "Cold chain broken"},
    ),
    # API: drives, the waitlist's figures and calendar feeds, for any staff
    Route("GET", f"{A}/staff/drives", ANY_STAFF, at(f"{A}/staff/drives")),
    Route("POST", f"{A}/staff/drives", STAFF_HERE, at(f"{A}/staff/drives"), body=drive_body),
    Route(
        "GET",
        f"{A}/staff/drives/{{drive_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/drives/{s.drive.pk}",
    ),
    Route(
        "PUT",
        f"{A}/staff/drives/{{drive_id}}",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/drives/{s.drive.pk}",
        body=drive_body,
    ),
    Route(
        "GET",
        f"{A}/staff/drives/{{drive_id}}/preview",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/drives/{s.drive.pk}/preview",
    ),
    Route(
        "POST",
        f"{A}/staff/drives/{{drive_id}}/release",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/drives/{s.drive.pk}/release",
        body=lambda s, c: {},
    ),
    Route(
        "POST",
        f"{A}/staff/drives/{{drive_id}}/cancel",
        STAFF_HERE,
        lambda s, c: f"{A}/staff/drives/{s.drive.pk}/cancel",
    ),
    Route("GET", f"{A}/staff/waitlist/figures", ANY_STAFF, at(f"{A}/staff/waitlist/figures")),
    Route("GET", f"{A}/staff/calendar-feed", ANY_STAFF, at(f"{A}/staff/calendar-feed")),
    Route("POST", f"{A}/staff/calendar-feed", ANY_STAFF, at(f"{A}/staff/calendar-feed")),
    Route(
        "DELETE",
        f"{A}/staff/calendar-feed",
        SIGNED_IN,
        at(f"{A}/staff/calendar-feed"),
        why="anyone may stop their own sessions feed, even after leaving the staff",
    ),
    # API: partners
    Route(
        "GET", f"{A}/partner/slots", PARTNER_ONLY, at(f"{A}/partner/slots?service=general-checkup")
    ),
    Route(
        "POST",
        f"{A}/partner/appointments",
        PARTNER_ONLY,
        at(f"{A}/partner/appointments"),
        body=lambda s, c: {
            "slot_id": s.free_slot.pk,
            "person": {
                "first_name": "มาลี",
                "last_name": "ศรีสุข",
                "date_of_birth": "1990-04-02",
                "sex": "female",
                "phone": "089 123 4567",
                "national_id": national_id(),
            },
        },
        headers=idempotency,
    ),
    Route("GET", f"{A}/partner/appointments", PARTNER_ONLY, at(f"{A}/partner/appointments")),
    Route(
        "GET",
        f"{A}/partner/appointments/{{appointment_id}}",
        PARTNER_ONLY,
        own(f"{A}/partner/appointments/{{id}}"),
    ),
    Route(
        "POST",
        f"{A}/partner/appointments/{{appointment_id}}/cancel",
        PARTNER_ONLY,
        own(f"{A}/partner/appointments/{{id}}/cancel"),
        body=lambda s, c: {},
    ),
]


# --- Every route is in the table -----------------------------------------------------------------


def _page_routes() -> set[str]:
    """Every (method-less) URL pattern outside the API and the admin's own pages."""
    found: set[str] = set()

    def walk(resolver: URLResolver, prefix: str) -> None:
        for entry in resolver.url_patterns:
            pattern = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if pattern in ("admin/", "api/v1/"):
                    found.add(pattern)
                    continue
                walk(entry, pattern)
            elif isinstance(entry, URLPattern):
                found.add(pattern)

    walk(get_resolver(), "")
    return found - {"api/v1/"}


def _api_operations() -> set[str]:
    schema = api.get_openapi_schema()
    return {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
    }


def test_every_page_and_api_operation_has_its_row():
    pages = {route.pattern for route in ROUTES if not route.pattern.startswith(A)}
    operations = {route.name for route in ROUTES if route.pattern.startswith(A)}

    assert sorted(_page_routes() - pages) == []
    assert sorted(_api_operations() - operations) == []
    assert sorted(pages - _page_routes()) == []  # no row for a route that is gone
    assert sorted(operations - _api_operations()) == []


# --- Each row, called by everyone ----------------------------------------------------------------


def _call(route: Route, scenario: Scenario, caller: str) -> Any:
    client = scenario.client(caller)
    path = route.path(scenario, caller)
    headers = route.headers(scenario, caller) if route.headers else {}
    method = getattr(client, route.method.lower())
    if route.method == "GET":
        return method(path, **headers)
    body = route.body(scenario, caller) if route.body else {}
    if path.startswith(A):
        return method(path, body, content_type="application/json", **headers)
    return method(path, body, **headers)


def _denied(response: Any) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    location = response.headers.get("Location", "")
    return response.status_code == 302 and ("sign-in" in location or "/login" in location)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.name} {route.why}".strip())
def test_who_may_call_it(route: Route, scenario: Scenario):
    seen = {}
    for caller in CALLERS:
        with transaction.atomic():  # each caller finds the scenario as it was
            response = _call(route, scenario, caller)
            transaction.set_rollback(True)
        assert response.status_code < 500, (caller, response.status_code)
        seen[caller] = (response.status_code, _denied(response))

    if route.allowed is None:
        return
    wrong = {
        caller: status
        for caller, (status, denied) in seen.items()
        if (caller in route.allowed) == denied
    }
    assert wrong == {}, f"allowed: {sorted(route.allowed)}; seen: {seen}"


# --- A token opens only its own kind of route ----------------------------------------------------

TOKEN = re.compile(r"[0-9a-z]+-[a-z2-7]{16}")
CALENDAR_FILE = "c/<str:token>.ics"


def _with_token(path: str, token: str) -> str:
    if path.startswith("/verify/"):  # a record's check: its token is signed, of another form
        return f"/verify/{token}"
    assert TOKEN.search(path), path
    return TOKEN.sub(token, path, count=1)


def test_the_read_only_calendar_token_opens_no_other_token_route(scenario: Scenario):
    """Whoever is given the calendar link (staff, partners, the API's users) can do nothing
    with it that the text message's link, a feed, a video join or an offer link does."""
    calendar = appointment_calendar_token(scenario.mine.pk)
    others = [r for r in ROUTES if "token" in r.pattern and r.pattern != CALENDAR_FILE]
    [own] = [r for r in ROUTES if r.pattern == CALENDAR_FILE]
    seen = {}
    for route in [*others, own]:
        for caller in CALLERS:
            with transaction.atomic():
                token = calendar if route is not own else appointment_link_token(scenario.mine.pk)
                path = _with_token(route.path(scenario, caller), token)
                body = route.body(scenario, caller) if route.body else {}
                client = scenario.client(caller)
                if route.method == "GET":
                    response = client.get(path)
                else:
                    response = getattr(client, route.method.lower())(
                        path, body, content_type="application/json"
                    )
                transaction.set_rollback(True)
            seen[(route.name, caller)] = response.status_code

    assert len(others) >= 10
    assert {key: status for key, status in seen.items() if status != 404} == {}
