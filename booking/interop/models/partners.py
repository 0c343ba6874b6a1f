"""Partners (the city's super-app, national health platforms) and the API keys issued to them."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Partner(models.Model):
    """An organisation that calls the API with keys; appointments it books are its own."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("partner")
        verbose_name_plural = _("partners")

    def __str__(self) -> str:
        return self.name


class PartnerKey(models.Model):
    """One API key: shown once when issued, stored only as a hash, scoped and rate-limited."""

    class Scope(models.TextChoices):
        AVAILABILITY_READ = "availability:read", _("Read centres, services and open times")
        APPOINTMENTS_READ = "appointments:read", _("Read the appointments the partner booked")
        APPOINTMENTS_WRITE = "appointments:write", _("Book and cancel appointments for people")
        IMMUNIZATIONS_READ = (
            "immunizations:read",
            _("Read the vaccine doses given to people the partner booked"),
        )
        PEOPLE_VERIFIED = (
            "people:verified",
            _("Say that the partner verified a person, to book them into a phone's household"),
        )

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="keys", verbose_name=_("partner")
    )
    label = models.CharField(_("label"), max_length=100, blank=True)
    # The public part of the key, e.g. "bma_k7x2m9qa": finds the row and names it in logs.
    prefix = models.CharField(_("key prefix"), max_length=20, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"), default=120, validators=[MinValueValidator(1)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["partner", "-created_at"]
        verbose_name = _("partner API key")
        verbose_name_plural = _("partner API keys")

    def __str__(self) -> str:
        return f"{self.partner} · {self.prefix}"


class PartnerKeyUse(models.Model):
    """One call made with a key: the audit trail of every use."""

    key = models.ForeignKey(
        PartnerKey,
        on_delete=models.PROTECT,
        db_index=False,  # partner_key_use_key_at
        related_name="uses",
        verbose_name=_("key"),
    )
    at = models.DateTimeField(_("at"))
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=300)
    status_code = models.PositiveSmallIntegerField(_("status"))
    address = models.GenericIPAddressField(_("from address"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("partner API key use")
        verbose_name_plural = _("partner API key uses")
        indexes = [models.Index(fields=["key", "at"], name="partner_key_use_key_at")]

    def __str__(self) -> str:
        return f"{self.key} {self.method} {self.path} {self.status_code}"
