"""A checker of a SMART Scheduling Links publication, written from the specification's text.

It reads only what a Slot Discovery Client reads, over HTTP: the `$bulk-publish` manifest and the
NDJSON files it links to. It imports nothing of the code that builds them, so a rule both get
wrong the same way cannot hide. Each rule cites where it comes from:

- [spec] smart-on-fhir/smart-scheduling-links, specification.md ("Slot Publisher API"), by
  section: Quick Start Guide, Timestamps, `Accept` Headers, Manifest File, Location File,
  Schedule File, Slot File.
- [profile] the FHIR profiles the validator (Inferno's SMART Scheduling Links test kit,
  inferno-framework/smart-scheduling-links-test-kit, fsh/input/fsh/*.fsh) checks resources
  against: vaccine-location, vaccine-address, vaccine-schedule, vaccine-slot, and the
  extensions' StructureDefinitions (booking-deep-link, booking-phone, slot-capacity,
  vaccine-product, vaccine-dose).

Rules the specification states for one country only are not applied: the Location identifier
slice for a CDC VTrckS PIN (a US programme; the spec asks for it only "if a Location is
associated with" one), and the profile's requirement that every Schedule be COVID-19's (the
spec: "For COVID-19 immunization Schedules, two standardized codings must be included"). SHOULDs
are not failures: a Location with only a URL in `telecom` passes.

`check_publication(get, manifest_url)` returns the problems found, each naming the file, the
line and the rule; an empty list means the publication conforms.
"""

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

REGISTRY = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
BOOKING_DEEP_LINK = REGISTRY + "booking-deep-link"
BOOKING_PHONE = REGISTRY + "booking-phone"
SLOT_CAPACITY = REGISTRY + "slot-capacity"
VACCINE_PRODUCT = REGISTRY + "vaccine-product"
VACCINE_DOSE = REGISTRY + "vaccine-dose"
HAS_AVAILABILITY = REGISTRY + "has-availability"
CVX = "http://hl7.org/fhir/sid/cvx"
HL7_SERVICE_TYPE = "http://terminology.hl7.org/CodeSystem/service-type"
SMART_SERVICE_TYPE = "http://fhir-registry.smarthealthit.org/CodeSystem/service-type"

# [spec] Quick Start Guide: the three kinds of data file a manifest links to.
KINDS = ("Location", "Schedule", "Slot")
# [spec] Location/Schedule/Slot File, `id`: "up to 64 alphanumeric characters and may include
# `-` and `.`".
ID = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
# [spec] Timestamps: `YYYY-MM-DDThh:mm:ss.sss+zz:zz`, "at least to the second", with "a time
# zone offset (for UTC, the offset MAY be `Z`)" -- FHIR's instant.
TIMESTAMP = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$"
)
CVX_CODE = re.compile(r"^\d{1,3}$")
# [spec] Slot File, `status`: 'either "free" or "busy"'; [profile] vaccine-slot binds status
# to VaccineSlotStatus (free | busy), required.
SLOT_STATUSES = {"free", "busy"}
# [spec] Location File, telecom.system: '"phone" or "url"'; [profile] SMARTTelecomSystem.
TELECOM_SYSTEMS = {"phone", "url"}
# Which SMART extensions may sit where: [spec] Schedule File lists vaccine-product and
# vaccine-dose (and, for aggregators, has-availability); Slot File lists booking-deep-link,
# booking-phone and slot-capacity. vaccine-product's StructureDefinition has the context
# `Element`, so a Slot may repeat its Schedule's product.
SCHEDULE_EXTENSIONS = {VACCINE_PRODUCT, VACCINE_DOSE, HAS_AVAILABILITY}
SLOT_EXTENSIONS = {BOOKING_DEEP_LINK, BOOKING_PHONE, SLOT_CAPACITY, VACCINE_PRODUCT}


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


# get(url, accept) -> Answer; accept None sends no Accept header.
Fetch = Callable[[str, str | None], Answer]


