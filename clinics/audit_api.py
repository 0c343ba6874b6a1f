"""The audit trail as JSON, for a centre's admins and the tools they use to watch it. Read
only: there is no call that changes or deletes an event."""

from datetime import timedelta
from typing import Literal

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from clinics.audit import actor_in_words, filter_events
from clinics.exceptions import InvalidInput
from clinics.models import AuditEvent
from clinics.permissions import StaffAction, centre_for_staff
from clinics.schemas import BangkokDateTime, CentreNumber, Day, ErrorOut

router = Router(tags=["Audit trail"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class AuditFilter(Schema):
    since: Day | None = Field(None, description="First day (Bangkok); default a week back.")
    until: Day | None = Field(None, description="Last day (Bangkok); default today.")
    kind: Literal["all", "reads", "changes"] = "all"
    who: str = Field("", max_length=150, description="Part of the account's user name.")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(100, ge=1, le=500)


class AuditEventOut(Schema):
    id: int
    at: BangkokDateTime
    actor_kind: str = Field(description="staff, patient, partner, link, system or anonymous")
    actor: str = Field(
        description='Who, in words (in the language asked for), e.g. "Holder of the link for '
        'patient #12" for a change made through the link texted for a patient.'
    )
    actor_id: int | None
    actor_name: str
    link_patient_id: int | None = Field(
        description="For the holder of a link: the patient the link was sent for."
    )
    action: str = Field(description='e.g. "appointment.cancelled", "queue.viewed"')
    target_type: str
    target_id: int | None
    centre: int | None = Field(None, alias="centre_id")
    patients: list[int]
    details: dict[str, object]
    address: str | None
    via: str

    @staticmethod
    def resolve_actor(event: AuditEvent) -> str:
        return actor_in_words(event)


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    count: int
    page: int
    page_size: int


@router.get("/staff/centres/{int:number}/audit", response={200: AuditPageOut, **ERRORS})
def centre_audit(
    request: HttpRequest, number: CentreNumber, filters: Query[AuditFilter]
) -> AuditPageOut:
    """The centre's audit trail, newest first: every staff read of patients' records and every
    change to its appointments, slots, schedules, drives and stock. Centre admins only."""
    centre = centre_for_staff(request, number, StaffAction.READ_AUDIT)
    until = filters.until or timezone.localdate()
    since = filters.since or until - timedelta(days=6)
    if since > until:
        raise InvalidInput(_("The last day is before the first day."), field="until")
    events = filter_events(
        AuditEvent.objects.filter(centre=centre),
        since=since,
        until=until,
        kind=filters.kind,
        who=filters.who.strip(),
    )
    pages = Paginator(events, filters.page_size)
    page = pages.page(min(filters.page, max(pages.num_pages, 1)))
    return AuditPageOut.model_validate(
        {
            "items": list(page.object_list),
            "count": pages.count,
            "page": page.number,
            "page_size": filters.page_size,
        }
    )
