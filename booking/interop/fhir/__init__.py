"""FHIR R4 read API (/fhir/r4/) and the SMART Scheduling Links files (/fhir/r4/$bulk-publish).

What is published, and under which ids:

- ``Location/{number}``: a health centre, by its BMA number (1-69). Identified by its MOPH
  facility code (TH Core's ``https://terms.sil-th.org/id/th-moph-hcode``) when it has one, and
  always by its number. The address is as SMART Scheduling Links wants it: street line and
  แขวง in ``line``, city Bangkok, district = เขต, state = TH-10 (ISO 3166-2, as the manifest's
  ``state``), the centre's postcode, and no ``text``; ``telecom`` holds its phone and LINE.
- ``HealthcareService/{service id}``: a service of the catalogue, with the centres offering it.
  The numeric id is used because a service code is a slug (it may hold ``_``, which a FHIR id
  may not); the code is in ``identifier`` and in every ``serviceType`` coding, whose system is
  this server's ``HealthcareService`` address, so system + code names the resource.
- ``Schedule/centre{n}-service{id}``: the everyday calendar of one service at one centre (all
  its weekly schedules and one-off slots). ``Schedule/drive{id}-centre{n}``: one vaccination
  drive at one centre, so aggregators can tell a campaign's slots from the everyday ones. Its
  one actor is the Location, as SMART Scheduling Links requires; the HealthcareService is named
  by the serviceType coding (this server's HealthcareService address + the service code) and
  referenced in the extension ``{base}/StructureDefinition/schedule-healthcare-service``. A
  drive's schedule appears once the drive is released (scheduled, release time passed) and
  stays readable, inactive, if it is called off.
- ``Slot/{id}``: a slot once it opens for booking (``opens_at`` empty or past). ``free``: places
  left and before the service's booking cut-off; ``busy``: full; ``busy-unavailable``: closed, or
  past the cut-off with places left. The SMART slot-capacity extension gives the places that can
  still be booked on a free slot, and the slot's whole capacity on a busy one (so aggregators
  can follow capacity); free slots carry the booking deep link and, where the centre has a
  phone, SMART's booking-phone. The bulk files hold free and busy slots (no closed ones, none
  past their cut-off).
- ``Appointment/{id}``: only to a signed-in reader or a partner API key with
  ``appointments:read`` (``Authorization: Bearer``; the partner sees what it booked), scoped
  by ``appointments_visible_to`` (booking/interop/fhir/selectors.py). The patient is a display name
  and a ``Patient/{id}`` reference that is a handle only: there is no Patient endpoint, so no
  birth date, ID number or phone leaves through FHIR.
- ``Immunization/{id}``: a vaccine dose given (a completed appointment for a vaccination service,
  under the appointment's id), read as appointments are, except that a partner key needs
  ``immunizations:read`` (resource_types/immunizations.py). The vaccine is coded in this
  server's service CodeSystem (plus CVX once the catalogue holds CVX codes); the centre is the
  ``location`` and, by its MOPH code, the performing organisation (there is no Organization
  endpoint); ``protocolApplied`` gives the dose number and the doses in the course.

The SMART Scheduling Links files are built by the same resource builders (resources.py), written
into ``PublishedFile`` rows by a Celery task every SCHEDULING_LINKS_REFRESH_SECONDS, and served
from one row per request (publishing.py, views.py). A vaccine's Schedules and Slots carry SMART's
vaccine-product extension with the service's CVX code (``http://hl7.org/fhir/sid/cvx``; the
catalogue's codes and their source are in clinics/data/SOURCES.md); the vaccine-dose extension
lists the doses of the vaccine's series. tests/booking/interop/smart_checker.py checks every
published file against the specification, written from its text.
"""