@dataclass
class _Published:
    problems: list[str] = field(default_factory=list)
    ids: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in KINDS})
    # (where, kind referred to, id) for every reference, resolved once everything is read.
    references: list[tuple[str, str, str]] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str) or " " in value:
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def is_timestamp(value: Any) -> bool:
    """[spec] Timestamps (FHIR instant): to the second at least, with an offset."""
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- Manifest -----------------------------------------------------------------------------------


def check_manifest(manifest: Any, *, url: str, seen: _Published) -> list[tuple[str, str]]:
    """[spec] Manifest File. Returns the outputs' (type, url) worth reading."""
    where = "manifest"
    if not isinstance(manifest, dict):
        seen.problem(where, "is not a JSON object")
        return []
    if not is_timestamp(manifest.get("transactionTime")):
        seen.problem(where, "transactionTime is not a timestamp with seconds and an offset")
    # `request`: "the full URL of the manifest"; Quick Start Guide: it "ends with $bulk-publish".
    request = manifest.get("request")
    if not _is_absolute_url(request) or not str(request).endswith("$bulk-publish"):
        seen.problem(where, f"request {request!r} is not a full URL ending in $bulk-publish")
    elif request != url:
        seen.problem(where, f"request {request!r} is not the manifest's URL {url!r}")
    # FHIR bulk data: `error` is an array (empty when there is none).
    if "error" in manifest and not isinstance(manifest["error"], list):
        seen.problem(where, "error is not an array")
    outputs = manifest.get("output")
    if not isinstance(outputs, list) or not outputs:
        seen.problem(where, "output is not a non-empty array")
        return []
    found = []
    urls: set[str] = set()
    for n, output in enumerate(outputs):
        at = f"{where} output[{n}]"
        if not isinstance(output, dict):
            seen.problem(at, "is not a JSON object")
            continue
        kind, link = output.get("type"), output.get("url")
        if not _is_absolute_url(link):
            seen.problem(at, f"url {link!r} is not a full URL")
            continue
        if link in urls:
            seen.problem(at, f"url {link} is listed twice")
        urls.add(link)
        # "each object contains a type, url, and extension field"; extension.state: "JSON
        # array of strings" of state or jurisdiction abbreviations.
        extension = output.get("extension")
        if not isinstance(extension, dict):
            seen.problem(at, "has no extension object")
        else:
            states = extension.get("state")
            if not isinstance(states, list) or not states or not all(map(_is_text, states)):
                seen.problem(at, "extension.state is not a non-empty array of strings")
        if kind not in KINDS:
            # Clients SHOULD ignore other types: not an error, but nothing to read.
            continue
        found.append((kind, link))
    for kind in KINDS:
        if kind not in {k for k, _link in found}:
            seen.problem(where, f"lists no {kind} file")
    return found


# --- Data files ---------------------------------------------------------------------------------


def _check_file(kind: str, url: str, answer: Answer, seen: _Published) -> list[dict[str, Any]]:
    """[spec] Quick Start Guide: "Each line contains a minified JSON object"; each file holds
    the one type the manifest gives it."""
    name = url.rsplit("/", 1)[-1]
    if answer.status != 200:
        seen.problem(name, f"answers {answer.status}, not 200")
        return []
    if answer.content_type.split(";")[0].strip() != "application/fhir+ndjson":
        seen.problem(name, f"is served as {answer.content_type!r}, not application/fhir+ndjson")
    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError:
        seen.problem(name, "is not UTF-8")
        return []
    if text and not text.endswith("\n"):
        seen.problem(name, "does not end its last line with a newline")
    resources = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name} line {number}"
        try:
            resource = json.loads(line)
        except json.JSONDecodeError:
            seen.problem(where, "is not JSON")
            continue
        if not isinstance(resource, dict):
            seen.problem(where, "is not a JSON object")
            continue
        if json.dumps(resource, ensure_ascii=False, separators=(",", ":")) != line:
            seen.problem(where, "is not minified JSON")
        if resource.get("resourceType") != kind:
            seen.problem(where, f"is a {resource.get('resourceType')!r} in a {kind} file")
            continue
        ident = resource.get("id")
        if not isinstance(ident, str) or not ID.match(ident):
            seen.problem(where, f"id {ident!r} is not 1-64 letters, digits, '-' or '.'")
        elif ident in seen.ids[kind]:
            seen.problem(where, f"{kind}/{ident} is published twice")
        else:
            seen.ids[kind].add(ident)
        {"Location": check_location, "Schedule": check_schedule, "Slot": check_slot}[kind](
            resource, where=f"{where} ({kind}/{ident})", seen=seen
        )
        resources.append(resource)
    return resources


