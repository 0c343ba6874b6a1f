"""Safeguards around people's accounts: a phone stopped from booking online by a health
centre (one phone booking for many people), and a person's request to have their data
erased."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from booking.models.appointments import Patient


class BookingBlock(models.Model):
    """An account (a phone) that may not book online until staff allow it again. Staff can
    still book for its people at the desk."""

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="booking_blocks",
        verbose_name=_("account"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    blocked_at = models.DateTimeField(_("stopped at"), auto_now_add=True)
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("stopped by"),
    )
    lifted_at = models.DateTimeField(_("allowed again at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("allowed again by"),
    )

    class Meta:
        ordering = ["-blocked_at"]
        verbose_name = _("phone stopped from booking")
        verbose_name_plural = _("phones stopped from booking")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(lifted_at__isnull=True),
                name="one_open_booking_block_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.reason}"


class DeletionRequest(models.Model):
    """A person asked for their data to be erased. Their coming appointments are cancelled at
    once; the erasure itself runs on `erase_on` (see booking/services/deletion.py), which
    waits for the medical record's retention to end when they have been seen."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        ERASED = "erased", _("Erased")

    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        related_name="deletion_requests",
        verbose_name=_("patient"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("asked by"),
    )
    requested_at = models.DateTimeField(_("asked at"), auto_now_add=True)
    erase_on = models.DateField(_("to be erased on"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    finished_at = models.DateTimeField(_("withdrawn or erased at"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("deletion request")
        verbose_name_plural = _("deletion requests")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="pending"),
                name="one_pending_deletion_per_patient",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} · {self.get_status_display()} · {self.erase_on}"
