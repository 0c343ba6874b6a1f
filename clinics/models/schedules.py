"""Weekly schedules, closures and public holidays."""

from datetime import date

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from clinics.models.reference import HealthCentre, Service, for_language, in_language

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

    def name_in(self, language: str) -> str:
        """Its name in the language (Thai where it has no English name)."""
        return for_language(language, self.name_th, self.name_en or self.name_th)
