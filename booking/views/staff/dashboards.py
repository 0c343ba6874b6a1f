"""Dashboards: a centre's, and the city's, over the last 7, 28 or 90 days (figures are
counted each night for the day before): places offered against booked, attendance and
no-shows, walk-ins (their own column: not booked, so not in the rates), waitlist refills;
and for the city, the centres side by side."""

from datetime import timedelta

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from booking.dashboards import DayTotals, Totals, add_up, centre_totals, daily_totals
from booking.views.staff.charts import grouped_bars
from clinics.dates import ENGLISH_MONTHS, THAI_MONTHS
from clinics.models import HealthCentre, for_language
from clinics.permissions import StaffAction, is_city_admin
from clinics.views import centre_menu, refuse, staff_page

SPANS = (7, 28, 90)


def _span(request: HttpRequest) -> int:
    raw = request.GET.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in SPANS else 28


def _short_day(day: object, language: str) -> str:
    months = for_language(language, THAI_MONTHS, ENGLISH_MONTHS)
    return f"{day.day} {months[day.month - 1]}"  # type: ignore[attr-defined]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _headline(totals: Totals) -> list[dict[str, str]]:
    return [
        {"label": _("of places booked"), "value": _percent(totals.booking_rate)},
        {"label": _("attended"), "value": _percent(totals.attendance_rate)},
        {"label": _("did not come"), "value": _percent(totals.no_show_rate)},
        {"label": _("places refilled from the waitlist"), "value": str(totals.waitlist_refills)},
        {"label": _("walk-ins"), "value": str(totals.walk_ins)},
    ]


def _dashboard(days: list[DayTotals], language: str, span: int) -> dict[str, object]:
    labels = [_short_day(day.day, language) for day in days]
    every = 1 if span <= 7 else 7 if span <= 28 else 14
    return {
        "span": span,
        "spans": SPANS,
        "first": days[0].day,
        "headline": _headline(add_up(days)),
        "totals": add_up(days),
        "days": [
            {"label": label, "totals": day.totals} for label, day in zip(labels, days, strict=True)
        ],
        "offered_chart": grouped_bars(
            labels,
            [
                ("offered", _("places offered"), [d.totals.places_offered for d in days]),
                ("booked", _("booked"), [d.totals.booked for d in days]),
            ],
            every=every,
        ),
        "attendance_chart": grouped_bars(
            labels,
            [
                ("attended", _("attended"), [d.totals.attended for d in days]),
                ("no-show", _("did not come"), [d.totals.no_shows for d in days]),
                ("walk-in", _("walk-ins"), [d.totals.walk_ins for d in days]),
            ],
            every=every,
        ),
    }


@require_GET
@staff_page(StaffAction.VIEW_APPOINTMENTS)
def centre_dashboard_page(request: HttpRequest, centre: HealthCentre) -> HttpResponse:
    language = request.LANGUAGE_CODE
    span = _span(request)
    last = timezone.localdate() - timedelta(days=1)
    days = daily_totals(centre_id=centre.number, first=last - timedelta(days=span - 1), last=last)
    return render(
        request,
        "booking/staff/dashboard.html",
        {
            "nav": "dashboard",
            "staff_centre": centre_menu(centre, language),
            "title": centre_menu(centre, language)["label"],
            **_dashboard(days, language, span),
        },
    )


@require_GET
def city_dashboard_page(request: HttpRequest) -> HttpResponse:
    """The whole city, for city administrators."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_city_admin(request.user):
        return refuse(request, _("Only city administrators can open the city-wide dashboard."), 403)
    language = request.LANGUAGE_CODE
    span = _span(request)
    last = timezone.localdate() - timedelta(days=1)
    first = last - timedelta(days=span - 1)
    days = daily_totals(centre_id=None, first=first, last=last)
    by_centre = centre_totals(first=first, last=last)
    centres = HealthCentre.objects.filter(number__in=by_centre).order_by("number")
    ranking = sorted(
        (
            {
                "number": centre.number,
                "name": centre.name_in(language),
                "totals": by_centre[centre.number],
                "booking_rate": _percent(by_centre[centre.number].booking_rate),
                "no_show_rate": _percent(by_centre[centre.number].no_show_rate),
                "sort": by_centre[centre.number].no_show_rate or 0.0,
            }
            for centre in centres
        ),
        key=lambda row: -float(row["sort"]),  # type: ignore[arg-type]
    )
    return render(
        request,
        "booking/staff/dashboard.html",
        {
            "nav": "city",
            "title": _("Every health centre"),
            "ranking": ranking,
            **_dashboard(days, language, span),
        },
    )
