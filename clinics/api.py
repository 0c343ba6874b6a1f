"""Public reference data: districts, health centres and the services they offer."""

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router

from clinics.exceptions import NotFound
from clinics.models import District, HealthCentre, Service
from clinics.schemas import (
    CentreNumber,
    CentreOut,
    DistrictCode,
    DistrictOut,
    ErrorOut,
    ServiceKind,
    ServiceOut,
)
from clinics.selectors import active_centres

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
