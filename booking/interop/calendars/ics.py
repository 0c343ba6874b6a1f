"""Calendar files written with the `icalendar` package.

What goes in is what a calendar needs and no more: the service, the centre, where it is and its
phone number, the time in Bangkok, a reminder and the link to the appointment's page. No national
ID, patient's phone or date of birth; a household feed names the person by first name only; a
clinician's feed names no patient at all, since calendar apps copy it onto other companies'
servers.

The page linked is the signed-in patient's, which is no key: only the file downloaded from the
text message's own link (/a/<token>/calendar.ics) links back to that link, which its holder
already has. A file or feed that staff, partners or calendar servers may hold must not hand on
the link that confirms, moves and cancels.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from icalendar import Alarm, Calendar, Event, Timezone, vCalAddress, vDuration, vUri

from booking.links import my_appointment_link
from booking.models import Appointment, Slot
from booking.notices import what_to_bring
from clinics.centre_facts import address_in, phone_as_written
from clinics.dates import in_bangkok
from clinics.models import Closure, HealthCentre, PublicHoliday, VisitMode, for_language

PRODUCT_ID = "-//Bangkok Metropolitan Administration//Health centre booking//TH"
BANGKOK = "Asia/Bangkok"
# How soon before the start a calendar app reminds: time to travel, or to find a quiet room.
REMINDER_BEFORE = {VisitMode.IN_PERSON: timedelta(hours=1), VisitMode.VIDEO: timedelta(minutes=10)}
# How often subscribed calendar apps are asked to fetch a feed again.
FEED_REFRESH = timedelta(hours=1)
CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"


def _host() -> str:
    return urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"


def _calendar(name: str | None = None, *, method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        # RFC 7986 names and refresh interval, and the older X- forms that Apple and Google read.
        calendar.add("name", name)
        calendar.add("x-wr-calname", name)
        calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
        calendar.add("x-wr-timezone", BANGKOK)
    return calendar


def _finish(calendar: Calendar) -> bytes:
    calendar.add_missing_timezones()
    if not calendar.subcomponents:
        # RFC 5545 wants at least one component: an empty feed holds Bangkok's time zone,
        # which every parser takes and no calendar shows.
        calendar.add_component(Timezone.from_tzid(BANGKOK))
    written: bytes = calendar.to_ical()
    return written


def _centre_name(centre: HealthCentre, language: str) -> str:
    return centre.name_in(language)


def _place(event: Event, centre: HealthCentre, language: str) -> None:
    # The street line and postcode when the centre has given them (clinics.centre_facts).
    event.add("location", f"{_centre_name(centre, language)}, {address_in(centre, language)}")
    event.add("geo", (centre.latitude, centre.longitude))


@dataclass(frozen=True)
class _Wording:
    language: str
    with_first_name: bool = False


def dose_in_course(appointment: Appointment) -> str:
    """ "dose 2 of 3" for a vaccine dose in a course, else "". Needs appointment.series."""
    if appointment.series is None or appointment.dose_number is None:
        return ""
    return _("dose %(number)d of %(of)d") % {
        "number": appointment.dose_number,
        "of": appointment.series.doses_in_series,
    }


def appointment_event(appointment: Appointment, wording: _Wording, *, link: str = "") -> Event:
    """One appointment as a VEVENT; the same UID however often it is moved or downloaded.
    It links to `link`, else to the signed-in patient's page."""
    slot = appointment.slot
    service, centre = slot.service, slot.centre
    language = wording.language
    acting = bool(link)
    link = link or my_appointment_link(appointment.pk)
    video = appointment.visit_mode == VisitMode.VIDEO
    cancelled = appointment.status == Appointment.Status.CANCELLED

    summary = service.name_in(language)
    if video:
        summary = _("%(service)s (video call)") % {"service": summary}
    dose = dose_in_course(appointment)
    if dose:
        summary = f"{summary} · {dose}"
    if wording.with_first_name:
        summary = f"{summary} · {appointment.patient.first_name}"

    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@{_host()}")
    # A cancellation must outrank the last version a calendar holds, so it counts as a change.
    event.add("sequence", appointment.sequence + (1 if cancelled else 0))
    event.add("dtstamp", appointment.updated_at)
    event.add("last-modified", appointment.updated_at)
    event.add("created", appointment.created_at)
    event.add("dtstart", in_bangkok(slot.start))
    event.add("dtend", in_bangkok(slot.end))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("url", vUri(link))
    organizer = vCalAddress(f"mailto:no-reply@{_host()}")
    organizer.params["cn"] = _centre_name(centre, language)
    event.add("organizer", organizer)

    lines = []
    if dose:
        lines.append(
            _("This is %(dose)s of the %(vaccine)s course.")
            % {"dose": dose, "vaccine": service.name_in(language)}
        )
    if video:
        lines.append(
            _("Join the video call from this page when it is time: %(link)s") % {"link": link}
        )
        event.add(
            "conference",
            vUri(link),
            parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": _("Video call")},
        )
        event.add("location", _("Video call in your browser"))
    else:
        _place(event, centre, language)
    bring = what_to_bring(service, language)
    if not video:
        lines.append(_("Please bring: %(items)s") % {"items": bring})
    if centre.phone:
        lines.append(
            _("The health centre's phone: %(phone)s") % {"phone": phone_as_written(centre.phone)}
        )
    if acting:
        lines.append(_("See, move or cancel this appointment: %(link)s") % {"link": link})
    else:  # a feed or file others' servers may hold: the page that needs signing in
        lines.append(
            _("See this appointment (sign in to move or cancel it): %(link)s") % {"link": link}
        )
    event.add("description", "\n".join(lines))

    if not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", -REMINDER_BEFORE[VisitMode(appointment.visit_mode)])
        event.add_component(alarm)
    return event


