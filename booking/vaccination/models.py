"""Vaccination drives, their sessions, vaccine lots, dose series (courses) and risk groups."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from clinics.models import District, HealthCentre, Service, in_language, weekdays_validator


class RiskGroup(models.TextChoices):
    """The seven groups Thailand's seasonal influenza campaign vaccinates first.

    The two set by age are worked out from the date of birth on the vaccination day; the
    others are declared by the patient."""

    AGED_65_PLUS = "aged_65_plus", _("Aged 65 or over")
    YOUNG_CHILD = "young_child", _("Child aged 6 months to 2 years")
    PREGNANT = "pregnant", _("Pregnant (from the fourth month)")
    CHRONIC_DISEASE = (
        "chronic_disease",
        _("Chronic disease (lung, heart, stroke, kidney, diabetes, cancer treatment)"),
    )
    IMMUNOCOMPROMISED = "immunocompromised", _("Thalassaemia or a weakened immune system")
    SEVERE_OBESITY = "severe_obesity", _("Severe obesity (over 100 kg or BMI 35 or more)")
    CEREBRAL_PALSY = "cerebral_palsy", _("Cerebral palsy")


# Groups that follow from the date of birth; a patient cannot declare them.
AGE_RISK_GROUPS = frozenset({RiskGroup.AGED_65_PLUS, RiskGroup.YOUNG_CHILD})
DECLARED_RISK_GROUPS = frozenset(RiskGroup) - AGE_RISK_GROUPS


class VaccinationDrive(models.Model):
    """A campaign that opens many vaccination slots across centres at one release time."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        # Slots exist; patients see and book them from `release_at`.
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    name_th = models.CharField(_("name (Thai)"), max_length=150)
    name_en = models.CharField(_("name (English)"), max_length=150, blank=True)
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="drives",
        limit_choices_to={"kind": Service.Kind.VACCINATION},
        verbose_name=_("vaccine"),
    )
    centres = models.ManyToManyField(
        HealthCentre, related_name="drives", verbose_name=_("health centres")
    )
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    weekdays = models.CharField(
        _("weekdays"),
        max_length=7,
        default="1234567",
        validators=[weekdays_validator],
        help_text=_("ISO weekday digits: 1 = Monday … 7 = Sunday, e.g. 123456."),
    )
    slot_minutes = models.PositiveSmallIntegerField(
        _("slot length (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
    )
    capacity_per_slot = models.PositiveSmallIntegerField(
        _("people per slot"), validators=[MinValueValidator(1), MaxValueValidator(500)]
    )
    release_at = models.DateTimeField(
        _("opens for booking at"),
        help_text=_("Before this time the drive's slots can be neither seen nor booked."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # Who may book: every rule that is set must hold on the vaccination day.
    min_age_months = models.PositiveSmallIntegerField(
        _("youngest age (months)"), null=True, blank=True
    )
    max_age_months = models.PositiveSmallIntegerField(
        _("oldest age (months)"),
        null=True,
        blank=True,
        help_text=_("Up to the day before this age: 780 months lets in people under 65."),
    )
    sexes = models.JSONField(
        _("sexes"), default=list, blank=True, help_text=_("Empty lets in everyone.")
    )
    risk_groups = models.JSONField(
        _("risk groups"),
        default=list,
        blank=True,
        help_text=_("Empty lets in everyone; otherwise the patient must be in one of them."),
    )
    districts = models.ManyToManyField(
        District,
        blank=True,
        related_name="+",
        verbose_name=_("home districts"),
        help_text=_("Empty lets in residents of every district."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    scheduled_at = models.DateTimeField(_("slots made at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["-first_day", "pk"]
        verbose_name = _("vaccination drive")
        verbose_name_plural = _("vaccination drives")
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")), name="drive_ends_after_it_starts"
            ),
            models.CheckConstraint(
                condition=Q(min_age_months__isnull=True)
                | Q(max_age_months__isnull=True)
                | Q(max_age_months__gt=F("min_age_months")),
                name="drive_age_range_in_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return in_language(self.name_th, self.name_en)

    @property
    def iso_weekdays(self) -> set[int]:
        return {int(digit) for digit in self.weekdays}


class DriveSession(models.Model):
    """A daily session of a drive, cut into slots of the drive's length."""

    drive = models.ForeignKey(
        VaccinationDrive,
        on_delete=models.CASCADE,
        related_name="sessions",
        verbose_name=_("vaccination drive"),
    )
    start_time = models.TimeField(_("first slot starts"))
    end_time = models.TimeField(_("last slot ends by"))

    class Meta:
        ordering = ["drive", "start_time"]
        verbose_name = _("daily session")
        verbose_name_plural = _("daily sessions")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="drive_session_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.start_time:%H:%M}-{self.end_time:%H:%M}"


class VaccineLot(models.Model):
    """Doses of one vaccine lot held at a centre. A dose is used when it is given."""

    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.PROTECT,
        db_index=False,  # one_row_per_lot_and_centre
        related_name="vaccine_lots",
        verbose_name=_("health centre"),
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="lots",
        limit_choices_to={"kind": Service.Kind.VACCINATION},
        verbose_name=_("vaccine"),
    )
    lot_number = models.CharField(_("lot number"), max_length=40)
    expires_on = models.DateField(_("expires on"))
    doses_received = models.PositiveIntegerField(_("doses received"))
    doses_used = models.PositiveIntegerField(_("doses given"), default=0)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawal_reason = models.CharField(_("reason withdrawn"), max_length=200, blank=True)

    class Meta:
        ordering = ["centre", "service", "expires_on", "pk"]
        verbose_name = _("vaccine lot")
        verbose_name_plural = _("vaccine stock")
        constraints = [
            models.CheckConstraint(
                condition=Q(doses_used__lte=F("doses_received")),
                name="lot_never_gives_more_than_received",
            ),
            models.UniqueConstraint(
                fields=["centre", "service", "lot_number"], name="one_row_per_lot_and_centre"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} · {self.lot_number} · {self.centre}"

    @property
    def doses_left(self) -> int:
        return self.doses_received - self.doses_used


class VaccinationSeries(models.Model):
    """A patient's course of one vaccine, from the first dose to the last.

    Each of its appointments is one dose. A patient has at most one course of a vaccine under
    way, and (see Appointment) at most one booking for each dose of it."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Under way")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    patient = models.ForeignKey(
        "booking.Patient",
        on_delete=models.PROTECT,
        related_name="vaccination_series",
        verbose_name=_("patient"),
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="+", verbose_name=_("vaccine")
    )
    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("started at"),
        help_text=_("Doses for the rest of the course are kept in stock here."),
    )
    doses_in_series = models.PositiveSmallIntegerField(_("doses in the course"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["patient", "-created_at"]
        verbose_name = _("vaccination course")
        verbose_name_plural = _("vaccination courses")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "service"],
                condition=Q(status="active"),
                name="one_course_under_way_per_vaccine",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.service}"


class IssuedRecord(models.Model):
    """A vaccination record issued for showing: the QR code on it names this row, signed.

    The row holds no dose: only a digest of the doses given when it was issued, so that a
    check tells a current record from one the person's doses have moved past. Withdrawing it
    (the person, or erasing their data) stops it verifying."""

    patient = models.ForeignKey(
        "booking.Patient",
        on_delete=models.CASCADE,
        related_name="issued_records",
        verbose_name=_("patient"),
    )
    digest = models.CharField(_("digest of the doses"), max_length=64)
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        ordering = ["patient", "-issued_at"]
        verbose_name = _("issued vaccination record")
        verbose_name_plural = _("issued vaccination records")

    def __str__(self) -> str:
        return f"{self.patient} · {self.issued_at:%Y-%m-%d}"
