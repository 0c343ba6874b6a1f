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
        db_index=False,  # one_role_per_user_and_centre
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


class StaffAuthenticator(models.Model):
    """A member of staff's authenticator app (TOTP, RFC 6238): the key it shares with us,
    whether they have proved it works, and the last time step a code was accepted for, so
    that each code signs in once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="authenticator",
        verbose_name=_("user"),
    )
    key = models.CharField(_("key"), max_length=64)
    confirmed_at = models.DateTimeField(_("set up at"), null=True, blank=True)
    last_step = models.BigIntegerField(_("last code's time step"), default=0)
    # Counted here rather than in the cache, so that the lockout holds while Redis is down.
    wrong_codes = models.PositiveSmallIntegerField(_("wrong codes in a row"), default=0)
    locked_until = models.DateTimeField(_("takes no code until"), null=True, blank=True)

    class Meta:
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")

    def __str__(self) -> str:
        return str(self.user)
