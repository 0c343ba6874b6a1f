"""The waitlist: joining, leaving, and claiming or turning down a held place."""

from datetime import datetime, time, timedelta
from typing import Annotated

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status

from booking.models import Appointment, WaitlistEntry, WaitlistOffer
from booking.schemas import AppointmentOut
from booking.selectors import appointment_of, patient_of
from booking.waitlist.services import (
    claim_offer,
    decline_offer,
    join_waitlist,
    leave_waitlist,
    refill_figures,
)
from clinics.exceptions import Forbidden, InvalidInput, NotFound
from clinics.models import District, HealthCentre
from clinics.permissions import StaffAction, centres_where, signed_in_user
from clinics.schemas import (
    BangkokDateTime,
    CentreBrief,
    CentreNumber,
    Day,
    ErrorOut,
    RowId,
    choices_schema,
)
from clinics.selectors import service_by_code

router = Router(tags=["Waitlist"])

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 410: ErrorOut, 422: ErrorOut}


class WaitlistIn(Schema):
    patient_id: RowId
    service: str = Field(examples=["vaccine-influenza"])
    centres: list[CentreNumber] = Field(
        default_factory=list, max_length=69, description="Empty: any centre (in `district`)."
    )
    district: int | None = Field(None, description="Home district geocode, e.g. 1001.")
    date_from: Day
    date_to: Day


class OfferOut(Schema):
    id: int
    status: Annotated[
        WaitlistOffer.Status, choices_schema("OfferStatus", list(WaitlistOffer.Status.values))
    ]
    slot_id: int
    start: BangkokDateTime
    end: BangkokDateTime
    centre: CentreBrief
    held_until: BangkokDateTime = Field(alias="expires_at")

    @staticmethod
    def resolve_start(offer: WaitlistOffer) -> object:
        return offer.slot.start

    @staticmethod
    def resolve_end(offer: WaitlistOffer) -> object:
        return offer.slot.end

    @staticmethod
    def resolve_centre(offer: WaitlistOffer) -> object:
        return offer.slot.centre


class WaitlistEntryOut(Schema):
    id: int
    patient_id: int
    service: str
    centres: list[int]
    district: int | None = Field(alias="district_id")
    date_from: Day
    date_to: Day
    status: Annotated[
        WaitlistEntry.Status,
        choices_schema("WaitlistEntryStatus", list(WaitlistEntry.Status.values)),
    ]
    priority: WaitlistEntry.Priority
    joined_at: BangkokDateTime
    open_offer: OfferOut | None

    @staticmethod
    def resolve_service(entry: WaitlistEntry) -> str:
        return entry.service.code

    @staticmethod
    def resolve_centres(entry: WaitlistEntry) -> list[int]:
        return [centre.number for centre in entry.centres.all()]

    @staticmethod
    def resolve_open_offer(entry: WaitlistEntry) -> object:
        return next(
            (offer for offer in entry.offers.all() if offer.status == WaitlistOffer.Status.OPEN),
            None,
        )


class RefillOut(Schema):
    waiting: int
    offers: int
    claimed: int
    declined: int
    expired: int
    places_freed: int = Field(description="Appointments cancelled in the period.")
    refill_rate: float | None = Field(
        description="Places claimed from the waitlist per place freed (0 to 1, or more when "
        "drives opened new places)."
    )


def _entries(request: HttpRequest) -> QuerySet[WaitlistEntry]:
    return (
        WaitlistEntry.objects.filter(patient__account=signed_in_user(request))
        .select_related("service")
        .prefetch_related(
            "centres",
            Prefetch(
                "offers",
                queryset=WaitlistOffer.objects.select_related("slot__centre__district"),
            ),
        )
    )


def _my_offer(request: HttpRequest, offer_id: int) -> WaitlistOffer:
    offer = (
        WaitlistOffer.objects.filter(pk=offer_id, entry__patient__account=signed_in_user(request))
        .select_related("slot")
        .first()
    )
    if offer is None:
        raise NotFound(_("We could not find that offer on your account."))
    return offer


