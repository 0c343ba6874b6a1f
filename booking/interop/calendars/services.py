"""Starting and revoking private calendar feeds."""

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from booking.models import CalendarFeed


@transaction.atomic
def start_calendar_feed(*, owner: User, kind: CalendarFeed.Kind) -> CalendarFeed:
    """Give `owner` a new feed address of this kind; the old address, if any, stops working.

    Locks the owner's row, so two requests at once leave one live feed."""
    User.objects.select_for_update().filter(pk=owner.pk).order_by().first()
    _revoke(owner, kind)
    return CalendarFeed.objects.create(owner=owner, kind=kind)


@transaction.atomic
def revoke_calendar_feed(*, owner: User, kind: CalendarFeed.Kind) -> int:
    """End `owner`'s feed of this kind; returns how many addresses stopped working (0 or 1)."""
    return _revoke(owner, kind)


def _revoke(owner: User, kind: CalendarFeed.Kind) -> int:
    return CalendarFeed.objects.filter(owner=owner, kind=kind, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def note_feed_fetched(*, feed: CalendarFeed) -> None:
    """Record when a calendar app last fetched the feed, at most once a minute, so owners can
    see whether the address is in use before revoking it."""
    now = timezone.now()
    if feed.last_fetched_at is None or now - feed.last_fetched_at > timedelta(minutes=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=now)
