"""The SMART Scheduling Links files, written into PublishedFile rows in the background.

A run reads every published slot once and writes only the files whose content changed, so
Last-Modified and ETag move only when something did. Requests then read one row each."""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation

from booking.fhir import selectors
from booking.fhir.resources import (
    Resource,
    ScheduleKey,
    fhir_base,
    instant,
    location_resource,
    schedule_resource,
    slot_resource,
)
from booking.models import PublishedFile, VaccinationDrive
from clinics.models import HealthCentre, Service

PREFIX = "scheduling-links/"
MANIFEST = f"{PREFIX}$bulk-publish"
MANIFEST_CONTENT_TYPE = "application/json"
NDJSON = "application/fhir+ndjson"
# Slots this far ahead are published: what aggregators show people looking for a time soon,
# and small enough files (one per ISO week) to rewrite every minute (bench/bulk_publish.py).
HORIZON_DAYS = 28
# Bangkok's ISO 3166-2 code, as the manifest's "state" hint for clients that filter by region.
JURISDICTION = "TH-10"
# Lets only one run write at a time on PostgreSQL (SQLite's writers queue anyway).
_LOCK_KEY = 0x5C4ED01E


@dataclass(frozen=True)
class PublishRun:
    written: list[str]
    unchanged: int
    removed: int
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


def _build_files(now: datetime) -> tuple[dict[str, tuple[str, str]], int]:
    """Each data file's (type, body), and the number of slots in them."""
    centres = HealthCentre.objects.filter(is_active=True).select_related("district")
    rows = [
        row
        for row in selectors.schedule_rows(now=now)
        if row.active
        and row.centre.is_active
        and (row.drive is None or row.drive.last_day >= timezone.localdate(now))
    ]
    doses = selectors.dose_numbers()
    published = {row.key.id for row in rows}
    slots = (
        selectors.released_slots(now)
        .filter(closed=False, start__lt=now + timedelta(days=HORIZON_DAYS))
        .filter(selectors.bookable_in_time(now))
        .exclude(drive__status=VaccinationDrive.Status.CANCELLED)
        .only("centre_id", "service_id", "drive_id", "start", "end", "capacity", "booked", "closed")
        .order_by("start", "pk")
    )
    # A dozen services: joined here rather than instantiated again for each of 70,000 slots.
    services = {service.pk: service for service in Service.objects.all()}
    weeks: dict[str, list[Resource]] = defaultdict(list)
    count = 0
    for slot in slots.iterator(chunk_size=5000):
        # A slot of a service its centre no longer lists would point at no published Schedule.
        if ScheduleKey.of_slot(slot).id not in published:
            continue
        slot.service = services[slot.service_id]
        resource = slot_resource(slot, now=now)
        year, week, _day = timezone.localtime(slot.start).isocalendar()
        weeks[f"{PREFIX}slots-{year}-W{week:02d}.ndjson"].append(resource)
        count += 1
    files = {
        f"{PREFIX}locations.ndjson": ("Location", _ndjson([location_resource(c) for c in centres])),
        f"{PREFIX}schedules.ndjson": (
            "Schedule",
            _ndjson([schedule_resource(row, doses.get(row.service.pk, [])) for row in rows]),
        ),
    }
    for name, resources in sorted(weeks.items()):
        files[name] = ("Slot", _ndjson(resources))
    return files, count


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def publish_scheduling_links(*, now: datetime | None = None) -> PublishRun:
    """Rebuild the SMART Scheduling Links files and rewrite those whose content changed.

    Reads outside any transaction (a long read must not hold SQLite's write lock), then writes
    in one short transaction under an advisory lock on PostgreSQL. Safe to run twice at once."""
    now = now or timezone.now()
    with translation.override(settings.LANGUAGE_CODE):
        files, slot_count = _build_files(now)
    written: list[str] = []
    with transaction.atomic():
        _lock()
        stored = {
            row["name"]: row
            for row in PublishedFile.objects.filter(name__startswith=PREFIX).values(
                "name", "etag", "modified_at"
            )
        }
        changed_at: dict[str, datetime] = {}
        unchanged: list[str] = []
        for name, (_kind, body) in files.items():
            etag = _etag(body)
            if name in stored and stored[name]["etag"] == etag:
                unchanged.append(name)
                changed_at[name] = stored[name]["modified_at"]
                continue
            _write(name, NDJSON, body, etag, now)
            written.append(name)
            changed_at[name] = now
        gone = set(stored) - set(files) - {MANIFEST}
        if gone:
            PublishedFile.objects.filter(name__in=gone).delete()
            changed_at[MANIFEST] = now  # the list of files changed
        manifest = _manifest(files, changed_at)
        etag = _etag(manifest)
        if MANIFEST in stored and stored[MANIFEST]["etag"] == etag:
            unchanged.append(MANIFEST)
        else:
            _write(MANIFEST, MANIFEST_CONTENT_TYPE, manifest, etag, now)
            written.append(MANIFEST)
        PublishedFile.objects.filter(name__in=unchanged).update(generated_at=now)
    return PublishRun(
        written=written, unchanged=len(unchanged), removed=len(gone), slots=slot_count
    )


def _write(name: str, content_type: str, body: str, etag: str, now: datetime) -> None:
    PublishedFile.objects.update_or_create(
        name=name,
        defaults={
            "content_type": content_type,
            "body": body,
            "etag": etag,
            "modified_at": now,
            "generated_at": now,
        },
    )


def _manifest(files: dict[str, tuple[str, str]], changed_at: dict[str, datetime]) -> str:
    """The manifest; its transactionTime is when the data last changed, so an unchanged data
    set keeps an unchanged manifest."""
    order = {"Location": 0, "Schedule": 1, "Slot": 2}
    names = sorted(files, key=lambda name: (order[files[name][0]], name))
    manifest = {
        "transactionTime": instant(max(changed_at.values())),
        "request": f"{fhir_base()}/$bulk-publish",
        "output": [
            {
                "type": files[name][0],
                "url": file_url(name),
                "extension": {"state": [JURISDICTION]},
            }
            for name in names
        ],
        "error": [],
    }
    return json.dumps(manifest, ensure_ascii=False, indent=2)
