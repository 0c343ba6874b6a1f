"""What the booking engine publishes for others to read: calendar feeds, the SMART Scheduling
Links files aggregators download, and the daily open-data figures."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinics.models import HealthCentre, Service


class CalendarFeed(models.Model):
    """A private calendar address that calendar apps subscribe to; revoking it ends the address.

    The address carries a token signed over this row's id, so a new feed is a new address."""

    class Kind(models.TextChoices):
        HOUSEHOLD = "household", _("My household's appointments")
        CLINICIAN = "clinician", _("My sessions and appointments")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("owner"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_fetched_at = models.DateTimeField(_("last fetched at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "kind"],
                condition=Q(revoked_at__isnull=True),
                name="one_live_calendar_feed_per_owner_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.owner}"


class PublishedFile(models.Model):
    """A file served as stored, rewritten in the background: readers never scan the slots."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    content_type = models.CharField(_("content type"), max_length=100)
    body = models.TextField(_("body"), blank=True)
    etag = models.CharField(_("ETag"), max_length=64)
    # When the body last changed, not when it was last rewritten: Last-Modified and the
    # manifest's transactionTime.
    modified_at = models.DateTimeField(_("modified at"))
    generated_at = models.DateTimeField(_("generated at"))
    # When time alone changes the file (a slot passes its booking cut-off or comes within the
    # published horizon, a drive opens, a day ends): it is rebuilt then, even if nothing was
    # written. For the manifest, what every file was built with
    # (booking/interop/fhir/publishing.py).
    refresh_at = models.DateTimeField(_("refresh at"), null=True, blank=True)
    built_with = models.CharField(_("built with"), max_length=64, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("published file")
        verbose_name_plural = _("published files")

    def __str__(self) -> str:
        return self.name


class SchedulingLinksChange(models.Model):
    """A change the SMART Scheduling Links files may not show yet, noted by database triggers
    (migration 0007) whatever wrote it: the start of a slot that changed, or none when a centre,
    service, dose or drive changed. The publisher rebuilds the weeks these touch (everything
    for a none), then deletes the rows it read; a change committed meanwhile stays for the next
    run. Nothing else writes here."""

    id = models.BigAutoField(primary_key=True)
    slot_start = models.DateTimeField(_("slot start"), null=True, blank=True)

    class Meta:
        verbose_name = _("scheduling links change")
        verbose_name_plural = _("scheduling links changes")

    def __str__(self) -> str:
        return f"{self.slot_start or 'centres, services or drives'}"


class CentreDayFigures(models.Model):
    """One day's figures for one service at one centre, counted once the day is over."""

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.CASCADE,
        db_index=False,  # one_figures_row_per_centre_service_day
        related_name="+",
        verbose_name=_("health centre"),
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="+", verbose_name=_("service")
    )
    day = models.DateField(_("day"))
    slots_offered = models.PositiveIntegerField(_("slots offered"), default=0)
    places_offered = models.PositiveIntegerField(_("places offered"), default=0)
    booked = models.PositiveIntegerField(_("booked"), default=0)
    attended = models.PositiveIntegerField(_("attended"), default=0)
    no_shows = models.PositiveIntegerField(_("did not attend"), default=0)
    cancellations = models.PositiveIntegerField(_("cancellations"), default=0)
    waitlist_refills = models.PositiveIntegerField(
        _("places refilled from the waitlist"), default=0
    )
    walk_ins = models.PositiveIntegerField(_("walk-ins"), default=0)
    computed_at = models.DateTimeField(_("counted at"))

    class Meta:
        ordering = ["day", "centre", "service"]
        verbose_name = _("day's figures")
        verbose_name_plural = _("daily figures")
        constraints = [
            models.UniqueConstraint(
                fields=["centre", "service", "day"], name="one_figures_row_per_centre_service_day"
            )
        ]
        indexes = [models.Index(fields=["day"], name="figures_day")]

    def __str__(self) -> str:
        return f"{self.day} · {self.centre_id} · {self.service}"
