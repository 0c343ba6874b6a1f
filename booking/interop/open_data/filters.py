"""The query parameters of the daily-figures downloads, read and checked before any figure is
read: a mistake is answered with what to correct, never with an error page."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from booking.interop.open_data.dataset import MAX_DAYS_PER_REQUEST, PARAMETERS
from clinics.exceptions import InvalidInput
from clinics.models import HealthCentre, Service

PARAMETER_NAMES = frozenset(name for name, _description in PARAMETERS)
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Up to three digits: a longer number is no centre, and would not fit the database's column.
CENTRE_NUMBER = re.compile(r"\d{1,3}", re.ASCII)


class InvalidFilter(InvalidInput):
    """A query parameter that cannot be used: a bad request, whatever its reason."""

    status = 400


@dataclass(frozen=True)
class FigureFilters:
    first_day: date
    last_day: date
    centre_numbers: tuple[int, ...] = ()
    service_codes: tuple[str, ...] = ()


def parse_figure_filters(query: QueryDict, *, today: date) -> FigureFilters:
    """The filters asked for, defaulting to the year up to yesterday.

    Raises InvalidFilter naming the parameter to correct."""
    for name in query:
        if name not in PARAMETER_NAMES:
            raise InvalidFilter(
                _("Unknown parameter %(name)s. Use from, to, centre and service.")
                % {"name": name[:40]},
                field=name[:40],
            )
    last_day = _day(query, "to") or today - timedelta(days=1)
    first_day = _day(query, "from") or _year_before(last_day)
    if first_day > last_day:
        raise InvalidFilter(
            _("from (%(first)s) must be on or before to (%(last)s, yesterday if not given).")
            % {"first": first_day.isoformat(), "last": last_day.isoformat()},
            field="from",
        )
    if (last_day - first_day).days >= MAX_DAYS_PER_REQUEST:
        raise InvalidFilter(
            _("Ask for at most %(days)d days at a time, e.g. one calendar year per request.")
            % {"days": MAX_DAYS_PER_REQUEST},
            field="to",
        )
    return FigureFilters(
        first_day=first_day,
        last_day=last_day,
        centre_numbers=_centres(query.getlist("centre")),
        service_codes=_services(query.getlist("service")),
    )


def _year_before(last_day: date) -> date:
    """The first day of the longest period allowed that ends on `last_day`."""
    try:
        return last_day - timedelta(days=MAX_DAYS_PER_REQUEST - 1)
    except OverflowError:  # to=0001-01-05: nothing before the year 1
        return date.min


def _day(query: QueryDict, name: str) -> date | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        if not ISO_DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidFilter(
            _("%(name)s must be a date written YYYY-MM-DD, e.g. 2026-01-31.") % {"name": name},
            field=name,
        ) from None


def _centres(values: list[str]) -> tuple[int, ...]:
    if not values:
        return ()
    if not all(CENTRE_NUMBER.fullmatch(value.strip()) for value in values):
        raise InvalidFilter(
            _(
                "centre must be a health centre's number, e.g. centre=1; for several, give it "
                "again: centre=1&centre=3."
            ),
            field="centre",
        )
    numbers = tuple(sorted({int(value) for value in values}))
    known = set(HealthCentre.objects.filter(number__in=numbers).values_list("number", flat=True))
    unknown = [number for number in numbers if number not in known]
    if unknown:
        raise InvalidFilter(
            _("There is no health centre number %(number)d.") % {"number": unknown[0]},
            field="centre",
        )
    return numbers


def _services(values: list[str]) -> tuple[str, ...]:
    if not values:
        return ()
    codes = tuple(sorted({value.strip() for value in values}))
    known = set(Service.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InvalidFilter(
            _("There is no service %(code)s. See the codes at /api/v1/services.")
            % {"code": unknown[0]},
            field="service",
        )
    return codes
