"""Search parameters: their definitions (also listed by the CapabilityStatement) and the parsing
of their values.

A parameter this server does not know is ignored, as FHIR R4 recommends (search.html, "Unknown
and unsupported parameters": servers SHOULD ignore them, and the client sees which were used in
the Bundle's self link), unless the client sends `Prefer: handling=strict`, which refuses it with
a 400 saying what to send. A modifier the server does not support on a parameter it knows, and a
value it cannot read, are refused either way: R4 says a server SHALL reject an unsupported
modifier, and ignoring a malformed value would answer a question nobody asked."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")
LENIENT, STRICT = "lenient", "strict"


class FhirError(Exception):
    """A request the server answers with an OperationOutcome."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


# Dates outside these years mean a typing mistake, and near year 1 or 9999 the conversion to
# UTC overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2100


def is_whole_number(raw: str, *, digits: int) -> bool:
    """ASCII digits only, at most `digits` of them: str.isdigit() also takes "²" and other
    digits that int() refuses."""
    return 0 < len(raw) <= digits and raw.isascii() and raw.isdigit()


def not_found(kind: str, ident: str) -> FhirError:
    return FhirError(
        gettext("There is no %(kind)s with id %(id)s here.") % {"kind": kind, "id": ident},
        status=404,
        code="not-found",
    )


@dataclass(frozen=True)
class Criterion:
    """One occurrence of a parameter: values separated by commas match any of them."""

    name: str
    modifier: str
    values: list[str]


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # a FHIR SearchParamType: token, reference, date, string, number
    documentation: str | Promise
    # Narrows the rows (a QuerySet, or a list for Schedules) to those matching the criterion.
    apply: Callable[[Any, Criterion], Any]
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Search:
    criteria: list[tuple[Parameter, Criterion]] = field(default_factory=list)
    count: int = DEFAULT_PAGE_SIZE
    offset: int = 0
    # The parameters used, as sent (name, value), in their order: the self link lists these.
    used: list[tuple[str, str]] = field(default_factory=list)
    # The parameters left out under lenient handling, by name.
    ignored: list[str] = field(default_factory=list)

    def apply(self, rows: Any) -> Any:
        for parameter, criterion in self.criteria:
            rows = parameter.apply(rows, criterion)
        return rows


def result_parameters() -> dict[str, str]:
    """The paging parameters every search takes, with their documentation."""
    return {
        "_count": gettext("Entries per page: %(default)d unless given, at most %(max)d.")
        % {"default": DEFAULT_PAGE_SIZE, "max": MAX_PAGE_SIZE},
        "_offset": gettext("How many matches to skip: the next and previous links set it."),
    }


def _whole_number(name: str, raw: str) -> int:
    if not is_whole_number(raw, digits=9):
        raise FhirError(
            gettext("%(name)s must be a whole number of 0 or more, not %(value)r.")
            % {"name": name, "value": raw}
        )
    return int(raw)


def handling_preference(prefer: str) -> str:
    """The handling a Prefer header (RFC 7240) asks for: strict, or else lenient, the default."""
    for preference in prefer.split(","):
        name, _equals, value = preference.split(";")[0].partition("=")
        if name.strip().lower() == "handling" and value.strip().strip('"').lower() == STRICT:
            return STRICT
    return LENIENT


def parse_search(
    query: QueryDict, parameters: Sequence[Parameter], resource: str, *, handling: str = LENIENT
) -> Search:
    """The criteria and paging of a search; FhirError on a malformed value or an unsupported
    modifier, and on an unknown parameter when handling is strict (ignored when lenient)."""
    known = {parameter.name: parameter for parameter in parameters}
    criteria: list[tuple[Parameter, Criterion]] = []
    used: list[tuple[str, str]] = []
    ignored: list[str] = []
    count, offset = DEFAULT_PAGE_SIZE, 0
    for key, raw_values in query.lists():
        if key == "_count":
            count = min(_whole_number(key, raw_values[-1]), MAX_PAGE_SIZE)
            used.append((key, str(count)))
            continue
        if key == "_offset":
            offset = _whole_number(key, raw_values[-1])
            continue  # the paging links set their own
        if key == "_format":  # the view has refused anything but JSON (406)
            used.append((key, raw_values[-1]))
            continue
        name, _colon, modifier = key.partition(":")
        parameter = known.get(name)
        if parameter is None:
            if handling == LENIENT:
                ignored.append(key)
                continue
            raise FhirError(
                gettext(
                    "Unknown search parameter %(name)r for %(resource)s. Use one of: %(known)s."
                )
                % {"name": key, "resource": resource, "known": ", ".join(sorted(known))},
                code="not-supported",
            )
        if modifier and modifier not in parameter.modifiers:
            raise FhirError(
                gettext("The modifier :%(modifier)s is not supported on %(name)s.")
                % {"modifier": modifier, "name": name},
                code="not-supported",
            )
        for raw in raw_values:
            values = [value.strip() for value in raw.split(",")]
            if not all(values):
                raise FhirError(gettext("%(name)s needs a value.") % {"name": name})
            criteria.append((parameter, Criterion(name=name, modifier=modifier, values=values)))
            used.append((key, raw))
    return Search(criteria=criteria, count=count, offset=offset, used=used, ignored=ignored)


