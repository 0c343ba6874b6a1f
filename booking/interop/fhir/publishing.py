"""The SMART Scheduling Links files, written into PublishedFile rows in the background.

A run rebuilds only the files that may have changed and writes only those whose content did,
so Last-Modified and ETag move only when something did. Requests then read one row each.

What may have changed is known without reading the slots. Database triggers (booking migration
0007) note every write to a slot, by its start and so its week, and to the centres, services,
doses and drives the files describe, in SchedulingLinksChange rows, whichever code wrote it.
Time changes the files too, at moments known when they are built: a slot leaves its week's file
at its booking cut-off, a slot joins as it comes within HORIZON_DAYS, a drive's slots appear at
their release, a day ends (drives end, weeks pass). Each week's file keeps its next moment in
refresh_at, the manifest the next of the others. A run with nothing noted and no moment passed
reads two small tables and marks the files checked (generated_at): no slot is read."""

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone, translation

from booking.interop.fhir import selectors
from booking.interop.fhir.resources import (
    Resource,
    ScheduleKey,
    ScheduleRow,
    fhir_base,
    instant,
    location_resource,
    schedule_resource,
    slot_resource,
)
from booking.models import PublishedFile, SchedulingLinksChange, Slot, VaccinationDrive
from clinics.models import HealthCentre, Service

PREFIX = "scheduling-links/"
MANIFEST = f"{PREFIX}$bulk-publish"
MANIFEST_CONTENT_TYPE = "application/json"
NDJSON = "application/fhir+ndjson"
LOCATIONS = f"{PREFIX}locations.ndjson"
SCHEDULES = f"{PREFIX}schedules.ndjson"
SLOTS = f"{PREFIX}slots-"
# Slots this far ahead are published: what aggregators show people looking for a time soon,
# and small enough files (one per ISO week) to rebuild one in well under a second.
HORIZON_DAYS = 28
HORIZON = timedelta(days=HORIZON_DAYS)
# Bangkok's ISO 3166-2 code, as the manifest's "state" hint for clients that filter by region.
JURISDICTION = "TH-10"
# Lets only one run write at a time on PostgreSQL (SQLite's writers queue anyway).
_LOCK_KEY = 0x5C4ED01E
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class PublishRun:
    written: list[str]
    unchanged: int
    removed: int
    # The slots in the files rebuilt (all of them when every file was).
    slots: int


@dataclass(frozen=True)
class _Plan:
    full: bool
    weeks: frozenset[date]  # the Mondays of the weeks whose files are rebuilt
    over: frozenset[str]  # files of weeks that are over
    recount: bool  # find the manifest's next moment again


@dataclass
class _Built:
    files: dict[str, tuple[str, str]]  # name: (resource type, body)
    refresh: dict[str, datetime | None]
    manifest_refresh: datetime | None
    slots: int


def file_url(name: str) -> str:
    return f"{fhir_base()}/bulk/{name.removeprefix(PREFIX)}"


def _ndjson(resources: list[Resource]) -> str:
    return "".join(
        json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"
        for resource in resources
    )


def _etag(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _monday(moment: datetime) -> date:
    day = timezone.localdate(moment)
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.get_default_timezone())


def _week_file(monday: date) -> str:
    year, week, _day = monday.isocalendar()
    return f"{SLOTS}{year}-W{week:02d}.ndjson"


def _week_of_file(name: str) -> date | None:
    if not name.startswith(SLOTS):
        return None
    year, week = name.removeprefix(SLOTS).removesuffix(".ndjson").split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def _weeks_in_view(now: datetime) -> frozenset[date]:
    first, last = _monday(now), _monday(now + HORIZON)
    return frozenset(first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1))


def _kind(name: str) -> str:
    return {LOCATIONS: "Location", SCHEDULES: "Schedule"}.get(name, "Slot")


@cache
def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    sources = b"".join((here / module).read_bytes() for module in ("resources.py", "publishing.py"))
    return hashlib.sha256(sources).hexdigest()


def _built_with() -> str:
    """What the files are built with besides the database: this code, the site's address and
    language. Files built otherwise (before a deployment) are all rebuilt."""
    inputs = [_code_digest(), fhir_base(), settings.PUBLIC_BASE_URL, settings.LANGUAGE_CODE]
    return hashlib.sha256("|".join(inputs).encode()).hexdigest()


def _plan(
    *, now: datetime, stored: Mapping[str, Mapping[str, Any]], changes: list[datetime | None]
) -> _Plan:
    view = _weeks_in_view(now)
    over = frozenset(
        name
        for name in stored
        if (monday := _week_of_file(name)) is not None and monday < min(view)
    )
    manifest = stored.get(MANIFEST)
    due: datetime | None = None
    if manifest is not None and manifest["refresh_at"] is not None:
        due = manifest["refresh_at"] if manifest["refresh_at"] <= now else None
    full = (
        manifest is None
        or manifest["built_with"] != _built_with()
        or manifest["refresh_at"] is None
        or None in changes
        or (due is not None and _everything_due(since=due, now=now))
    )
    if full:
        return _Plan(full=True, weeks=view, over=over, recount=True)
    weeks = {_monday(start) for start in changes if start is not None}
    for name, row in stored.items():
        monday = _week_of_file(name)
        if monday is not None and row["refresh_at"] is not None and row["refresh_at"] <= now:
            weeks.add(monday)
    if due is not None:  # slots came within the horizon
        monday, last = _monday(due + HORIZON), _monday(now + HORIZON)
        while monday <= last:
            weeks.add(monday)
            monday += timedelta(weeks=1)
    return _Plan(
        full=False,
        weeks=frozenset(weeks) & view,
        over=over,
        recount=due is not None or bool(changes),
    )


