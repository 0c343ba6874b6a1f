"""What each staff role may do, per centre. Every staff check in the API and admin asks here."""

from enum import StrEnum
from typing import TypeGuard

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.utils.translation import gettext as _

from clinics.exceptions import Forbidden, NotFound, NotSignedIn
from clinics.models import HealthCentre, StaffMembership

Role = StaffMembership.Role


class StaffAction(StrEnum):
    MANAGE_SCHEDULE = "manage_schedule"  # weekly schedules, closures, slot capacity
    VIEW_APPOINTMENTS = "view_appointments"  # the day's list, patient names
    RECEIVE_PATIENTS = "receive_patients"  # check-in, no-show
    CONSULT = "consult"  # start and complete a consultation
    CANCEL_APPOINTMENTS = "cancel_appointments"  # cancel on a patient's behalf
    MANAGE_STAFF = "manage_staff"  # memberships at the centre
    MANAGE_STOCK = "manage_stock"  # vaccine deliveries and withdrawals
    READ_AUDIT = "read_audit"  # the centre's audit trail (centre admins only)
    # The desk: find anyone in the city, register them after seeing their ID card, book for them.
    BOOK_FOR_PATIENTS = "book_for_patients"
    MANAGE_CENTRE = "manage_centre"  # address, phone, opening hours (centre admins only)


ROLE_ACTIONS: dict[str, frozenset[StaffAction]] = {
    Role.CENTRE_ADMIN: frozenset(StaffAction),
    Role.SCHEDULER: frozenset(
        {
            StaffAction.MANAGE_SCHEDULE,
            StaffAction.VIEW_APPOINTMENTS,
            StaffAction.RECEIVE_PATIENTS,
            StaffAction.CANCEL_APPOINTMENTS,
            StaffAction.MANAGE_STOCK,
            StaffAction.BOOK_FOR_PATIENTS,
        }
    ),
    Role.NURSE: frozenset(
        {
            StaffAction.VIEW_APPOINTMENTS,
            StaffAction.RECEIVE_PATIENTS,
            StaffAction.CONSULT,
            StaffAction.CANCEL_APPOINTMENTS,
            StaffAction.MANAGE_STOCK,
            StaffAction.BOOK_FOR_PATIENTS,
        }
    ),
    Role.CLINICIAN: frozenset(
        {StaffAction.VIEW_APPOINTMENTS, StaffAction.RECEIVE_PATIENTS, StaffAction.CONSULT}
    ),
}

AnyUser = User | AnonymousUser


def centres_where(user: AnyUser, action: StaffAction) -> set[int] | None:
    """The centre numbers where `user` may take `action`; None means every centre."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if getattr(user, "is_superuser", False):
        return None
    roles = [role for role, actions in ROLE_ACTIONS.items() if action in actions]
    return set(
        StaffMembership.objects.filter(user=user, role__in=roles).values_list(
            "centre_id", flat=True
        )
    )


def actions_at(user: AnyUser, centre_id: int) -> frozenset[StaffAction]:
    """Everything `user` may do at the centre, in one query (a page's menu asks often)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if getattr(user, "is_superuser", False):
        return frozenset(StaffAction)
    roles = StaffMembership.objects.filter(user=user, centre_id=centre_id).values_list(
        "role", flat=True
    )
    return frozenset(action for role in roles for action in ROLE_ACTIONS.get(role, ()))


def can_act_at(user: AnyUser, action: StaffAction, centre_id: int) -> bool:
    allowed = centres_where(user, action)
    return allowed is None or centre_id in allowed


def require_staff(user: AnyUser, action: StaffAction, centre_id: int) -> None:
    """Raise Forbidden unless `user` may take `action` at the centre."""
    if not can_act_at(user, action, centre_id):
        raise Forbidden()


def centre_for_staff(request: HttpRequest, number: int, action: StaffAction) -> HealthCentre:
    """The centre, if the signed-in member of staff may take `action` there (the JSON API)."""
    centre = HealthCentre.objects.filter(number=number).first()
    if centre is None:
        raise NotFound(_("There is no health centre with that number."))
    require_staff(signed_in_user(request), action, centre.number)
    return centre


def is_city_admin(user: AnyUser) -> bool:
    """City-wide changes (closures of every centre, holidays) are for superusers."""
    return bool(user.is_authenticated and getattr(user, "is_superuser", False))


class SignedInRequest(HttpRequest):
    """A request that sign-in let through: its user is an account, never AnonymousUser."""

    user: User


def is_signed_in(request: HttpRequest) -> TypeGuard[SignedInRequest]:
    """Whether an account is signed in on the request (then mypy knows its user is a User)."""
    return isinstance(request.user, User) and request.user.is_authenticated


def signed_in_user(request: HttpRequest) -> User:
    """The account behind a request that sign-in let through."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotSignedIn()
    return user
