from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinics.models import Language


class Message(models.Model):
    """One text message to a person: the outbox row that a worker sends when it is due.

    It is written in the same transaction as the change that causes it, so a booking that
    rolls back sends nothing and one that commits is never forgotten.
    """

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", _("Booking confirmation")
        REMINDER = "reminder", _("Reminder")
        RESCHEDULED = "rescheduled", _("Rescheduled")
        CANCELLED = "cancelled", _("Cancellation")
        VIDEO_LINK = "video_link", _("Video visit link")
        WAITLIST_OFFER = "waitlist_offer", _("Waitlist offer")
        DRIVE_CHANGE = "drive_change", _("Vaccination drive change")
        PASSCODE = "passcode", _("Passcode")
        REPLY = "reply", _("Reply to a text message")
        ACCOUNT_NOTICE = "account_notice", _("Account security notice")
        RECORD_MOVED = "record_moved", _("A person's record moved to their verified account")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Encoding(models.TextChoices):
        GSM7 = "gsm7", "GSM-7"
        UCS2 = "ucs2", "UCS-2"

    recipient = models.CharField(_("to"), max_length=16, help_text=_("E.164, e.g. +66812345678."))
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    body = models.TextField(_("text"))
    encoding = models.CharField(_("encoding"), max_length=4, choices=Encoding.choices)
    segments = models.PositiveSmallIntegerField(_("SMS segments"))
    due_at = models.DateTimeField(_("due"))
    expires_at = models.DateTimeField(
        _("useless after"),
        null=True,
        blank=True,
        help_text=_("A message not sent by then is dropped."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    provider_id = models.CharField(_("provider's message id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error_code = models.CharField(_("error code"), max_length=20, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    # When a worker took the message for sending; a claim older than the lease is retried.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # Named, not imported: the outbox sits below the appointments its texts are about.
    appointment = models.ForeignKey(
        "booking.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("appointment"),
    )
    patient = models.ForeignKey(
        "booking.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("patient"),
    )
    reminder_minutes = models.PositiveIntegerField(
        _("minutes before the appointment"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("text message")
        verbose_name_plural = _("text messages")
        constraints = [
            models.CheckConstraint(condition=Q(segments__gte=1), name="message_has_a_segment"),
            models.UniqueConstraint(
                fields=["provider_id"],
                condition=~Q(provider_id=""),
                name="provider_message_id_unique",
            ),
        ]
        indexes = [
            # The dispatcher's claim: due rows waiting or stuck in sending, oldest first.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="message_to_send",
            ),
            # Passcodes, replies and account notices, claimed before anything else.
            models.Index(
                fields=["due_at"],
                condition=Q(
                    status__in=["pending", "sending"],
                    kind__in=["passcode", "reply", "account_notice"],
                ),
                name="message_urgent_to_send",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient}"


class OptOut(models.Model):
    """A phone number that asked for no more text messages (STOP), or that the provider
    reports as unsubscribed."""

    phone = models.CharField(_("phone"), max_length=16, primary_key=True)
    source = models.CharField(_("how"), max_length=100)
    created_at = models.DateTimeField(_("since"), auto_now_add=True)

    class Meta:
        verbose_name = _("opted-out number")
        verbose_name_plural = _("opted-out numbers")

    def __str__(self) -> str:
        return self.phone


class InboundMessage(models.Model):
    """A text message a person sent us, and what it did."""

    class Outcome(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed the next appointment")
        CANCELLED = "cancelled", _("Cancelled the next appointment")
        TOO_LATE = "too_late", _("Too late to cancel")
        NO_APPOINTMENT = "no_appointment", _("No appointment to act on")
        OPTED_OUT = "opted_out", _("Opted out")
        OPTED_IN = "opted_in", _("Opted back in")
        HELP = "help", _("Sent help")

    provider_id = models.CharField(_("provider's message id"), max_length=64, unique=True)
    sender = models.CharField(_("from"), max_length=32)
    body = models.TextField(_("text"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    appointment = models.ForeignKey(
        "booking.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("appointment"),
    )
    reply = models.ForeignKey(
        Message,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reply"),
    )
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("received text message")
        verbose_name_plural = _("received text messages")

    def __str__(self) -> str:
        return f"{self.sender}: {self.body[:30]}"
