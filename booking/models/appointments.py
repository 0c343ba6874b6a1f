from typing import TypeAlias

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from clinics.models import District, HealthCentre, ScheduleTemplate, Service, VisitMode
from clinics.models import Language as SpokenLanguage


class Patient(models.Model):
    """A person who receives care; managed by an account holder (themselves or a guardian)."""

    class Relationship(models.TextChoices):
        SELF = "self", _("Myself")
        CHILD = "child", _("My child")
        PARENT = "parent", _("My parent")
        SPOUSE = "spouse", _("My spouse")
        OTHER = "other", _("Someone in my care")

    class Sex(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")

    # Defined below booking, so that the outbox's messages offer the same choices.
    Language: TypeAlias = SpokenLanguage

    class IdentityCheck(models.TextChoices):
        """Who proved that this record is the person whose ID it holds."""

        THAID = "thaid", _("Signed in with ThaID")
        DESK = "desk", _("ID card seen at a health centre")
        PARTNER = "partner", _("Checked by a partner app")

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="patients",
        verbose_name=_("account"),
    )
    relationship = models.CharField(
        _("relationship to account holder"), max_length=10, choices=Relationship.choices
    )
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    phone = models.CharField(
        _("mobile phone"),
        max_length=16,
        blank=True,
        help_text=_("Stored as E.164, e.g. +66812345678."),
    )
    phone_verified_at = models.DateTimeField(
        _("phone proven at"),
        null=True,
        blank=True,
        help_text=_(
            "When a passcode texted to this number was entered. Texts about someone in an "
            "account holder's care go to their own phone only once it is proven."
        ),
    )
    national_id = models.CharField(_("Thai national ID"), max_length=13, blank=True)
    passport_number = models.CharField(_("passport number"), max_length=20, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.THAI
    )
    district = models.ForeignKey(
        District,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("home district"),
    )
    risk_groups = models.JSONField(
        _("risk groups"),
        default=list,
        blank=True,
        help_text=_("Declared by the patient, for vaccination drives that put them first."),
    )
    # Set once someone proved the person holds this ID; a verified record is never taken
    # over by an unverified claim to the same ID (booking.services.identity).
    identity_verified_at = models.DateTimeField(_("identity verified at"), null=True, blank=True)
    identity_verified_by = models.CharField(
        _("identity verified by"), max_length=10, choices=IdentityCheck.choices, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "id"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(relationship="self"),
                name="one_self_patient_per_account",
            ),
            models.UniqueConstraint(
                fields=["national_id"],
                condition=~Q(national_id=""),
                name="national_id_registered_once",
            ),
            models.CheckConstraint(
                condition=~Q(national_id="") | ~Q(passport_number=""),
                name="patient_has_national_id_or_passport",
            ),
            models.CheckConstraint(
                condition=Q(identity_verified_at__isnull=True, identity_verified_by="")
                | (Q(identity_verified_at__isnull=False) & ~Q(identity_verified_by="")),
                name="patient_identity_verified_says_how",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def identity_verified(self) -> bool:
        return self.identity_verified_at is not None

    @property
    def masked_national_id(self) -> str:
        """The national ID grouped as on the card, all but the last four digits hidden:
        x-xxxx-xxxx5-67-8."""
        if len(self.national_id) != 13:
            return ""
        digits = self.national_id
        return f"x-xxxx-xxxx{digits[9]}-{digits[10:12]}-{digits[12]}"


class Slot(models.Model):
    """A bookable time at a centre for a service, holding up to `capacity` people."""

    # Booking a place writes every index of its slot, so a foreign key that leads one of the
    # indexes below has no index of its own (tests/config/test_indexes.py).
    centre = models.ForeignKey(
        HealthCentre,
        on_delete=models.PROTECT,
        db_index=False,  # slot_centre_start
        related_name="slots",
        verbose_name=_("health centre"),
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        db_index=False,  # slot_service_start
        related_name="slots",
        verbose_name=_("service"),
    )
    template = models.ForeignKey(
        ScheduleTemplate,
        on_delete=models.PROTECT,
        db_index=False,  # one_slot_per_schedule_and_start
        null=True,
        blank=True,
        related_name="slots",
        verbose_name=_("weekly schedule"),
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("clinician"),
    )
    start = models.DateTimeField(_("starts"))
    end = models.DateTimeField(_("ends"))
    capacity = models.PositiveIntegerField(_("capacity"))
    booked = models.PositiveIntegerField(_("booked"), default=0)
    # Kept by the database. The open-slot index's condition reads this rather than `booked`, so
    # that taking a place, which changes `booked` alone, writes none of the slot's indexes (a
    # HOT update in PostgreSQL), but for the last place, which takes the slot out of that index.
    is_full = models.GeneratedField(
        expression=models.ExpressionWrapper(
            Q(booked__gte=F("capacity")), output_field=models.BooleanField()
        ),
        output_field=models.BooleanField(_("full")),
        db_persist=True,
    )
    closed = models.BooleanField(
        _("closed"),
        default=False,
        help_text=_("Closed slots keep their bookings but take no more."),
    )
    capacity_set_by_staff = models.BooleanField(
        _("capacity set by staff"),
        default=False,
        help_text=_("Schedule changes leave this slot's capacity as staff set it."),
    )
    drive = models.ForeignKey(
        "booking.VaccinationDrive",
        on_delete=models.PROTECT,
        db_index=False,  # one_slot_per_drive_centre_and_start
        null=True,
        blank=True,
        related_name="slots",
        verbose_name=_("vaccination drive"),
    )
    # Hidden from patients, and not bookable, before this time (a drive's release time).
    opens_at = models.DateTimeField(_("opens for booking at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "centre"]
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        constraints = [
            models.CheckConstraint(
                condition=Q(booked__lte=F("capacity")), name="slot_never_booked_past_capacity"
            ),
            models.CheckConstraint(condition=Q(booked__gte=0), name="slot_booked_not_negative"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_ends_after_start"),
            models.UniqueConstraint(
                fields=["template", "start"],
                condition=Q(template__isnull=False),
                name="one_slot_per_schedule_and_start",
            ),
            models.UniqueConstraint(
                fields=["drive", "centre", "start"],
                condition=Q(drive__isnull=False),
                name="one_slot_per_drive_centre_and_start",
            ),
            models.CheckConstraint(
                condition=Q(drive__isnull=True) | Q(template__isnull=True),
                name="slot_from_schedule_or_drive",
            ),
        ]
        indexes = [
            models.Index(fields=["service", "start"], name="slot_service_start"),
            models.Index(fields=["centre", "start"], name="slot_centre_start"),
            # Finding a place: only the open slots, in the order booking takes them. With
            # opens_at, a search counts the open slots from the index alone (PostgreSQL).
            models.Index(
                fields=["service", "centre", "start", "id"],
                include=["opens_at"],
                condition=Q(closed=False, is_full=False),
                name="slot_open_by_centre",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.centre} · {self.service} · {self.start:%Y-%m-%d %H:%M}"

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)


class Appointment(models.Model):
    """A patient's place in a slot, from booking to the end of the visit."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Checked in")
        IN_CONSULTATION = "in_consultation", _("In consultation")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("Did not attend")

    class Channel(models.TextChoices):
        WEB = "web", _("Web")
        API = "api", _("API")
        STAFF = "staff", _("Staff")

    # Statuses of a visit that has not happened yet: these may not overlap for one patient.
    UPCOMING = (Status.BOOKED, Status.CHECKED_IN, Status.IN_CONSULTATION)
    # A vaccine dose in one of these is booked or given: its course has it.
    HELD_OR_GIVEN = (*UPCOMING, Status.COMPLETED)

    # As for the slot, each booking writes every index: patient and slot lead indexes below.
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        db_index=False,  # appointment_patient_status
        related_name="appointments",
        verbose_name=_("patient"),
    )
    slot = models.ForeignKey(
        Slot,
        on_delete=models.PROTECT,
        db_index=False,  # appointment_slot_status
        related_name="appointments",
        verbose_name=_("slot"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.BOOKED
    )
    visit_mode = models.CharField(_("visit mode"), max_length=20, choices=VisitMode.choices)
    channel = models.CharField(_("booked through"), max_length=10, choices=Channel.choices)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("booked by"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True)
    # Raised on every reschedule, so calendar files replace the earlier version.
    sequence = models.PositiveIntegerField(_("revision"), default=0)
    cancellation_reason = models.CharField(_("cancellation reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # The patient said they will come (through the link or a reply to a text message).
    confirmed_at = models.DateTimeField(_("attendance confirmed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    # Vaccinations: the course this dose belongs to, which dose it is, and the lot it came from.
    series = models.ForeignKey(
        "booking.VaccinationSeries",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("vaccination course"),
    )
    dose_number = models.PositiveSmallIntegerField(_("dose"), null=True, blank=True)
    lot = models.ForeignKey(
        "booking.VaccineLot",
        on_delete=models.PROTECT,
        db_index=False,  # appointment_lot, of the appointments given a lot
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vaccine lot given"),
    )
    # Booked through a partner's API key: the partner may read and cancel it.
    partner = models.ForeignKey(
        "booking.Partner",
        on_delete=models.PROTECT,
        db_index=False,  # appointment_partner, of the appointments booked through one
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("booked through partner"),
    )

    class Meta:
        ordering = ["slot__start", "id"]
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "slot"],
                condition=~Q(status="cancelled"),
                name="one_place_per_patient_and_slot",
            ),
            models.UniqueConstraint(
                fields=["booked_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="idempotency_key_used_once",
            ),
            # No patient holds two bookings for the same dose of the same vaccine.
            models.UniqueConstraint(
                fields=["series", "dose_number"],
                condition=Q(
                    series__isnull=False,
                    status__in=["booked", "checked_in", "in_consultation", "completed"],
                ),
                name="one_booking_per_dose",
            ),
            models.CheckConstraint(
                condition=Q(series__isnull=True, dose_number__isnull=True)
                | Q(series__isnull=False, dose_number__gte=1),
                name="a_dose_belongs_to_a_course",
            ),
        ]
        indexes = [
            models.Index(fields=["slot", "status"], name="appointment_slot_status"),
            models.Index(fields=["patient", "status"], name="appointment_patient_status"),
            # Most bookings come through neither a partner nor yet a lot: their rows stay out.
            models.Index(
                fields=["partner"],
                condition=Q(partner__isnull=False),
                name="appointment_partner",
            ),
            models.Index(fields=["lot"], condition=Q(lot__isnull=False), name="appointment_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} · {self.slot}"


class SignInCode(models.Model):
    """A one-time passcode sent by text message to sign in with a phone number.

    Only a keyed hash of the code is kept. Every request is recorded, whether or not the phone
    has an account, so that limits per phone and per address can be counted here.
    """

    class Purpose(models.TextChoices):
        SIGN_IN = "sign_in", _("Signing in or opening an account")
        PROVE_PHONE = "prove_phone", _("Proving the phone of someone in one's care")
        CHANGE_PHONE = "change_phone", _("Changing an account's sign-in phone")

    phone = models.CharField(_("phone"), max_length=16)
    # The phone without its last four digits: its block of 10,000 numbers, limited per hour.
    phone_prefix = models.CharField(_("number block"), max_length=12, blank=True)
    purpose = models.CharField(
        _("purpose"), max_length=12, choices=Purpose.choices, default=Purpose.SIGN_IN
    )
    # The account that asked to prove or move to the phone: its code proves nothing for another.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account"),
    )
    code_hash = models.CharField(max_length=64)
    requested_from = models.GenericIPAddressField(_("requested from"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"))
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("sign-in passcode")
        verbose_name_plural = _("sign-in passcodes")
        indexes = [
            models.Index(fields=["phone", "created_at"], name="signin_code_phone"),
            models.Index(fields=["requested_from", "created_at"], name="signin_code_address"),
            models.Index(fields=["phone_prefix", "created_at"], name="signin_code_prefix"),
            models.Index(fields=["created_at"], name="signin_code_created"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} · {self.created_at:%Y-%m-%d %H:%M}"
