"""Public reference data: districts, health centres and the services they offer; and, for a
centre's admins, the centre's facts (address, postcode, phone, opening hours)."""

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router

from clinics.centre_facts import OpeningPeriod
from clinics.exceptions import NotFound
from clinics.models import District, HealthCentre, Service
from clinics.permissions import StaffAction, centre_for_staff, signed_in_user
from clinics.schemas import (
    CentreFactsOut,
    CentreFactsPatch,
    CentreNumber,
    CentreOut,
    DistrictCode,
    DistrictOut,
    ErrorOut,
    ServiceKind,
    ServiceOut,
)
from clinics.selectors import active_centres
from clinics.services import CentreFactsIn, update_centre_facts

router = Router(tags=["Centres and services"])

_active_services = Prefetch("services", queryset=Service.objects.filter(is_active=True))


@router.get("/districts", response=list[DistrictOut], auth=None)
def list_districts(request: HttpRequest) -> list[District]:
    """Bangkok's 50 districts with the centre point of each."""
    return list(District.objects.all())


@router.get("/centres", response=list[CentreOut], auth=None)
def list_centres(
    request: HttpRequest, district: DistrictCode | None = None, service: str | None = None
) -> list[HealthCentre]:
    """The BMA public health centres, optionally in one district or offering one service."""
    centres = active_centres().prefetch_related(_active_services)
    if district is not None:
        centres = centres.filter(district_id=district)
    if service:
        centres = centres.filter(services__code=service)
    return list(centres)


@router.get("/centres/{int:number}", response={200: CentreOut, 404: ErrorOut}, auth=None)
def get_centre(request: HttpRequest, number: CentreNumber) -> HealthCentre:
    centre = active_centres().prefetch_related(_active_services).filter(number=number).first()
    if centre is None:
        raise NotFound(_("There is no health centre with that number."))
    return centre


@router.get("/services", response=list[ServiceOut], auth=None)
def list_services(request: HttpRequest, kind: ServiceKind | None = None) -> list[Service]:
    """What can be booked: consultations (in person or by video), antenatal care, vaccines."""
    services = Service.objects.filter(is_active=True).prefetch_related("doses")
    if kind is not None:
        services = services.filter(kind=kind)
    return list(services)


@router.get("/services/{code}", response={200: ServiceOut, 404: ErrorOut}, auth=None)
def get_service(request: HttpRequest, code: str) -> Service:
    service = Service.objects.filter(code=code, is_active=True).prefetch_related("doses").first()
    if service is None:
        raise NotFound(_("There is no service with that code."))
    return service


# --- A centre's facts, for its admins ------------------------------------------------------------

STAFF_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/staff/centres/{int:number}", response={200: CentreFactsOut, **STAFF_ERRORS})
def get_centre_facts(request: HttpRequest, number: CentreNumber) -> HealthCentre:
    """The centre's address, postcode, phone and opening hours as its admins keep them."""
    return centre_for_staff(request, number, StaffAction.MANAGE_CENTRE)


@router.patch("/staff/centres/{int:number}", response={200: CentreFactsOut, **STAFF_ERRORS})
def change_centre_facts(
    request: HttpRequest, number: CentreNumber, payload: CentreFactsPatch
) -> HealthCentre:
    """Change some of the centre's facts: a field left out stays, an empty one is removed. The
    phone is taken as people write it and kept as +66…. Audited; a 422 names the field of a
    value the centre's rules refuse, and nothing is written then."""
    centre = centre_for_staff(request, number, StaffAction.MANAGE_CENTRE)
    hours = payload.opening_hours
    facts = CentreFactsIn(
        address_th=_given(payload.address_th, centre.address_th),
        address_en=_given(payload.address_en, centre.address_en),
        postcode=_given(payload.postcode, centre.postcode),
        phone=_given(payload.phone, centre.phone),
        opening_hours=tuple(
            centre.opening_periods
            if hours is None
            else (OpeningPeriod(period.day, period.opens, period.closes) for period in hours)
        ),
    )
    update_centre_facts(centre=centre, by=signed_in_user(request), facts=facts)
    return HealthCentre.objects.select_related("district").get(number=number)


def _given(value: str | None, current: str) -> str:
    return current if value is None else value
