"""Who works where, and how staff sign in."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clinics.models.reference import HealthCentre


class StaffMembership(models.Model):
    """A staff member's role at one centre; rights are granted per centre."""

    class Role(models.TextChoices):
        CLINICIAN = "clinician", _("Clinician")
        NURSE = "nurse", _("Nurse")
        SCHEDULER = "scheduler", _("Scheduler")
        CENTRE_ADMIN = "centre_admin", _("Centre administrator")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("health centre"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)

    class Meta:
        ordering = ["centre", "role", "user"]
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "centre"], name="one_role_per_user_and_centre")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.centre}"
