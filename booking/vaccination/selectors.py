"""Reads of vaccination drives: with their details, and those a member of staff may manage."""

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from booking.models import VaccinationDrive
from clinics.exceptions import NotFound
from clinics.permissions import StaffAction, centres_where, require_staff


def drives_with_details() -> QuerySet[VaccinationDrive]:
    """Drives with their vaccine, sessions, centres and districts, a query each."""
    return VaccinationDrive.objects.select_related("service").prefetch_related(
        "sessions", "centres", "districts"
    )


def drive_for_staff(user: User, drive_id: int) -> VaccinationDrive:
    """A drive the staff member may manage: they manage schedules at all its centres."""
    drive = drives_with_details().filter(pk=drive_id).first()
    if drive is None:
        raise NotFound(_("There is no vaccination drive with that id."))
    for centre in drive.centres.all():
        require_staff(user, StaffAction.MANAGE_SCHEDULE, centre.number)
    return drive


def drives_for_staff(user: User) -> QuerySet[VaccinationDrive]:
    """Drives at any centre where the user manages schedules, newest first."""
    allowed = centres_where(user, StaffAction.MANAGE_SCHEDULE)
    drives = drives_with_details()
    if allowed is not None:
        drives = drives.filter(centres__number__in=allowed).distinct()
    return drives.order_by("-created_at", "-pk")


def drives_with_districts(drive_ids: set[int]) -> list[VaccinationDrive]:
    """The drives, with their home districts: one query for the drives, one for the districts."""
    return list(VaccinationDrive.objects.filter(pk__in=drive_ids).prefetch_related("districts"))
