"""Reads about centres, districts and opening days that deserve a name."""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.dates import days_between
from clinics.exceptions import NotFound
from clinics.models import (
    Closure,
    District,
    HealthCentre,
    PublicHoliday,
    Service,
    ServiceDose,
    StaffMembership,
)

EARTH_RADIUS_KM = 6371.0

V = TypeVar("V")
M = TypeVar("M", bound=Model)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class RankedCentre:
    centre: HealthCentre
    in_home_district: bool
    distance_km: float | None


def rank_centres(
    centres: Iterable[HealthCentre],
    *,
    district: District | None,
    latitude: float | None,
    longitude: float | None,
) -> list[RankedCentre]:
    """Order centres for a patient: their district first, then nearest, then by number.

    Distance is measured from the given point, or else from the centre of the home district.
    """
    if (latitude is None or longitude is None) and district is not None:
        latitude, longitude = district.latitude, district.longitude
    ranked = []
    for centre in centres:
        km = None
        if latitude is not None and longitude is not None:
            km = distance_km(latitude, longitude, centre.latitude, centre.longitude)
        home = district is not None and centre.district_id == district.code
        ranked.append(RankedCentre(centre=centre, in_home_district=home, distance_km=km))
    ranked.sort(
        key=lambda r: (
            not r.in_home_district,
            r.distance_km if r.distance_km is not None else 0.0,
            r.centre.number,
        )
    )
    return ranked


def active_centres() -> QuerySet[HealthCentre]:
    return HealthCentre.objects.filter(is_active=True).select_related("district")


# (service, home district) -> (good until, on the monotonic clock; the ranked centres).
_centre_order: dict[tuple[int, int | None], tuple[float, list[RankedCentre]]] = {}


def ranked_centres_offering(
    service: Service,
    *,
    district: District | None,
    latitude: float | None,
    longitude: float | None,
    centre_ids: Iterable[int] | None = None,
) -> list[RankedCentre]:
    """The active centres offering a service, ranked for a patient as rank_centres does.

    Ranked from a home district alone, the order is kept in this process for
    CENTRE_ORDER_CACHE_SECONDS (and forgotten at once when a centre here changes): booking
    "the best place for me" then asks the database nothing to rank. Callers that book must
    still check in SQL that a centre is active and offers the service: another process may
    have changed it within that time."""
    if centre_ids is not None or (latitude is not None and longitude is not None):
        centres = active_centres().filter(services=service)
        if centre_ids is not None:
            centres = centres.filter(number__in=list(centre_ids))
        return rank_centres(centres, district=district, latitude=latitude, longitude=longitude)
    key = (service.pk, district.code if district is not None else None)
    now = time.monotonic()
    cached = _centre_order.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    ranked = rank_centres(
        active_centres().filter(services=service), district=district, latitude=None, longitude=None
    )
    _centre_order[key] = (now + settings.CENTRE_ORDER_CACHE_SECONDS, ranked)
    return ranked


def forget_centre_order(**_: object) -> None:
    """Drop this process's ranked centre orders (a centre, district or offer changed)."""
    _centre_order.clear()


def upcoming_closures(centre: HealthCentre) -> QuerySet[Closure]:
    """The centre's closures and the city-wide ones that have not ended, today included."""
    return Closure.objects.filter(end_date__gte=timezone.localdate()).filter(
        Q(centre__isnull=True) | Q(centre=centre)
    )


def holidays_between(start: date, end: date) -> dict[date, PublicHoliday]:
    """The public holidays from `start` to `end` (inclusive), by day: one query."""
    return {
        holiday.date: holiday for holiday in PublicHoliday.objects.filter(date__range=(start, end))
    }


def closed_days(*, centre_ids: Iterable[int], start: date, end: date) -> dict[int, set[date]]:
    """The days from `start` to `end` (inclusive) on which each centre takes no appointments:
    its own closures, city-wide closures and public holidays that close centres."""
    centre_ids = list(centre_ids)
    city_wide: set[date] = set(
        PublicHoliday.objects.filter(date__range=(start, end), closes_centres=True).values_list(
            "date", flat=True
        )
    )
    per_centre: dict[int, set[date]] = {centre_id: set() for centre_id in centre_ids}
    closures = Closure.objects.filter(start_date__lte=end, end_date__gte=start).filter(
        Q(centre__isnull=True) | Q(centre_id__in=centre_ids)
    )
    for closure in closures:
        days = set(days_between(max(closure.start_date, start), min(closure.end_date, end)))
        if closure.centre_id is None:
            city_wide.update(days)
        else:
            per_centre[closure.centre_id].update(days)
    return {centre_id: days | city_wide for centre_id, days in per_centre.items()}