# --- Values -------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


@dataclass(frozen=True)
class DateRange:
    """A date parameter: the prefix, and the period the value stands for, [start, end)."""

    prefix: str
    start: datetime
    end: datetime


def _bangkok_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def parse_date(name: str, raw: str) -> DateRange:
    """ge2026-12-01, lt2026-12-08T12:00:00+07:00, 2026-12: a day, month or year means Bangkok's."""
    prefixed = raw[:2].isalpha() and raw[2:3].isdigit()
    prefix, value = (raw[:2], raw[2:]) if prefixed else ("eq", raw)
    if prefix not in DATE_PREFIXES:
        raise FhirError(
            gettext("%(name)s: the prefix %(prefix)r is not supported; use ge, le, gt, lt or eq.")
            % {"name": name, "prefix": prefix},
            code="not-supported",
        )
    problem = gettext(
        "%(name)s: %(value)r is not a date. Send a date (2026-12-01) or a date and time "
        "(2026-12-01T09:00:00+07:00), after an optional ge, le, gt, lt or eq."
    ) % {"name": name, "value": raw}
    try:
        if found := _DATE.match(value):
            year, month, day = int(found[1]), int(found[2] or 1), int(found[3] or 1)
            if not FIRST_YEAR <= year <= LAST_YEAR:
                raise FhirError(problem)
            first = date(year, month, day)
            if found[3]:
                last = first + timedelta(days=1)
            elif found[2]:
                last = (first + timedelta(days=32)).replace(day=1)
            else:
                last = first.replace(year=year + 1)
            return DateRange(prefix, _bangkok_midnight(first), _bangkok_midnight(last))
        if _DATETIME.match(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            if FIRST_YEAR <= moment.year <= LAST_YEAR:
                return DateRange(prefix, moment, moment)
    except (ValueError, OverflowError):
        pass
    raise FhirError(problem)


def date_lookups(field_name: str, found: DateRange) -> dict[str, datetime]:
    """The ORM lookups on a datetime field for one date criterion."""
    instant = found.start == found.end
    if found.prefix == "ge":
        return {f"{field_name}__gte": found.start}
    if found.prefix == "gt":
        return {f"{field_name}__gt" if instant else f"{field_name}__gte": found.end}
    if found.prefix == "lt":
        return {f"{field_name}__lt": found.start}
    if found.prefix == "le":
        return {f"{field_name}__lte" if instant else f"{field_name}__lt": found.end}
    if instant:
        return {field_name: found.start}
    return {f"{field_name}__gte": found.start, f"{field_name}__lt": found.end}


def parse_reference(name: str, raw: str, kinds: Sequence[str]) -> tuple[str, str]:
    """Location/12 (or a bare 12 when only one kind is allowed) -> ("Location", "12")."""
    kind, slash, ident = raw.rpartition("/")
    kind = kind.rsplit("/", 1)[-1]  # an absolute address names the same resource
    if not slash and len(kinds) == 1:
        kind = kinds[0]
    if kind not in kinds or not ident:
        raise FhirError(
            gettext("%(name)s: %(value)r is not a reference to a %(kinds)s, e.g. %(example)s/1.")
            % {"name": name, "value": raw, "kinds": " or ".join(kinds), "example": kinds[0]}
        )
    return kind, ident


def parse_number_id(name: str, raw: str) -> int:
    if not is_whole_number(raw, digits=18):
        raise FhirError(
            gettext("%(name)s: %(value)r is not an id of this server (a number).")
            % {"name": name, "value": raw}
        )
    return int(raw)


def parse_token(raw: str) -> tuple[str | None, str]:
    """system|code, |code or code -> (system or None, code)."""
    if "|" in raw:
        system, _bar, code = raw.partition("|")
        return system or None, code
    return None, raw


def parse_boolean(name: str, raw: str) -> bool:
    if raw not in {"true", "false"}:
        raise FhirError(
            gettext("%(name)s must be true or false, not %(value)r.") % {"name": name, "value": raw}
        )
    return raw == "true"
