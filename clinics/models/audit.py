from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models.reference import HealthCentre


class AuditEvent(models.Model):
    """One staff read of patients' records, or one change to appointments, slots, schedules,
    drives or stock: who, when, what and from where.

    Rows are only ever added. The database itself refuses UPDATE and DELETE on the table
    (triggers in migration 0004), whoever asks. References are plain ids without foreign-key
    constraints, so that deleting or purging what they point at never touches the trail."""

    class Actor(models.TextChoices):
        STAFF = "staff", _("Staff")
        PATIENT = "patient", _("Patient")
        PARTNER = "partner", _("Partner")
        SYSTEM = "system", _("System")
        ANONYMOUS = "anonymous", _("Anonymous")
        # Whoever holds the link a patient was texted (the link is the only credential).
        LINK = "link", _("Holder of a link")

    at = models.DateTimeField(_("when"), default=timezone.now)
    actor_kind = models.CharField(_("who"), max_length=10, choices=Actor.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_actor_at
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account"),
    )
    # The account's user name, or the partner's name, as it was at the time.
    actor_name = models.CharField(_("name"), max_length=150, blank=True)
    # For an act through a link: the patient it was sent for (the link holder's identity).
    link_patient_id = models.BigIntegerField(_("link sent for patient"), null=True, blank=True)
    action = models.CharField(_("what"), max_length=40)
    target_type = models.CharField(_("record"), max_length=30)
    target_id = models.BigIntegerField(_("record id"), null=True, blank=True)
    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_centre_at
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("health centre"),
    )
    # The patients whose record was read or changed.
    patients = models.JSONField(_("patients"), default=list, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    address = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    # "POST /staff/centres/1/today" for a request (a token in the path as "…"), the task's name
    # for background work.
    via = models.CharField(_("through"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        indexes = [
            models.Index(fields=["centre", "-at"], name="audit_centre_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or self.actor_kind} {self.action}"