def _everything_due(*, since: datetime, now: datetime) -> bool:
    """Whether a day ended or a drive or slot opened for booking between the manifest's moment
    and now: each may change every file."""
    if timezone.localdate(since) != timezone.localdate(now):
        return True
    if timezone.localtime(since).time() == time(0):
        return True
    if VaccinationDrive.objects.filter(release_at__gte=since, release_at__lte=now).exists():
        return True
    return Slot.objects.filter(opens_at__gte=since, opens_at__lte=now).exists()


def _next_moment(now: datetime) -> datetime:
    """The manifest's next moment: the next midnight, drive release, slot release, or slot
    coming within the horizon, whichever is first."""
    moments = [_midnight(timezone.localdate(now) + timedelta(days=1))]
    release = VaccinationDrive.objects.filter(release_at__gt=now).aggregate(
        first=Min("release_at")
    )["first"]
    slots = Slot.objects.aggregate(
        opens=Min("opens_at", filter=Q(opens_at__gt=now)),
        enters=Min("start", filter=Q(start__gte=now + HORIZON)),
    )
    moments += [moment for moment in (release, slots["opens"]) if moment is not None]
    if slots["enters"] is not None:
        moments.append(slots["enters"] - HORIZON)
    return min(moments)


def _schedule_rows(now: datetime) -> list[ScheduleRow]:
    return [
        row
        for row in selectors.schedule_rows(now=now)
        if row.active
        and row.centre.is_active
        and (row.drive is None or row.drive.last_day >= timezone.localdate(now))
    ]


def _build(*, now: datetime, plan: _Plan) -> _Built:
    """The files the plan rebuilds: each data file's (type, body), when time alone next changes
    each week's file, and the manifest's next moment."""
    built = _Built(files={}, refresh={}, manifest_refresh=None, slots=0)
    if plan.recount:
        built.manifest_refresh = _next_moment(now)
    if not plan.full and not plan.weeks:
        return built
    rows = _schedule_rows(now)
    if plan.full:
        centres = HealthCentre.objects.filter(is_active=True).select_related("district")
        doses = selectors.dose_numbers()
        built.files[LOCATIONS] = ("Location", _ndjson([location_resource(c) for c in centres]))
        built.files[SCHEDULES] = (
            "Schedule",
            _ndjson([schedule_resource(row, doses.get(row.service.pk, [])) for row in rows]),
        )
    published = {row.key.id for row in rows}
    in_weeks = Q(pk__in=[])
    for monday in plan.weeks:
        in_weeks |= Q(start__gte=_midnight(monday), start__lt=_midnight(monday + timedelta(7)))
    slots = (
        selectors.released_slots(now)
        .filter(in_weeks, closed=False, start__lt=now + HORIZON)
        .filter(selectors.bookable_in_time(now))
        .exclude(drive__status=VaccinationDrive.Status.CANCELLED)
        .only("centre_id", "service_id", "drive_id", "start", "end", "capacity", "booked", "closed")
        .order_by("start", "pk")
    )
    # A dozen services: joined here rather than instantiated again for each of 70,000 slots.
    services = {service.pk: service for service in Service.objects.all()}
    # Likewise the 69 centres, whose phone a free slot carries.
    centres_by_number = {centre.pk: centre for centre in HealthCentre.objects.all()}
    weeks: dict[str, list[Resource]] = defaultdict(list)
    for slot in slots.iterator(chunk_size=5000):
        # A slot of a service its centre no longer lists would point at no published Schedule.
        if ScheduleKey.of_slot(slot).id not in published:
            continue
        slot.service = services[slot.service_id]
        slot.centre = centres_by_number[slot.centre_id]
        name = _week_file(_monday(slot.start))
        weeks[name].append(slot_resource(slot, now=now))
        # It leaves the file at its booking cut-off.
        leaves = slot.start - timedelta(minutes=slot.service.booking_cutoff_minutes)
        current = built.refresh.get(name)
        built.refresh[name] = leaves if current is None else min(current, leaves)
        built.slots += 1
    for name, resources in sorted(weeks.items()):
        built.files[name] = ("Slot", _ndjson(resources))
    return built


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def publish_scheduling_links(*, now: datetime | None = None) -> PublishRun:
    """Rebuild the SMART Scheduling Links files that may have changed; rewrite those that did.

    Reads outside any transaction (a long read must not hold SQLite's write lock), then writes
    in one short transaction under an advisory lock on PostgreSQL, unless another run wrote
    since this one began (its reads may be newer): safe to run twice at once."""
    now = now or timezone.now()
    noted = list(SchedulingLinksChange.objects.order_by().values_list("pk", "slot_start"))
    stored = {
        row["name"]: row
        for row in PublishedFile.objects.filter(name__startswith=PREFIX).values(
            "name", "etag", "modified_at", "generated_at", "refresh_at", "built_with"
        )
    }
    plan = _plan(now=now, stored=stored, changes=[start for _pk, start in noted])
    if not (plan.full or plan.weeks or plan.over or noted):
        PublishedFile.objects.filter(name__in=list(stored)).update(generated_at=now)
        return PublishRun(written=[], unchanged=len(stored), removed=0, slots=0)
    with translation.override(settings.LANGUAGE_CODE):
        built = _build(now=now, plan=plan)
    manifest = stored.get(MANIFEST)
    with transaction.atomic():
        _lock()
        last_run = PublishedFile.objects.filter(name=MANIFEST).values_list(
            "generated_at", flat=True
        )
        if last_run.first() != (manifest["generated_at"] if manifest else None):
            # Another run wrote meanwhile; what this one noted is still there for the next.
            return PublishRun(written=[], unchanged=len(stored), removed=0, slots=built.slots)
        ids = [pk for pk, _start in noted]
        for chunk in range(0, len(ids), _DELETE_CHUNK):
            SchedulingLinksChange.objects.filter(pk__in=ids[chunk : chunk + _DELETE_CHUNK]).delete()
        return _write_files(now=now, plan=plan, built=built, stored=stored)


