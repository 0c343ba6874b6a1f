"""Reads of the waitlist: what an account is waiting for."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from booking.waitlist.models import WaitlistEntry


def waitlist_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[WaitlistEntry]:
    """The account's places on the waitlist still waiting or with a place held, oldest first."""
    return (
        WaitlistEntry.objects.filter(
            patient__account_id=user.pk,
            status__in=[WaitlistEntry.Status.WAITING, WaitlistEntry.Status.OFFERED],
        )
        .select_related("service", "patient", "district")
        .order_by("joined_at", "pk")
    )
