"""The waitlist: people waiting for a place of any service when a search found none, and the
places held for them until they claim one or the offer runs out."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from clinics.models import District, HealthCentre, Service


class WaitlistEntry(models.Model):
    """A patient waiting for a place when none matched their search."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        OFFERED = "offered", _("Place offered")
        BOOKED = "booked", _("Booked")
        ENDED = "ended", _("Ended")
        LEFT = "left", _("Left the waitlist")

    # Lower comes first: people in a risk group, then everyone else.
    class Priority(models.IntegerChoices):
        RISK_GROUP = 0, _("Risk group")
        EVERYONE = 1, _("Everyone else")

    patient = models.ForeignKey(
        "booking.Patient",
        on_delete=models.CASCADE,
        related_name="waitlist_entries",
        verbose_name=_("patient"),
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="+", verbose_name=_("service")
    )
    centres = models.ManyToManyField(
        HealthCentre,
        blank=True,
        related_name="+",
        verbose_name=_("health centres"),
        help_text=_("Empty: any centre (in the district, if one is given)."),
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("district"),
    )
    date_from = models.DateField(_("first day wanted"))
    date_to = models.DateField(_("last day wanted"))
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.EVERYONE
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.WAITING
    )
    joined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("joined by"),
    )
    joined_at = models.DateTimeField(_("joined at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["priority", "joined_at", "pk"]
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "service"],
                condition=Q(status__in=["waiting", "offered"]),
                name="one_waitlist_place_per_service",
            ),
            models.CheckConstraint(
                condition=Q(date_to__gte=F("date_from")), name="waitlist_dates_in_order"
            ),
        ]
        indexes = [
            models.Index(
                fields=["service", "priority", "joined_at"],
                condition=Q(status="waiting"),
                name="waitlist_queue",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.service}"


class WaitlistOffer(models.Model):
    """A place held for someone on the waitlist until they claim it or the offer runs out.

    The held place counts in the slot's `booked`, so nobody else can take it meanwhile."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLAIMED = "claimed", _("Claimed")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    entry = models.ForeignKey(
        WaitlistEntry,
        on_delete=models.CASCADE,
        related_name="offers",
        verbose_name=_("waitlist entry"),
    )
    slot = models.ForeignKey(
        "booking.Slot", on_delete=models.PROTECT, related_name="+", verbose_name=_("slot")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    offered_at = models.DateTimeField(_("offered at"))
    expires_at = models.DateTimeField(_("held until"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    appointment = models.OneToOneField(
        "booking.Appointment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="waitlist_offer",
        verbose_name=_("appointment"),
    )

    class Meta:
        ordering = ["-offered_at", "pk"]
        verbose_name = _("waitlist offer")
        verbose_name_plural = _("waitlist offers")
        constraints = [
            models.UniqueConstraint(
                fields=["entry"], condition=Q(status="open"), name="one_open_offer_per_entry"
            )
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="open"), name="waitlist_offer_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entry} · {self.slot}"
