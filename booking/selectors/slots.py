"""Finding open slots: the slot search (pages, API, partners), the best slots for "book the
best for me", and what a page shows of a centre's open times."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Slot
from clinics.exceptions import InvalidInput
from clinics.models import District, HealthCentre, Service
from clinics.selectors import (
    RankedCentre,
    active_centres,
    district_by_code,
    rank_centres,
    ranked_centres_offering,
    service_by_code,
)


class SlotOrder(StrEnum):
    NEAREST = "nearest"  # home district first, then distance, then earliest
    EARLIEST = "earliest"  # earliest first, nearest breaking ties


@dataclass(frozen=True)
class SlotSearch:
    service: Service
    date_from: date
    date_to: date
    district: District | None = None
    latitude: float | None = None
    longitude: float | None = None
    centre_ids: list[int] | None = None
    order: SlotOrder = SlotOrder.NEAREST


@dataclass(frozen=True)
class SlotOption:
    slot: Slot
    place: RankedCentre

    @property
    def slot_id(self) -> int:
        return int(self.slot.pk)


@dataclass(frozen=True)
class SlotPage:
    items: list[SlotOption]
    count: int
    page: int
    page_size: int


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight to midnight of a Bangkok day, as aware datetimes."""
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def _open_slots(search: SlotSearch, excluding: Collection[int] = ()) -> QuerySet[Slot]:
    """The search's slots that can be booked now: open, not full, released, in its days and
    past the booking cut-off (less those `excluding`, already tried)."""
    now = timezone.now()
    earliest = now + timedelta(minutes=search.service.booking_cutoff_minutes)
    window_start, _ = day_bounds(search.date_from)
    _, window_end = day_bounds(search.date_to)
    slots = Slot.objects.filter(
        service=search.service,
        closed=False,
        is_full=False,
        start__gte=max(window_start, earliest),
        start__lt=window_end,
    ).filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
    return slots.exclude(pk__in=list(excluding)) if excluding else slots


# A search or allocation may look this far ahead: the booking horizon plus some slack.
MAX_SEARCH_DAYS = 120


def build_search(
    *,
    service: str,
    date_from: date | None,
    date_to: date | None,
    district: District | int | None,
    lat: float | None,
    lon: float | None,
    centres: list[int] | None,
    order: SlotOrder,
) -> SlotSearch:
    """A SlotSearch from API input, with the default window of four weeks from today."""
    first = date_from or timezone.localdate()
    last = date_to or first + timedelta(weeks=4)
    if last < first:
        raise InvalidInput(_("The last day is before the first day."), field="date_to")
    if (last - first).days > MAX_SEARCH_DAYS:
        raise InvalidInput(
            _("Search at most %(days)d days at a time.") % {"days": MAX_SEARCH_DAYS},
            field="date_to",
        )
    if (lat is None) != (lon is None):
        raise InvalidInput(_("Give both latitude and longitude, or neither."), field="lon")
    if isinstance(district, int):
        found = district_by_code(district)
        if found is None:
            raise InvalidInput(_("There is no Bangkok district with that code."), field="district")
        district = found
    return SlotSearch(
        service=service_by_code(service),
        date_from=first,
        date_to=last,
        district=district,
        latitude=lat,
        longitude=lon,
        centre_ids=centres,
        order=order,
    )


def search_open_slots(
    search: SlotSearch, *, page: int, page_size: int, excluding: Collection[int] = ()
) -> SlotPage:
    """Open, bookable slots for a service between two days, across centres, ranked for the
    patient (see SlotOrder). On PostgreSQL one query, the count and the page together (the
    centres' order is kept per district, see ranked_centres_offering); elsewhere three."""
    if connection.vendor == "postgresql":
        return _search_open_slots_postgresql(
            search, page=page, page_size=page_size, excluding=excluding
        )
    centres = active_centres().filter(services=search.service)
    if search.centre_ids:
        centres = centres.filter(number__in=search.centre_ids)
    ranked = rank_centres(
        centres, district=search.district, latitude=search.latitude, longitude=search.longitude
    )
    place_of = {place.centre.number: place for place in ranked}
    centre_rank = Case(
        *[When(centre_id=place.centre.number, then=Value(i)) for i, place in enumerate(ranked)],
        default=Value(len(ranked)),
        output_field=IntegerField(),
    )
    slots = (
        _open_slots(search, excluding)
        .filter(centre_id__in=list(place_of))
        .annotate(centre_rank=centre_rank)
    )
    if search.order == SlotOrder.EARLIEST:
        slots = slots.order_by("start", "centre_rank", "pk")
    else:
        slots = slots.order_by("centre_rank", "start", "pk")
    count = slots.count() if place_of else 0
    offset = (page - 1) * page_size
    rows = list(slots[offset : offset + page_size]) if count > offset else []
    for row in rows:
        row.service = search.service  # every row is for the searched service: no join needed
    return SlotPage(
        items=[SlotOption(slot=row, place=place_of[row.centre_id]) for row in rows],
        count=count,
        page=page,
        page_size=page_size,
    )