def appointment_calendar(appointment: Appointment, *, language: str, link: str = "") -> bytes:
    """One appointment as an .ics file to open or import; a cancelled one as METHOD:CANCEL,
    which removes it from the calendar that imported it. It links to `link`, else to the
    signed-in patient's page."""
    cancelled = appointment.status == Appointment.Status.CANCELLED
    with translation.override(language):
        calendar = _calendar(method="CANCEL" if cancelled else "PUBLISH")
        event = appointment_event(appointment, _Wording(language), link=link)
        if cancelled:
            # RFC 5546 section 3.2.5: a CANCEL of the whole event names its attendees. The
            # address is the appointment's own at this host, so it holds nobody's details.
            attendee = vCalAddress(f"mailto:appointment-{appointment.pk}@{_host()}")
            attendee.params["role"] = "REQ-PARTICIPANT"
            event.add("attendee", attendee)
        calendar.add_component(event)
    return _finish(calendar)


def household_calendar(
    appointments: Iterable[Appointment], *, language: str, several_people: bool
) -> bytes:
    """A household's appointments as a subscribed feed."""
    with translation.override(language):
        calendar = _calendar(_("Health centre appointments"))
        wording = _Wording(language, with_first_name=several_people)
        for appointment in appointments:
            calendar.add_component(appointment_event(appointment, wording))
    return _finish(calendar)


@dataclass(frozen=True)
class Session:
    """A clinician's run of back-to-back slots for one service at one centre."""

    centre: HealthCentre
    service_name_th: str
    service_name_en: str
    visit_mode: str
    start: datetime
    end: datetime
    places: int
    booked: int
    # What names the session whichever of its slots come and go: its clinician, centre,
    # service and drive, and its Bangkok day (see session_uids).
    key: tuple[int | None, int, int, int | None, date]
    # When one of its slots was added, or an appointment in it made, moved or cancelled.
    last_modified: datetime


def _slot_changed(slot: Slot) -> datetime:
    """When a slot last changed as a session shows it: added, or an appointment in it changed
    (clinician_slots annotates `changed_at`)."""
    changed: datetime | None = getattr(slot, "changed_at", None)
    return max(slot.created_at, changed) if changed else slot.created_at


def sessions_from_slots(slots: Iterable[Slot]) -> list[Session]:
    """Join slots that follow on from each other (same centre and service) into sessions."""
    sessions: list[Session] = []
    for slot in sorted(slots, key=lambda s: (s.centre_id, s.service_id, s.drive_id or 0, s.start)):
        last = sessions[-1] if sessions else None
        day = in_bangkok(slot.start).date()
        key = (slot.clinician_id, slot.centre_id, slot.service_id, slot.drive_id, day)
        if last is not None and last.key == key and last.end == slot.start:
            sessions[-1] = Session(
                centre=last.centre,
                service_name_th=last.service_name_th,
                service_name_en=last.service_name_en,
                visit_mode=last.visit_mode,
                start=last.start,
                end=slot.end,
                places=last.places + slot.capacity,
                booked=last.booked + slot.booked,
                key=key,
                last_modified=max(last.last_modified, _slot_changed(slot)),
            )
        else:
            sessions.append(
                Session(
                    centre=slot.centre,
                    service_name_th=slot.service.name_th,
                    service_name_en=slot.service.name_en,
                    visit_mode=slot.service.visit_mode,
                    start=slot.start,
                    end=slot.end,
                    places=slot.capacity,
                    booked=slot.booked,
                    key=key,
                    last_modified=_slot_changed(slot),
                )
            )
    return sorted(sessions, key=lambda s: s.start)


