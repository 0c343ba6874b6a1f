"""Consultation rooms: one per video appointment, found by an unguessable code."""

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment


def new_room_code() -> str:
    return secrets.token_urlsafe(18)  # 144 bits: a room address cannot be guessed


class ConsultationRoom(models.Model):
    """Where a video appointment takes place: the lobby the patient waits in, and the call."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="room", verbose_name=_("appointment")
    )
    code = models.CharField(_("room code"), max_length=32, unique=True, default=new_room_code)
    # The patient is in the lobby (connected, not yet let in) since this time.
    patient_waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    admitted_at = models.DateTimeField(_("let in at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consultation room")
        verbose_name_plural = _("consultation rooms")
        indexes = [
            models.Index(fields=["patient_waiting_since"], name="room_waiting_since"),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_id} · {self.code[:6]}…"