def _search_open_slots_postgresql(
    search: SlotSearch, *, page: int, page_size: int, excluding: Collection[int] = ()
) -> SlotPage:
    """search_open_slots in one statement. The ranked centres (still active and offering the
    service: the kept order may be a little old) are joined to the open slots twice: once to
    count them all, along the partial index slot_open_by_centre without reading the table
    (it carries opens_at), and once for the page. For the nearest first, the page walks the
    centres in rank order and reads at most a page's worth of index entries from each, as
    _open_slots_in_centre_order does, rather than sorting every open slot of the window."""
    ranked = ranked_centres_offering(
        search.service,
        district=search.district,
        latitude=search.latitude,
        longitude=search.longitude,
        centre_ids=search.centre_ids,
    )
    if not ranked:
        return SlotPage(items=[], count=0, page=page, page_size=page_size)
    place_of = {place.centre.number: place for place in ranked}
    now = timezone.now()
    earliest = now + timedelta(minutes=search.service.booking_cutoff_minutes)
    window_start, _ = day_bounds(search.date_from)
    _, window_end = day_bounds(search.date_to)
    offset = (page - 1) * page_size
    slot_table = Slot._meta.db_table
    open_slot = """
        slot.service_id = %(service)s AND slot.centre_id = ranked.centre_id
        AND NOT slot.closed AND NOT slot.is_full
        AND slot.start >= %(first)s AND slot.start < %(end)s
        AND (slot.opens_at IS NULL OR slot.opens_at <= %(now)s)
        AND NOT (slot.id = ANY(%(excluding)s::bigint[]))
    """
    if search.order == SlotOrder.EARLIEST:
        order = "start, centre_rank, id"
        page_rows = f"""
            SELECT slot.*, ranked.rank AS centre_rank
            FROM ranked JOIN {slot_table} slot ON {open_slot}
        """
    else:
        order = "centre_rank, start, id"
        page_rows = f"""
            SELECT slot.*, ranked.rank AS centre_rank FROM ranked CROSS JOIN LATERAL (
                SELECT * FROM {slot_table} slot WHERE {open_slot}
                ORDER BY slot.start, slot.id LIMIT %(enough)s
            ) slot
        """
    sql = f"""
        WITH ranked AS (
            SELECT ranked.centre_id, ranked.rank
            FROM unnest(%(centres)s::integer[]) WITH ORDINALITY AS ranked (centre_id, rank)
            JOIN {HealthCentre._meta.db_table} centre
              ON centre.number = ranked.centre_id AND centre.is_active
            JOIN {HealthCentre.services.through._meta.db_table} offer
              ON offer.healthcentre_id = ranked.centre_id AND offer.service_id = %(service)s
        )
        SELECT total.count AS total, page.*
        FROM (SELECT count(*) FROM ranked JOIN {slot_table} slot ON {open_slot}) total
        LEFT JOIN LATERAL (
            SELECT * FROM ({page_rows}) slot ORDER BY {order} OFFSET %(offset)s LIMIT %(size)s
        ) page ON true
        ORDER BY {order}
    """  # only table names and column names are formatted in; every value is a parameter
    params = {
        "centres": list(place_of),
        "service": search.service.pk,
        "first": max(window_start, earliest),
        "end": window_end,
        "now": now,
        "excluding": list(excluding),
        "enough": offset + page_size,
        "offset": offset,
        "size": page_size,
    }
    rows = list(Slot.objects.raw(sql, params))
    count = rows[0].total if rows else 0  # type: ignore[attr-defined]  # a column of the query
    items = []
    for row in rows:
        if row.pk is None:  # no slot on this page: the count's row alone
            continue
        row.service = search.service  # every row is for the searched service: no join needed
        items.append(SlotOption(slot=row, place=place_of[row.centre_id]))
    return SlotPage(items=items, count=count, page=page, page_size=page_size)


def best_open_slots(
    search: SlotSearch, *, limit: int, excluding: Collection[int] = ()
) -> list[SlotOption]:
    """The first `limit` slots of search_open_slots, for booking rather than browsing: one
    query, whatever the number of centres, and no count. The centres are ranked in Python (an
    order kept per district, see ranked_centres_offering) and the database walks them in that
    order along the partial index of open slots, stopping when it has enough. Slots in
    `excluding` (already tried) are left out."""
    if search.order == SlotOrder.EARLIEST:
        return search_open_slots(search, page=1, page_size=limit, excluding=excluding).items
    ranked = centres_to_walk(search)
    if not ranked:
        return []
    place_of = {place.centre.number: place for place in ranked}
    if connection.vendor == "postgresql":
        rows = _open_slots_in_centre_order(search, list(place_of), limit=limit, excluding=excluding)
    else:
        centre_rank = Case(
            *[When(centre_id=number, then=Value(i)) for i, number in enumerate(place_of)],
            default=Value(len(place_of)),
            output_field=IntegerField(),
        )
        rows = list(
            _open_slots(search, excluding)
            .filter(
                centre_id__in=list(place_of),
                centre__is_active=True,
                centre__services=search.service,
            )
            .annotate(centre_rank=centre_rank)
            .order_by("centre_rank", "start", "pk")[:limit]
        )
    for row in rows:
        row.service = search.service  # every row is for the searched service: no join needed
    return [SlotOption(slot=row, place=place_of[row.centre_id]) for row in rows]


