"""Reads of the counted daily figures, as the downloads filter them."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, QuerySet

from booking.interop.open_data.filters import FigureFilters
from booking.models import CentreDayFigures


@dataclass(frozen=True)
class FiguresVersion:
    """What identifies one version of a download: its newest row and how many rows it has
    (a recount that removes a row changes the count even if nothing newer was counted)."""

    latest: datetime | None
    rows: int


def _filtered(filters: FigureFilters) -> QuerySet[CentreDayFigures]:
    figures = CentreDayFigures.objects.filter(day__gte=filters.first_day, day__lte=filters.last_day)
    if filters.centre_numbers:
        figures = figures.filter(centre_id__in=filters.centre_numbers)
    if filters.service_codes:
        figures = figures.filter(service__code__in=filters.service_codes)
    return figures


def figures_version(*, filters: FigureFilters) -> FiguresVersion:
    """The newest counting time and the number of rows the filters select, in one query."""
    found = _filtered(filters).aggregate(latest=Max("computed_at"), rows=Count("pk"))
    return FiguresVersion(latest=found["latest"], rows=found["rows"])


def daily_figures(*, filters: FigureFilters) -> QuerySet[CentreDayFigures]:
    """The rows the filters select, with their centre, district and service, in the published
    order: day, centre number, service code."""
    return (
        _filtered(filters)
        .select_related("centre__district", "service")
        .order_by("day", "centre_id", "service__code")
    )