def _extensions(resource: dict[str, Any], where: str, seen: _Published) -> list[dict[str, Any]]:
    extensions = resource.get("extension", [])
    if not isinstance(extensions, list) or not all(isinstance(e, dict) for e in extensions):
        seen.problem(where, "extension is not an array of objects")
        return []
    for extension in extensions:
        if not _is_absolute_url(extension.get("url")):
            seen.problem(where, f"an extension has no absolute url: {extension!r}")
    return extensions


def _check_smart_extensions(
    extensions: list[dict[str, Any]], allowed: set[str], where: str, seen: _Published
) -> None:
    """A SMART registry extension must be one the spec defines for this resource: a misspelt
    URL is an extension no client reads."""
    for extension in extensions:
        url = extension.get("url", "")
        if isinstance(url, str) and url.startswith(REGISTRY) and url not in allowed:
            seen.problem(where, f"carries {url}, which the spec does not define here")


def _only_one(extensions: list[dict[str, Any]], url: str, where: str, seen: _Published) -> None:
    if sum(1 for extension in extensions if extension.get("url") == url) > 1:
        seen.problem(where, f"repeats {url.removeprefix(REGISTRY)}")


def _check_vaccine_product(extensions: list[dict[str, Any]], where: str, seen: _Published) -> None:
    """[spec] Schedule File, "Vaccine Product" extension: valueCoding with system
    http://hl7.org/fhir/sid/cvx, "any valid CVX code", a display; [profile] vaccine-product:
    value[x] only Coding, bound (required) to CVX."""
    for extension in extensions:
        if extension.get("url") != VACCINE_PRODUCT:
            continue
        coding = extension.get("valueCoding")
        if set(extension) != {"url", "valueCoding"} or not isinstance(coding, dict):
            seen.problem(where, "vaccine-product has no valueCoding (or another value)")
            continue
        if coding.get("system") != CVX:
            seen.problem(where, f"vaccine-product's system {coding.get('system')!r} is not {CVX}")
        if not isinstance(coding.get("code"), str) or not CVX_CODE.match(coding["code"]):
            seen.problem(where, f"vaccine-product's code {coding.get('code')!r} is no CVX code")
        if "display" in coding and not _is_text(coding["display"]):
            seen.problem(where, "vaccine-product's display is empty")


def _reference(value: Any, kind: str, where: str, seen: _Published) -> None:
    """[spec] Schedule File actor / Slot File schedule: "formed as `Kind` + `/` + the `id`
    value of an entry in a [Kind] File"."""
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or not reference.startswith(f"{kind}/"):
        seen.problem(where, f"reference {reference!r} is not {kind}/<id>")
        return
    seen.references.append((where, kind, reference.removeprefix(f"{kind}/")))


