"""Open data: the daily figures as CSV and JSON, their data dictionary, and an index of the
datasets. Public and read-only, readable from any web page, and cheap to poll: every answer
carries an ETag and, for the figures, Last-Modified, and a repeated request gets a 304.

A download is streamed row by row from one database cursor, so a year of figures is never
held whole in memory.
"""

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from booking.interop.open_data.dataset import (
    COLUMN_NAMES,
    DATASET_ID,
    DICTIONARY_FIELDS,
    LICENCE,
    dataset_metadata,
    dictionary_rows,
    parameter_rows,
    published_row,
)
from booking.interop.open_data.filters import FigureFilters, InvalidFilter, parse_figure_filters
from booking.interop.open_data.selectors import FiguresVersion, daily_figures, figures_version
from clinics.text import spreadsheet_row

# A byte-order mark first: without it spreadsheet programs read UTF-8 as the local code page
# and show Thai as mojibake. Python's csv readers skip it with encoding="utf-8-sig".
BOM = "\ufeff"
ROWS_PER_CHUNK = 500
# The figures change once a night; a client may keep a copy ten minutes, then asks again with
# If-None-Match and usually gets a 304.
CACHE_CONTROL = "public, max-age=600"
CSV_TYPE = "text/csv; charset=utf-8; header=present"
JSON_TYPE = "application/json"


@require_safe
def index(request: HttpRequest) -> HttpResponseBase:
    """The datasets published here, with the addresses of their files."""
    metadata = dataset_metadata(suppress_below=settings.OPEN_DATA_SUPPRESS_BELOW)
    dataset = {
        key: metadata[key]
        for key in (
            "id",
            "title_en",
            "title_th",
            "description_en",
            "description_th",
            "publisher_en",
            "publisher_th",
            "licence",
            "update_frequency",
        )
    }
    dataset["distributions"] = [
        {"format": "CSV", "media_type": "text/csv", "url": _url(request, "daily-figures-csv")},
        {"format": "JSON", "media_type": JSON_TYPE, "url": _url(request, "daily-figures-json")},
    ]
    dataset["dictionary"] = {
        "json": _url(request, "dictionary-json"),
        "csv": _url(request, "dictionary-csv"),
    }
    dataset["parameters"] = parameter_rows()
    return _document(request, {"datasets": [dataset]})


@require_safe
def dictionary_json(request: HttpRequest) -> HttpResponseBase:
    """What the daily figures are: licence, source, update frequency, and every column."""
    suppress_below = settings.OPEN_DATA_SUPPRESS_BELOW
    body = {
        **dataset_metadata(suppress_below=suppress_below),
        "distributions": {
            "csv": _url(request, "daily-figures-csv"),
            "json": _url(request, "daily-figures-json"),
        },
        "parameters": parameter_rows(),
        "columns": dictionary_rows(suppress_below=suppress_below),
    }
    return _document(request, body)


@require_safe
def dictionary_csv(request: HttpRequest) -> HttpResponseBase:
    """The dictionary's columns as a CSV table, one row per column of the figures."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(spreadsheet_row(DICTIONARY_FIELDS))
    for column in dictionary_rows(suppress_below=settings.OPEN_DATA_SUPPRESS_BELOW):
        writer.writerow(spreadsheet_row(column[field] for field in DICTIONARY_FIELDS))
    body = (BOM + buffer.getvalue()).encode()
    etag = _quoted(hashlib.sha256(body).hexdigest())
    not_modified = get_conditional_response(request, etag=etag)
    response = not_modified or HttpResponse(body, content_type=CSV_TYPE)
    response.headers["Content-Disposition"] = 'inline; filename="daily-figures-dictionary.csv"'
    return _cacheable(response, etag=etag)


@require_safe
def daily_figures_csv(request: HttpRequest) -> HttpResponseBase:
    """The daily figures as CSV, in the dictionary's column order."""
    return _figures(request, "csv")


@require_safe
def daily_figures_json(request: HttpRequest) -> HttpResponseBase:
    """The daily figures as JSON: the filters used, then one object per row."""
    return _figures(request, "json")