def centres_to_walk(search: SlotSearch) -> list[RankedCentre]:
    """The centres best_open_slots walks, in its order (kept per district in each process)."""
    return ranked_centres_offering(
        search.service,
        district=search.district,
        latitude=search.latitude,
        longitude=search.longitude,
        centre_ids=search.centre_ids,
    )


def _open_slots_in_centre_order(
    search: SlotSearch, centres: list[int], *, limit: int, excluding: Collection[int] = ()
) -> list[Slot]:
    """What _open_slots finds, centre by centre in the given order and earliest first within a
    centre, as one PostgreSQL query (see open_slots_in_centre_order_sql)."""
    sql, params = open_slots_in_centre_order_sql(
        search, centres, limit=limit, excluding=excluding, columns="s.*"
    )
    return list(Slot.objects.raw(sql, params))


def open_slots_in_centre_order_sql(
    search: SlotSearch,
    centres: list[int],
    *,
    limit: int,
    excluding: Collection[int] = (),
    columns: str,
) -> tuple[str, list[Any]]:
    """The PostgreSQL query of best_open_slots, selecting `columns` of the slot `s`: a lateral
    join of the ranked centres to the index slot_open_by_centre reads a few index entries per
    centre and stops at `limit` rows. The centre must still be active and offer the service
    (the order may be a little old). Also run on an async connection by allocate on the event
    loop (booking.services.booking_sql.aio)."""
    now = timezone.now()
    earliest = now + timedelta(minutes=search.service.booking_cutoff_minutes)
    window_start, _ = day_bounds(search.date_from)
    _, window_end = day_bounds(search.date_to)
    offers = HealthCentre.services.through._meta.db_table
    # The centres' checks sit inside the lateral subquery, so that the only join is the lateral
    # nested loop over the ranked centres, in rank order, and the sort on rank stops after the
    # first centres with room. Joined outside, PostgreSQL planned a hash join for the known
    # centres and walked every centre: 80 ms a search with 36,000 slots, against 1 ms.
    sql = f"""
        SELECT {columns} FROM unnest(%s::integer[]) WITH ORDINALITY AS ranked (centre_id, rank)
        CROSS JOIN LATERAL (
            SELECT * FROM {Slot._meta.db_table} slot
            WHERE slot.service_id = %s AND slot.centre_id = ranked.centre_id
              AND NOT slot.closed AND NOT slot.is_full
              AND slot.start >= %s AND slot.start < %s
              AND (slot.opens_at IS NULL OR slot.opens_at <= %s)
              AND NOT (slot.id = ANY(%s::bigint[]))
              AND EXISTS (SELECT 1 FROM {HealthCentre._meta.db_table} centre
                          WHERE centre.number = ranked.centre_id AND centre.is_active)
              AND EXISTS (SELECT 1 FROM {offers} offer
                          WHERE offer.healthcentre_id = ranked.centre_id
                            AND offer.service_id = %s)
            ORDER BY slot.start, slot.id
            LIMIT %s
        ) s
        ORDER BY ranked.rank, s.start, s.id
        LIMIT %s
    """  # only the callers' columns and table names are formatted in; every value is a parameter
    params: list[Any] = [
        centres,
        search.service.pk,
        max(window_start, earliest),
        window_end,
        now,
        list(excluding),
        search.service.pk,
        limit,
        limit,
    ]
    return sql, params


def open_times_by_centre(
    search: SlotSearch, *, centres: int, per_centre: int
) -> list[tuple[RankedCentre, list[Slot]]]:
    """The first `per_centre` open times at each of the `centres` best-ranked centres that
    have any, for browsing by centre. Two queries, however busy a centre is: which centres
    have open times, then the first few at each (a window function numbers them)."""
    candidates = active_centres().filter(services=search.service)
    if search.centre_ids:
        candidates = candidates.filter(number__in=search.centre_ids)
    ranked = rank_centres(
        candidates, district=search.district, latitude=search.latitude, longitude=search.longitude
    )
    open_slots = _open_slots(search)
    having = set(
        open_slots.filter(centre_id__in=[place.centre.number for place in ranked])
        .order_by()
        .values_list("centre_id", flat=True)
        .distinct()
    )
    chosen = [place for place in ranked if place.centre.number in having][:centres]
    if not chosen:
        return []
    numbered = open_slots.filter(centre_id__in=[place.centre.number for place in chosen]).annotate(
        number=Window(
            RowNumber(), partition_by=[F("centre_id")], order_by=[F("start").asc(), F("pk").asc()]
        )
    )
    times: dict[int, list[Slot]] = {place.centre.number: [] for place in chosen}
    for row in numbered.filter(number__lte=per_centre).order_by("start", "pk"):
        row.service = search.service  # every row is for the searched service: no join needed
        times[row.centre_id].append(row)
    return [(place, times[place.centre.number]) for place in chosen]
