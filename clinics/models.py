from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

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


def in_language(thai: str, english: str) -> str:
    """Pick the Thai or English text for the active language, falling back to Thai."""
    if (get_language() or "th").startswith("en") and english:
        return english
    return thai


class District(models.Model):
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


class VisitMode(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    VIDEO = "video", _("Video")


class Service(models.Model):
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
        Service, on_delete=models.CASCADE, related_name="doses", verbose_name=_("service")
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


class HealthCentre(models.Model):
    """A BMA public health centre (ศูนย์บริการสาธารณสุข), keyed by its number."""

    number = models.PositiveSmallIntegerField(_("number"), primary_key=True)
    name_th = models.CharField(_("name (Thai)"), max_length=150)
    name_en = models.CharField(_("name (English)"), max_length=150)
    short_name_th = models.CharField(_("short name (Thai)"), max_length=100)
    abbrev_th = models.CharField(_("abbreviation (Thai)"), max_length=20)
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

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)


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


weekdays_validator = RegexValidator(
    r"^(?!.*(.).*\1)[1-7]{1,7}$",
    _("Give the weekdays as digits 1 (Monday) to 7 (Sunday), each at most once, e.g. 12345."),
)


class ScheduleTemplate(models.Model):
    """A weekly pattern of sessions from which bookable slots are generated."""

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.CASCADE,
        related_name="schedule_templates",
        verbose_name=_("health centre"),
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="schedule_templates",
        verbose_name=_("service"),
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedule_templates",
        verbose_name=_("clinician"),
    )
    weekdays = models.CharField(
        _("weekdays"),
        max_length=7,
        validators=[weekdays_validator],
        help_text=_("ISO weekday digits: 1 = Monday … 7 = Sunday, e.g. 12345."),
    )
    start_time = models.TimeField(_("first slot starts"))
    end_time = models.TimeField(_("last slot ends by"))
    slot_minutes = models.PositiveSmallIntegerField(
        _("slot length (minutes)"), validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    capacity = models.PositiveSmallIntegerField(
        _("people per slot"), validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["centre", "service", "start_time"]
        verbose_name = _("weekly schedule")
        verbose_name_plural = _("weekly schedules")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="schedule_ends_after_it_starts"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="schedule_valid_until_after_from",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="schedule_capacity_positive"),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5), name="schedule_slot_at_least_5_minutes"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.centre} · {self.service} · {self.weekdays} {self.start_time:%H:%M}"

    @property
    def iso_weekdays(self) -> set[int]:
        return {int(digit) for digit in self.weekdays}

    def runs_on(self, day: date) -> bool:
        if not self.is_active or day < self.valid_from:
            return False
        if self.valid_until is not None and day > self.valid_until:
            return False
        return day.isoweekday() in self.iso_weekdays


class Closure(models.Model):
    """Days a centre (or, without a centre, every centre) takes no appointments."""

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="closures",
        verbose_name=_("health centre"),
        help_text=_("Leave empty to close every centre in the city."),
    )
    start_date = models.DateField(_("first closed day"))
    end_date = models.DateField(_("last closed day"))
    reason_th = models.CharField(_("reason (Thai)"), max_length=200)
    reason_en = models.CharField(_("reason (English)"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start_date", "centre"]
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="closure_ends_after_it_starts"
            )
        ]

    def __str__(self) -> str:
        where = str(self.centre) if self.centre_id else str(_("All centres"))
        return f"{where}: {self.start_date} to {self.end_date}"

    @property
    def reason(self) -> str:
        return in_language(self.reason_th, self.reason_en)


class PublicHoliday(models.Model):
    """A Thai public holiday; loaded from the `holidays` package, then edited by staff."""

    class Source(models.TextChoices):
        PACKAGE = "package", _("holidays package")
        STAFF = "staff", _("added by staff")

    date = models.DateField(_("date"), unique=True)
    name_th = models.CharField(_("name (Thai)"), max_length=300)
    name_en = models.CharField(_("name (English)"), max_length=300, blank=True)
    closes_centres = models.BooleanField(
        _("centres closed"),
        default=True,
        help_text=_("Untick when centres open on this holiday."),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.STAFF
    )

    class Meta:
        ordering = ["date"]
        verbose_name = _("public holiday")
        verbose_name_plural = _("public holidays")

    def __str__(self) -> str:
        return f"{self.date} {self.name}"

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)
