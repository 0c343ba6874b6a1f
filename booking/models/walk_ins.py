"""Walk-ins: people who came to a centre without an appointment and wait in today's queue
under a queue number (A-017), and the per-centre, per-day counter that hands the numbers out."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from booking.models.appointments import Patient
from clinics.models import HealthCentre, Service

# The letter before a walk-in's number: A for "arrived without an appointment" (appointments
# are called by their time, so the letter tells the two apart on the queue and the slip).
QUEUE_LETTER = "A"


class WalkIn(models.Model):
    """A person added to a centre's queue on the day they came, without a slot."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        IN_CONSULTATION = "in_consultation", _("Being seen")
        COMPLETED = "completed", _("Seen")
        LEFT = "left", _("Left without being seen")

    # Still in the queue: a person is in at most one of these per centre and day.
    IN_QUEUE = (Status.WAITING, Status.IN_CONSULTATION)

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.PROTECT,
        db_index=False,  # one_queue_number_per_centre_day
        related_name="walk_ins",
        verbose_name=_("health centre"),
    )
    day = models.DateField(_("day (Bangkok)"))
    number = models.PositiveIntegerField(_("queue number"))
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        db_index=False,  # walk_in_patient_day
        related_name="walk_ins",
        verbose_name=_("patient"),
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="+", verbose_name=_("service")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.WAITING
    )
    arrived_at = models.DateTimeField(_("arrived at"))
    started_at = models.DateTimeField(_("seen from"), null=True, blank=True)
    finished_at = models.DateTimeField(_("seen or left at"), null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["day", "centre", "number"]
        verbose_name = _("walk-in")
        verbose_name_plural = _("walk-ins")
        constraints = [
            models.UniqueConstraint(
                fields=["centre", "day", "number"], name="one_queue_number_per_centre_day"
            ),
            models.UniqueConstraint(
                fields=["centre", "day", "patient"],
                condition=Q(status__in=["waiting", "in_consultation"]),
                name="walk_in_queued_once_per_centre_day",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="walk_in_number_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "in_consultation", "completed", "left"]),
                name="walk_in_status_known",
            ),
            # Seen from: set once the visit starts, and never for someone who left unseen.
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "left"], started_at__isnull=True)
                | Q(status__in=["in_consultation", "completed"], started_at__isnull=False),
                name="walk_in_started_when_seen",
            ),
            # Finished: set exactly when the person is no longer in the queue.
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "in_consultation"], finished_at__isnull=True)
                | Q(status__in=["completed", "left"], finished_at__isnull=False),
                name="walk_in_finished_when_out_of_queue",
            ),
        ]
        indexes = [models.Index(fields=["patient", "day"], name="walk_in_patient_day")]

    def __str__(self) -> str:
        return f"{self.label} · {self.centre_id} · {self.day}"

    @property
    def label(self) -> str:
        """The queue number as called out and printed: A-017."""
        return queue_label(self.number)


def queue_label(number: int) -> str:
    return f"{QUEUE_LETTER}-{number:03d}"


class WalkInCounter(models.Model):
    """The last queue number given at a centre on a day. Adding a walk-in raises it with a
    conditional update, which holds the row until the walk-in commits: numbers are handed out
    one at a time, without gaps from races."""

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.CASCADE,
        db_index=False,  # one_walk_in_counter_per_day
        related_name="+",
        verbose_name=_("health centre"),
    )
    day = models.DateField(_("day (Bangkok)"))
    last_number = models.PositiveIntegerField(_("last queue number given"), default=0)

    class Meta:
        verbose_name = _("walk-in counter")
        verbose_name_plural = _("walk-in counters")
        constraints = [
            models.UniqueConstraint(fields=["centre", "day"], name="one_walk_in_counter_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.centre_id} · {self.day} · {self.last_number}"