def _figures(request: HttpRequest, form: Literal["csv", "json"]) -> HttpResponseBase:
    try:
        filters = parse_figure_filters(request.GET, today=timezone.localdate())
    except InvalidFilter as error:
        return _bad_request(error)
    suppress_below = settings.OPEN_DATA_SUPPRESS_BELOW
    version = figures_version(filters=filters)
    etag = _figures_etag(form, filters, suppress_below, version)
    last_modified = int(version.latest.timestamp()) if version.latest else None
    not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if not_modified is not None:
        return _cacheable(not_modified, etag=etag, last_modified=version.latest)
    rows: Iterable[dict[str, Any]] = ()
    if request.method == "GET":  # a HEAD request gets the headers alone: no rows read
        rows = (
            published_row(row, suppress_below=suppress_below)
            for row in daily_figures(filters=filters).iterator(chunk_size=2000)
        )
    if form == "csv":
        chunks = _csv_chunks(rows)
        content_type = CSV_TYPE
    else:
        chunks = _json_chunks(_json_header(request, filters, suppress_below, version), rows)
        content_type = JSON_TYPE
    response = StreamingHttpResponse(_streamed(request, chunks), content_type=content_type)
    if form == "csv":
        name = f"{DATASET_ID}_{filters.first_day}_{filters.last_day}.csv"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return _cacheable(response, etag=etag, last_modified=version.latest)


def _json_header(
    request: HttpRequest, filters: FigureFilters, suppress_below: int, version: FiguresVersion
) -> dict[str, Any]:
    return {
        "dataset": DATASET_ID,
        "dictionary": _url(request, "dictionary-json"),
        "licence": LICENCE,
        "from": filters.first_day.isoformat(),
        "to": filters.last_day.isoformat(),
        "centres": list(filters.centre_numbers),
        "services": list(filters.service_codes),
        "suppress_below": suppress_below,
        "counted_at": (
            timezone.localtime(version.latest).isoformat(timespec="seconds")
            if version.latest
            else None
        ),
    }


def _csv_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(spreadsheet_row(COLUMN_NAMES))
    for number, row in enumerate(rows, start=1):
        writer.writerow(spreadsheet_row(row.values()))
        if number % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _json_chunks(header: dict[str, Any], rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    opening = json.dumps(header, ensure_ascii=False)[:-1] + ', "rows": ['
    parts = [opening]
    for number, row in enumerate(rows):
        parts.append(("," if number else "") + json.dumps(row, ensure_ascii=False))
        if len(parts) >= ROWS_PER_CHUNK:
            yield "".join(parts).encode()
            parts = []
    parts.append("]}")
    yield "".join(parts).encode()


def _streamed(
    request: HttpRequest, chunks: Iterator[bytes]
) -> Iterator[bytes] | AsyncIterator[bytes]:
    """Under ASGI, the chunks as an asynchronous iterator that makes each one in the request's
    own thread, where its database cursor lives; Django would otherwise read a synchronous
    iterator to the end before sending anything."""
    if not isinstance(request, ASGIRequest):
        return chunks

    def next_chunk() -> bytes | None:
        return next(chunks, None)

    async def pulled() -> AsyncIterator[bytes]:
        pull = sync_to_async(next_chunk, thread_sensitive=True)
        while (chunk := await pull()) is not None:
            yield chunk

    return pulled()


def _figures_etag(
    form: str, filters: FigureFilters, suppress_below: int, version: FiguresVersion
) -> str:
    latest = version.latest.isoformat() if version.latest else ""
    key = "|".join(
        [
            form,
            str(filters.first_day),
            str(filters.last_day),
            ",".join(map(str, filters.centre_numbers)),
            ",".join(filters.service_codes),
            str(suppress_below),
            ",".join(COLUMN_NAMES),
            latest,
            str(version.rows),
        ]
    )
    return _quoted(hashlib.sha256(key.encode()).hexdigest()[:32])


def _document(request: HttpRequest, body: dict[str, Any]) -> HttpResponseBase:
    content = json.dumps(body, ensure_ascii=False).encode()
    etag = _quoted(hashlib.sha256(content).hexdigest()[:32])
    not_modified = get_conditional_response(request, etag=etag)
    response = not_modified or HttpResponse(content, content_type=JSON_TYPE)
    return _cacheable(response, etag=etag)


def _cacheable(
    response: HttpResponseBase, *, etag: str, last_modified: datetime | None = None
) -> HttpResponseBase:
    response.headers["ETag"] = etag
    if last_modified is not None:
        response.headers["Last-Modified"] = http_date(last_modified.timestamp())
    response.headers["Cache-Control"] = CACHE_CONTROL
    _open_to_any_origin(response)
    return response


def _bad_request(error: InvalidFilter) -> HttpResponseBase:
    response = JsonResponse(
        {"code": error.code, "message": str(error.message), "field": error.detail["field"]},
        status=error.status,
        json_dumps_params={"ensure_ascii": False},
    )
    _open_to_any_origin(response)
    return response


def _open_to_any_origin(response: HttpResponseBase) -> None:
    # Open data: any web page may read it, and see the ETag to ask again cheaply.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"


def _url(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(f"open_data:{name}"))


def _quoted(tag: str) -> str:
    return f'"{tag}"'