def check_location(resource: dict[str, Any], *, where: str, seen: _Published) -> None:
    """[spec] Location File; [profile] vaccine-location, vaccine-address."""
    if not _is_text(resource.get("name")):
        seen.problem(where, "has no name")
    # telecom: required, "SHALL include at least one contact point", each a system and value.
    telecom = resource.get("telecom")
    if not isinstance(telecom, list) or not telecom:
        seen.problem(where, "has no telecom contact point")
    else:
        for point in telecom:
            system = point.get("system") if isinstance(point, dict) else None
            value = point.get("value") if isinstance(point, dict) else None
            if system not in TELECOM_SYSTEMS:
                seen.problem(where, f"telecom system {system!r} is not phone or url")
            if not _is_text(value):
                seen.problem(where, "has a telecom without a value")
            # [profile] vaccine-location-2 and -3.
            elif system == "phone" and "@" in value:
                seen.problem(where, f"telecom phone {value!r} is no phone number")
            elif system == "url" and " " in value:
                seen.problem(where, f"telecom url {value!r} has a space")
    address = resource.get("address")
    if not isinstance(address, dict):
        seen.problem(where, "has no address object")
    else:
        # [profile] vaccine-address: "text 0..0: Cannot use text formatted address".
        if "text" in address:
            seen.problem(where, "address has text, which the address profile forbids")
        lines = address.get("line")
        if not isinstance(lines, list) or not lines or not all(map(_is_text, lines)):
            seen.problem(where, "address.line is not a non-empty array of lines")
        for part in ("city", "state", "postalCode"):
            if not _is_text(address.get(part)):
                seen.problem(where, f"address has no {part}")
        if "district" in address and not _is_text(address["district"]):
            seen.problem(where, "address.district is empty")
    # position: optional; latitude and longitude "must be populated if position is included".
    if "position" in resource:
        position = resource["position"]
        if not isinstance(position, dict) or not all(
            isinstance(position.get(axis), int | float) and not isinstance(position.get(axis), bool)
            for axis in ("latitude", "longitude")
        ):
            seen.problem(where, "position lacks a numeric latitude and longitude")
        elif not (-90 <= position["latitude"] <= 90 and -180 <= position["longitude"] <= 180):
            seen.problem(where, "position is off the globe")
    # identifier: required; "Each identifier object includes a system and a value".
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        seen.problem(where, "has no identifier")
    else:
        for identifier in identifiers:
            if not isinstance(identifier, dict) or not (
                _is_text(identifier.get("system")) and _is_text(identifier.get("value"))
            ):
                seen.problem(where, f"identifier {identifier!r} lacks a system or value")


def check_schedule(resource: dict[str, Any], *, where: str, seen: _Published) -> None:
    """[spec] Schedule File; [profile] vaccine-schedule."""
    # actor: "array with one JSON object", a Location reference; [profile] actor 1..1, only
    # Reference(Location).
    actors = resource.get("actor")
    if not isinstance(actors, list) or len(actors) != 1:
        count = len(actors) if isinstance(actors, list) else 0
        seen.problem(where, f"has {count} actors, not exactly one")
    else:
        _reference(actors[0], "Location", where, seen)
    # serviceType: array of CodeableConcepts; [profile] serviceType 1..
    concepts = resource.get("serviceType")
    if not isinstance(concepts, list) or not concepts:
        seen.problem(where, "has no serviceType")
        concepts = []
    for concept in concepts:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(codings, list) or not codings:
            seen.problem(where, "has a serviceType without codings")
            continue
        pairs = set()
        for coding in codings:
            if not isinstance(coding, dict) or not (
                _is_text(coding.get("system")) and _is_text(coding.get("code"))
            ):
                seen.problem(where, f"serviceType coding {coding!r} lacks a system or code")
                continue
            pairs.add((coding["system"], coding["code"]))
        # COVID-19 immunization: both codings "must be included" ([profile]
        # C19ServiceCodeableConcept: in the same CodeableConcept).
        if (SMART_SERVICE_TYPE, "covid19-immunization") in pairs and (
            HL7_SERVICE_TYPE,
            "57",
        ) not in pairs:
            seen.problem(where, "a COVID-19 serviceType lacks HL7's Immunization (57) coding")
    extensions = _extensions(resource, where, seen)
    _check_smart_extensions(extensions, SCHEDULE_EXTENSIONS, where, seen)
    # vaccine-product "SHOULD NOT repeat"; [profile] vaccineProduct 0..1.
    _only_one(extensions, VACCINE_PRODUCT, where, seen)
    _check_vaccine_product(extensions, where, seen)
    for extension in extensions:
        # vaccine-dose: valueInteger, "a dose sequence number"; it MAY repeat.
        if extension.get("url") == VACCINE_DOSE:
            value = extension.get("valueInteger")
            if not _is_integer(value) or value < 1:
                seen.problem(where, f"vaccine-dose {value!r} is not a positive integer")


