"""The city's reference data: districts, services (and their dose courses) and health centres."""

import re
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from clinics.centre_facts import (
    OpeningPeriod,
    opening_periods_from,
    validate_address_line,
    validate_centre_phone,
    validate_opening_hours,
    validate_postcode,
)
from clinics.text import validate_centre_name

T = TypeVar("T")

MAX_REMINDER_MINUTES = 14 * 24 * 60


def validate_reminder_minutes(value: str) -> None:
    """Reminder times: whole minutes before the start, comma-separated, at most 14 days."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not all(part.isdigit() and 0 < int(part) <= MAX_REMINDER_MINUTES for part in parts):
        raise ValidationError(
            _("Give minutes before the start between 1 and %(max)d, separated by commas."),
            params={"max": MAX_REMINDER_MINUTES},
            code="invalid_reminders",
        )


def for_language(language: str, thai: T, english: T) -> T:
    """The Thai form for Thai, else the English one: where a caller names the language (a
    text for its recipient, a calendar for its reader) rather than using the active one."""
    return thai if language == "th" else english


class NamedInBothLanguages:
    """A model with `name_th` and `name_en`."""

    name_th: Any
    name_en: Any

    def name_in(self, language: str) -> str:
        return str(for_language(language, self.name_th, self.name_en))


def in_language(thai: str, english: str) -> str:
    """Pick the Thai or English text for the active language, falling back to Thai."""
    if (get_language() or "th").startswith("en") and english:
        return english
    return thai


class District(NamedInBothLanguages, models.Model):
    """One of Bangkok's 50 districts (เขต), keyed by the Interior Ministry geocode."""

    code = models.PositiveSmallIntegerField(_("geocode"), primary_key=True)
    name_th = models.CharField(_("name (Thai)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    zone_group_th = models.CharField(_("district group"), max_length=100, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("district")
        verbose_name_plural = _("districts")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)


# The languages a person reads their pages and texts in (Patient.Language). No docstring:
# it would become the description of the API schema's Language.
class Language(models.TextChoices):
    THAI = "th", "ไทย"
    ENGLISH = "en", "English"


class VisitMode(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    VIDEO = "video", _("Video")


def validate_cvx_code(value: str) -> None:
    """A CVX code: one to three digits, as the CDC writes them (03, 45, 213)."""
    if not re.fullmatch(r"[0-9]{1,3}", value):
        raise ValidationError(
            _("Enter the CVX code as the CDC writes it: one to three digits, e.g. 03 or 213."),
            code="cvx_code",
        )


class Service(NamedInBothLanguages, models.Model):
    """Something a centre offers that people book: a consultation, a check-up, a vaccine."""

    class Kind(models.TextChoices):
        CONSULTATION = "consultation", _("Consultation")
        ANTENATAL = "antenatal", _("Antenatal care")
        VACCINATION = "vaccination", _("Vaccination")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    visit_mode = models.CharField(_("visit mode"), max_length=20, choices=VisitMode.choices)
    name_th = models.CharField(_("name (Thai)"), max_length=150)
    name_en = models.CharField(_("name (English)"), max_length=150)
    description_th = models.TextField(_("description (Thai)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    default_slot_minutes = models.PositiveSmallIntegerField(
        _("default slot length (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
    )
    booking_cutoff_minutes = models.PositiveIntegerField(
        _("booking closes (minutes before start)"), default=60
    )
    cancellation_cutoff_minutes = models.PositiveIntegerField(
        _("cancelling closes (minutes before start)"), default=120
    )
    what_to_bring_th = models.CharField(_("what to bring (Thai)"), max_length=100, blank=True)
    what_to_bring_en = models.CharField(_("what to bring (English)"), max_length=100, blank=True)
    reminder_minutes = models.CharField(
        _("reminders (minutes before)"),
        max_length=60,
        default="1440,120",
        blank=True,
        validators=[validate_reminder_minutes],
        help_text=_(
            "When to send text reminders, in minutes before the start, separated by commas: "
            "1440,120 is 24 hours and 2 hours before. Empty sends none."
        ),
    )
    # The CDC's CVX code of the vaccine (https://www2a.cdc.gov/vaccines/iis/iisstandards/
    # vaccines.asp?rpt=cvx), which partners read in FHIR's vaccine-product extension; empty for
    # services that are no vaccine. See clinics/data/SOURCES.md for how each was chosen.
    cvx_code = models.CharField(
        _("CVX code"),
        max_length=4,
        blank=True,
        validators=[validate_cvx_code],
        help_text=_("The CDC's vaccine code (CVX), e.g. 03 for MMR. Empty if it is no vaccine."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name = _("service")
        verbose_name_plural = _("services")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)

    @property
    def description(self) -> str:
        return in_language(self.description_th, self.description_en)

    @property
    def reminder_offsets(self) -> list[int]:
        """Minutes before the start at which reminders go out, largest first."""
        return sorted(
            {int(part) for part in self.reminder_minutes.split(",") if part.strip()}, reverse=True
        )


class ServiceDose(models.Model):
    """One dose of a vaccine's series, with the interval allowed after the previous dose."""

    service = models.ForeignKey(
        Service,
        on_delete=models.CASCADE,
        db_index=False,  # one_row_per_dose_number
        related_name="doses",
        verbose_name=_("service"),
    )
    number = models.PositiveSmallIntegerField(_("dose number"), validators=[MinValueValidator(1)])
    min_interval_days = models.PositiveIntegerField(
        _("at least (days after previous dose)"), null=True, blank=True
    )
    max_interval_days = models.PositiveIntegerField(
        _("at most (days after previous dose)"), null=True, blank=True
    )

    class Meta:
        ordering = ["service", "number"]
        verbose_name = _("dose in series")
        verbose_name_plural = _("doses in series")
        constraints = [
            models.UniqueConstraint(fields=["service", "number"], name="one_row_per_dose_number"),
            models.CheckConstraint(
                condition=(
                    Q(number=1, min_interval_days__isnull=True, max_interval_days__isnull=True)
                    | Q(
                        number__gt=1,
                        min_interval_days__isnull=False,
                        max_interval_days__isnull=False,
                        min_interval_days__lte=F("max_interval_days"),
                    )
                ),
                name="later_doses_have_an_interval",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} #{self.number}"


class HealthCentre(NamedInBothLanguages, models.Model):
    """A BMA public health centre (ศูนย์บริการสาธารณสุข), keyed by its number."""

    number = models.PositiveSmallIntegerField(_("number"), primary_key=True)
    # Published on pages, in FHIR, calendars and the open data CSV: validate_centre_name.
    name_th = models.CharField(_("name (Thai)"), max_length=150, validators=[validate_centre_name])
    name_en = models.CharField(
        _("name (English)"), max_length=150, validators=[validate_centre_name]
    )
    short_name_th = models.CharField(
        _("short name (Thai)"), max_length=100, validators=[validate_centre_name]
    )
    abbrev_th = models.CharField(
        _("abbreviation (Thai)"), max_length=20, validators=[validate_centre_name]
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="centres", verbose_name=_("district")
    )
    subdistrict_th = models.CharField(_("subdistrict (Thai)"), max_length=100, blank=True)
    latitude = models.FloatField(
        _("latitude"), validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.FloatField(
        _("longitude"), validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    moph_hcode = models.CharField(_("MOPH facility code"), max_length=5, blank=True)
    line_oa = models.URLField(_("LINE official account"), blank=True)
    # What people need to find and reach the centre (clinics.centre_facts): empty when not
    # known, and then not shown.
    address_th = models.CharField(
        _("street address (Thai)"),
        max_length=200,
        blank=True,
        validators=[validate_address_line],
        help_text=_("House number, soi and road; the subdistrict and district are added."),
    )
    address_en = models.CharField(
        _("street address (English)"),
        max_length=200,
        blank=True,
        validators=[validate_address_line],
    )
    postcode = models.CharField(
        _("postcode"), max_length=5, blank=True, validators=[validate_postcode]
    )
    phone = models.CharField(
        _("phone number"),
        max_length=20,
        blank=True,
        validators=[validate_centre_phone],
        help_text=_("Kept as +66…; shown the way people write it (02 123 4567)."),
    )
    opening_hours = models.JSONField(
        _("opening hours"),
        default=list,
        blank=True,
        validators=[validate_opening_hours],
        help_text=_('One period a weekday: [{"day": 1, "opens": "08:00", "closes": "16:00"}].'),
    )
    services = models.ManyToManyField(
        Service, related_name="centres", blank=True, verbose_name=_("services offered")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("health centre")
        verbose_name_plural = _("health centres")

    def __str__(self) -> str:
        return self.name

    def label_in(self, language: str) -> str:
        """How texts and pages name the centre: its Thai abbreviation and short name, or
        "Health Centre 12" in English."""
        if language == "th":
            return f"{self.abbrev_th} {self.short_name_th}"
        return f"Health Centre {self.number}"

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)

    @property
    def opening_periods(self) -> list[OpeningPeriod]:
        """The opening hours by weekday (none when not given)."""
        return opening_periods_from(self.opening_hours or [])