def service_by_code(code: str) -> Service:
    """The active service with this code, or NotFound naming the field.

    Kept in this process (see _remembered): the engine still checks in SQL that the service
    of the slot it books is active."""
    service = _remembered(("service", code), lambda: _active_service(code))
    if service is None:
        raise NotFound(_("There is no service with that code."), field="service")
    return own_copy(service)  # a caller's changes stay its own


def service_id_by_code(code: str) -> int:
    """service_by_code's id alone, without the copy (a fifth of a waiting-room poll's CPU, asked
    on every poll)."""
    service = _remembered(("service", code), lambda: _active_service(code))
    if service is None:
        raise NotFound(_("There is no service with that code."), field="service")
    return int(service.pk)


def district_by_code(code: int) -> District | None:
    """The Bangkok district with this geocode, if any, kept in this process as
    service_by_code is."""
    district = _remembered(("district", code), lambda: District.objects.filter(code=code).first())
    return None if district is None else own_copy(district)


def _active_service(code: str) -> Service | None:
    return Service.objects.filter(code=code, is_active=True).order_by().first()


def service_doses(service_id: int) -> tuple[ServiceDose, ...]:
    """A vaccine's dose series in order (empty for one dose with no rules), kept in this
    process as service_by_code is."""
    return _remembered(
        ("doses", service_id),
        lambda: tuple(ServiceDose.objects.filter(service_id=service_id).order_by("number")),
    )


def service_by_id(service_id: int) -> Service | None:
    """A service as the booking function's caller writes texts and answers from, kept in this
    process as service_by_code is (the function checks in SQL what may have changed)."""
    return _remembered(
        ("service-id", service_id), lambda: Service.objects.filter(pk=service_id).first()
    )


def centre_by_number(number: int) -> HealthCentre | None:
    """A centre with its district, kept in this process as service_by_id is."""
    return _remembered(
        ("centre", number),
        lambda: HealthCentre.objects.select_related("district").filter(pk=number).first(),
    )


def own_copy(instance: M) -> M:
    """A caller's own shallow copy of a kept model instance, as copy.copy makes it (through
    Model.__getstate__): the same field values and related objects, and a state and cache of
    related objects of its own, so that a caller's changes stay its own. copy.copy takes the
    way of pickling (the model looked up in the app registry, Django's version checked): 5.5
    µs a copy against 0.9 here, and "book the best for me" makes four."""
    made = object.__new__(type(instance))
    made.__dict__.update(instance.__dict__)
    state = made._state = ModelState()
    state.__dict__.update(instance._state.__dict__)
    state.fields_cache = dict(instance._state.fields_cache)
    return made


def remembered(key: tuple[str, object]) -> object | None:
    """What _remembered keeps under the key, if still good (for a caller that loads it on
    another connection, such as an async one, and keeps it with remember)."""
    kept = _reference.get(key)
    return kept[1] if kept is not None and kept[0] > time.monotonic() else None


def remember(key: tuple[str, object], value: object, *, version: int) -> None:
    """Keep a value loaded elsewhere, unless reference data changed since `version`
    (reference_version() read before loading it)."""
    if value is not None and version == _reference_version:
        _reference[key] = (time.monotonic() + settings.REFERENCE_CACHE_SECONDS, value)


def reference_version() -> int:
    return _reference_version


# Reference data read on every booking, kept in this process: key -> (good until, on the
# monotonic clock; the value). A change saved or deleted in this process forgets it all at
# once (and again when its transaction commits); a change made in another process, or by a
# bulk update that sends no signal, is seen within REFERENCE_CACHE_SECONDS.
_reference: dict[tuple[str, object], tuple[float, object]] = {}
_reference_version = 0


def _remembered(key: tuple[str, object], load: Callable[[], V]) -> V:
    now = time.monotonic()
    kept = _reference.get(key)
    if kept is not None and kept[0] > now:
        return cast(V, kept[1])
    version = _reference_version
    value = load()
    # Not kept when missing (any code could be asked for), nor when a change was saved while
    # it was being read: it may be the old one.
    if value is not None and version == _reference_version:
        _reference[key] = (now + settings.REFERENCE_CACHE_SECONDS, value)
    return value


def forget_reference_data(**_: object) -> None:
    """Drop this process's reference data (a service, its doses or a district changed), now
    and again once the change commits: a read in between may have kept the old rows."""
    _forget_reference_data()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_forget_reference_data)


def _forget_reference_data() -> None:
    global _reference_version
    _reference_version += 1
    _reference.clear()


# The roles that may run a weekly schedule's sessions (a schedule's clinician).
SESSION_ROLES = (StaffMembership.Role.CLINICIAN, StaffMembership.Role.NURSE)


def centre_clinicians(centre: HealthCentre) -> QuerySet[StaffMembership]:
    """The staff who may run a centre's sessions, by name: what a weekly schedule's
    clinician_id may be."""
    return (
        StaffMembership.objects.filter(centre=centre, role__in=SESSION_ROLES)
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__username", "pk")
    )