def session_uids(sessions: Iterable[Session]) -> dict[Session, str]:
    """Each session's UID: its clinician, centre, service, drive and day, and, for the second
    session of these on one day, its place in the day. Not its first slot's id, so that closing
    or adding a slot at either end keeps the event a calendar already holds."""
    uids: dict[Session, str] = {}
    seen: dict[tuple[int | None, int, int, int | None, date], int] = {}
    for session in sorted(sessions, key=lambda s: s.start):
        clinician, centre, service, drive, day = session.key
        seen[session.key] = seen.get(session.key, 0) + 1
        parts = [f"session-{clinician}", f"c{centre}", f"s{service}"]
        if drive is not None:
            parts.append(f"d{drive}")
        parts.append(f"{day:%Y%m%d}")
        if seen[session.key] > 1:
            parts.append(str(seen[session.key]))
        uids[session] = "-".join(parts) + f"@{_host()}"
    return uids


# SEQUENCE counts minutes since this moment: it rises whenever the session changes.
SEQUENCE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _session_event(session: Session, uid: str, language: str, stamp: datetime) -> Event:
    service = for_language(language, session.service_name_th, session.service_name_en)
    event = Event()
    event.add("uid", uid)
    event.add(
        "sequence", max(0, int((session.last_modified - SEQUENCE_EPOCH).total_seconds() // 60))
    )
    event.add("dtstamp", stamp)
    event.add("last-modified", session.last_modified)
    event.add("dtstart", in_bangkok(session.start))
    event.add("dtend", in_bangkok(session.end))
    event.add(
        "summary",
        _("%(service)s: %(booked)d of %(places)d booked")
        % {"service": service, "booked": session.booked, "places": session.places},
    )
    event.add("transp", "OPAQUE")
    if session.visit_mode == VisitMode.VIDEO:
        event.add("location", _("Video calls"))
    else:
        _place(event, session.centre, language)
    return event


def _clinician_appointment_event(appointment: Appointment, language: str) -> Event:
    slot = appointment.slot
    service = slot.service.name_in(language)
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}-clinician@{_host()}")
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", appointment.updated_at)
    event.add("dtstart", in_bangkok(slot.start))
    event.add("dtend", in_bangkok(slot.end))
    mode = _("video call") if appointment.visit_mode == VisitMode.VIDEO else _("in person")
    summary = _("Appointment %(number)d · %(service)s (%(mode)s)") % {
        "number": appointment.pk,
        "service": service,
        "mode": mode,
    }
    if dose := dose_in_course(appointment):
        summary = f"{summary} · {dose}"
    event.add("summary", summary)
    # Sessions already block the time; appointments inside them show as free so that a
    # calendar does not count the hour twice.
    event.add("transp", "TRANSPARENT")
    event.add("description", _("Patient details are in the staff queue, not in this calendar."))
    return event


def clinician_calendar(
    slots: Iterable[Slot], appointments: Iterable[Appointment], *, language: str, stamp: datetime
) -> bytes:
    """A clinician's sessions and the appointments in them, as a subscribed feed."""
    with translation.override(language):
        calendar = _calendar(_("My clinic sessions"))
        sessions = sessions_from_slots(slots)
        for session, uid in session_uids(sessions).items():
            calendar.add_component(_session_event(session, uid, language, stamp))
        for appointment in appointments:
            calendar.add_component(_clinician_appointment_event(appointment, language))
    return _finish(calendar)


def _all_day(event: Event, first: date, last: date) -> None:
    event.add("dtstart", first)
    event.add("dtend", last + timedelta(days=1))  # DTEND of an all-day event is exclusive
    event.add("transp", "TRANSPARENT")


def closures_calendar(
    centre: HealthCentre,
    closures: Iterable[Closure],
    holidays: Iterable[PublicHoliday],
    *,
    language: str,
    stamp: datetime,
) -> bytes:
    """The days a centre is closed, own closures and the city's, and holidays that close it."""
    with translation.override(language):
        name = _("%(centre)s: closed days") % {"centre": _centre_name(centre, language)}
        calendar = _calendar(name)
        for closure in closures:
            event = Event()
            event.add("uid", f"closure-{closure.pk}@{_host()}")
            event.add("dtstamp", closure.created_at)
            _all_day(event, closure.start_date, closure.end_date)
            reason = for_language(
                language, closure.reason_th, closure.reason_en or closure.reason_th
            )
            event.add("summary", _("Closed: %(reason)s") % {"reason": reason})
            calendar.add_component(event)
        for holiday in holidays:
            event = Event()
            event.add("uid", f"holiday-{holiday.date:%Y%m%d}@{_host()}")
            event.add("dtstamp", stamp)
            _all_day(event, holiday.date, holiday.date)
            title = for_language(language, holiday.name_th, holiday.name_en or holiday.name_th)
            event.add("summary", _("Closed: %(reason)s") % {"reason": title})
            calendar.add_component(event)
    return _finish(calendar)