@router.post("/me/waitlist", response={201: WaitlistEntryOut, **ERRORS})
def join(request: HttpRequest, payload: WaitlistIn) -> Status[WaitlistEntry]:
    """Wait for a place when no time suits. A free place is held for you and texted, with a
    link to claim it before it passes on (WAITLIST_CLAIM_MINUTES)."""
    patient = patient_of(signed_in_user(request), payload.patient_id)
    centres = list(HealthCentre.objects.filter(number__in=payload.centres))
    if len(centres) != len(set(payload.centres)):
        raise InvalidInput(_("There is no health centre with that number."), field="centres")
    district = None
    if payload.district is not None:
        district = District.objects.filter(code=payload.district).first()
        if district is None:
            raise InvalidInput(_("There is no Bangkok district with that code."), field="district")
    entry = join_waitlist(
        patient=patient,
        service=service_by_code(payload.service),
        centres=centres,
        district=district,
        date_from=payload.date_from,
        date_to=payload.date_to,
        joined_by=signed_in_user(request),
    )
    return Status(201, _entries(request).get(pk=entry.pk))


@router.get("/me/waitlist", response=list[WaitlistEntryOut])
def list_mine(request: HttpRequest) -> list[WaitlistEntry]:
    """Your places on the waitlist that are still waiting or have a place held."""
    return list(
        _entries(request)
        .filter(status__in=[WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED])
        .order_by("joined_at", "pk")
    )


@router.delete("/me/waitlist/{int:entry_id}", response={200: WaitlistEntryOut, **ERRORS})
def leave(request: HttpRequest, entry_id: RowId) -> WaitlistEntry:
    entry = _entries(request).filter(pk=entry_id).first()
    if entry is None:
        raise NotFound(_("We could not find that waitlist place on your account."))
    leave_waitlist(entry=entry)
    return _entries(request).get(pk=entry_id)


@router.post(
    "/me/waitlist/offers/{int:offer_id}/claim",
    response={200: AppointmentOut, 201: AppointmentOut, **ERRORS},
)
def claim(request: HttpRequest, response: HttpResponse, offer_id: RowId) -> Status[Appointment]:
    """Book the place held for you. 410 `offer_closed` once the hold has run out."""
    booking = claim_offer(
        offer=_my_offer(request, offer_id),
        booked_by=signed_in_user(request),
        channel=Appointment.Channel.API,
    )
    if not booking.created:
        response.headers["Idempotent-Replayed"] = "true"
    return Status(
        201 if booking.created else 200,
        appointment_of(signed_in_user(request), booking.appointment.pk),
    )


@router.post("/me/waitlist/offers/{int:offer_id}/decline", response={200: OfferOut, **ERRORS})
def decline(request: HttpRequest, offer_id: RowId) -> WaitlistOffer:
    """Turn this time down and keep waiting for another."""
    offer = decline_offer(offer=_my_offer(request, offer_id))
    return WaitlistOffer.objects.select_related("slot__centre__district").get(pk=offer.pk)


@router.get("/staff/waitlist/figures", response={200: RefillOut, **ERRORS})
def figures(request: HttpRequest, service: str | None = None, days: int = 30) -> RefillOut:
    """How much freed capacity the waitlist filled again in the last `days` days."""
    user = signed_in_user(request)
    allowed = centres_where(user, StaffAction.VIEW_APPOINTMENTS)
    if allowed is not None and not allowed:
        raise Forbidden()
    if not 1 <= days <= 366:
        raise InvalidInput(_("Choose between 1 and 366 days."), field="days")
    since = datetime.combine(
        timezone.localdate() - timedelta(days=days - 1),
        time.min,
        tzinfo=timezone.get_default_timezone(),
    )
    found = refill_figures(service=service_by_code(service) if service else None, since=since)
    return RefillOut.from_orm(found)
