"""What a patient has agreed to, and when: the privacy notice and the consent to be seen by
video (the Medical Council of Thailand's telemedicine guideline, announcement 54/2563). Each
is recorded with the version of the text that was shown; a new version asks again."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from booking.models.appointments import Patient


class PatientConsent(models.Model):
    class Kind(models.TextChoices):
        PRIVACY = "privacy", _("Privacy notice")
        TELEMEDICINE = "telemedicine", _("Consent to a video consultation")

    patient = models.ForeignKey(
        Patient,
        on_delete=models.CASCADE,
        db_index=False,  # one_consent_per_version
        related_name="consents",
        verbose_name=_("patient"),
    )
    kind = models.CharField(_("what"), max_length=20, choices=Kind.choices)
    version = models.CharField(_("version of the text"), max_length=20)
    accepted_at = models.DateTimeField(_("accepted at"), auto_now_add=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accepted by"),
        help_text=_("Empty when accepted from the join link in a text message."),
    )
    address = models.GenericIPAddressField(_("from address"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "version"], name="one_consent_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.get_kind_display()} {self.version}"