def _write_files(
    *, now: datetime, plan: _Plan, built: _Built, stored: Mapping[str, Mapping[str, Any]]
) -> PublishRun:
    rebuilt = {_week_file(monday) for monday in plan.weeks}
    if plan.full:
        rebuilt |= {LOCATIONS, SCHEDULES}
    # Files of weeks that are over, and rebuilt files that came out empty, go.
    gone: set[str] = set(plan.over | (rebuilt & set(stored))) - set(built.files) - {MANIFEST}
    if plan.full:
        gone = set(stored) - set(built.files) - {MANIFEST}
    if gone:
        PublishedFile.objects.filter(name__in=gone).delete()
    names = (set(stored) - gone - {MANIFEST}) | set(built.files)
    written: list[str] = []
    changed_at: dict[str, datetime] = {}
    for name in sorted(names, key=_order):
        if name not in built.files:
            changed_at[name] = stored[name]["modified_at"]
            continue
        body = built.files[name][1]
        etag = _etag(body)
        refresh = built.refresh.get(name)
        if name in stored and stored[name]["etag"] == etag:
            changed_at[name] = stored[name]["modified_at"]
            if stored[name]["refresh_at"] != refresh:
                PublishedFile.objects.filter(name=name).update(refresh_at=refresh)
            continue
        _write(name, NDJSON, body, etag, now, refresh_at=refresh)
        written.append(name)
        changed_at[name] = now
    if gone:
        changed_at[MANIFEST] = now  # the list of files changed
    manifest = _manifest(names, changed_at)
    etag = _etag(manifest)
    old = stored.get(MANIFEST)
    refresh_at = built.manifest_refresh if plan.recount else (old or {}).get("refresh_at")
    if old is not None and old["etag"] == etag:
        PublishedFile.objects.filter(name=MANIFEST).update(
            refresh_at=refresh_at, built_with=_built_with()
        )
    else:
        _write(MANIFEST, MANIFEST_CONTENT_TYPE, manifest, etag, now, refresh_at=refresh_at)
        written.append(MANIFEST)
    PublishedFile.objects.filter(name__startswith=PREFIX).exclude(name__in=written).update(
        generated_at=now
    )
    unchanged = len(names) + 1 - len(written)
    return PublishRun(written=written, unchanged=unchanged, removed=len(gone), slots=built.slots)


def _order(name: str) -> tuple[int, str]:
    return ({"Location": 0, "Schedule": 1, "Slot": 2}[_kind(name)], name)


def _write(
    name: str,
    content_type: str,
    body: str,
    etag: str,
    now: datetime,
    *,
    refresh_at: datetime | None,
) -> None:
    PublishedFile.objects.update_or_create(
        name=name,
        defaults={
            "content_type": content_type,
            "body": body,
            "etag": etag,
            "modified_at": now,
            "generated_at": now,
            "refresh_at": refresh_at,
            "built_with": _built_with() if name == MANIFEST else "",
        },
    )


def _manifest(names: set[str], changed_at: dict[str, datetime]) -> str:
    """The manifest; its transactionTime is when the data last changed, so an unchanged data
    set keeps an unchanged manifest."""
    manifest = {
        "transactionTime": instant(max(changed_at.values())),
        "request": f"{fhir_base()}/$bulk-publish",
        "output": [
            {
                "type": _kind(name),
                "url": file_url(name),
                "extension": {"state": [JURISDICTION]},
            }
            for name in sorted(names, key=_order)
        ],
        "error": [],
    }
    return json.dumps(manifest, ensure_ascii=False, indent=2)