def check_slot(resource: dict[str, Any], *, where: str, seen: _Published) -> None:
    """[spec] Slot File; [profile] vaccine-slot and its extensions."""
    _reference(resource.get("schedule"), "Schedule", where, seen)
    if resource.get("status") not in SLOT_STATUSES:
        seen.problem(where, f"status {resource.get('status')!r} is not free or busy")
    start, end = resource.get("start"), resource.get("end")
    for name, value in (("start", start), ("end", end)):
        if not is_timestamp(value):
            seen.problem(where, f"{name} {value!r} is not a timestamp with seconds and an offset")
    if is_timestamp(start) and is_timestamp(end) and _moment(end) <= _moment(start):
        seen.problem(where, "ends before it starts")
    extensions = _extensions(resource, where, seen)
    _check_smart_extensions(extensions, SLOT_EXTENSIONS, where, seen)
    # [profile] booking-link, booking-phone, capacity: 0..1 each; vaccine-product as on Schedule.
    for url in SLOT_EXTENSIONS:
        _only_one(extensions, url, where, seen)
    _check_vaccine_product(extensions, where, seen)
    for extension in extensions:
        url = extension.get("url")
        values = set(extension) - {"url"}
        if url == BOOKING_DEEP_LINK and (
            values != {"valueUrl"} or not _is_absolute_url(extension["valueUrl"])
        ):
            seen.problem(where, "booking-deep-link has no absolute valueUrl")
        if url == BOOKING_PHONE and (
            values != {"valueString"} or not _is_text(extension["valueString"])
        ):
            seen.problem(where, "booking-phone has no valueString")
        if url == SLOT_CAPACITY and (
            values != {"valueInteger"}
            or not _is_integer(extension["valueInteger"])
            or extension["valueInteger"] < 1
        ):
            seen.problem(where, "slot-capacity has no positive valueInteger")


# --- The whole publication ----------------------------------------------------------------------


def _same_answer(
    get: Fetch, url: str, accepts: Iterable[str | None], seen: _Published
) -> Answer | None:
    """[spec] `Accept` Headers: the same payload with no Accept header and with each listed."""
    answers = [(accept, get(url, accept)) for accept in accepts]
    first = answers[0][1]
    for accept, answer in answers[1:]:
        if (answer.status, answer.body) != (first.status, first.body):
            name = url.rsplit("/", 1)[-1]
            seen.problem(name, f"answers differently to Accept: {accept}")
    return first


def check_publication(get: Fetch, manifest_url: str) -> list[str]:
    """Every problem with the publication at manifest_url, as a client reading it would meet
    them."""
    seen = _Published()
    answer = _same_answer(get, manifest_url, (None, "application/json"), seen)
    assert answer is not None
    if answer.status != 200:
        return [f"manifest: answers {answer.status}, not 200"]
    if answer.content_type.split(";")[0].strip() != "application/json":
        seen.problem("manifest", f"is served as {answer.content_type!r}, not application/json")
    try:
        manifest = json.loads(answer.body)
    except json.JSONDecodeError:
        return ["manifest: is not JSON"]
    outputs = check_manifest(manifest, url=manifest_url, seen=seen)
    # Locations and Schedules first, so that references are checked against all of them.
    for kind, url in sorted(outputs, key=lambda output: KINDS.index(output[0])):
        file = _same_answer(get, url, (None, "application/fhir+ndjson"), seen)
        assert file is not None
        _check_file(kind, url, file, seen)
    # Every reference resolves to a resource in a file of its kind the manifest lists.
    for where, kind, ident in seen.references:
        if ident not in seen.ids[kind]:
            seen.problem(where, f"refers to {kind}/{ident}, which no {kind} file publishes")
    return seen.problems
