from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookingConfig(AppConfig):
    name = "booking"
    verbose_name = _("Patients and appointments")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from booking.models import Appointment
        from booking.notices import (
            ABOUT_THE_TIME,
            ANNOUNCEMENTS,
            appointment_still_on,
            reply_help,
            write_follow_ups,
        )
        from booking.services import sms_replies
        from booking.signed_in import connect_signals
        from booking.vaccination.waiting_room import note_appointment_saved
        from notifications.services.dispatch import (
            register_follow_ups,
            register_still_wanted_check,
        )
        from notifications.services.inbound import (
            register_help,
            register_reply_handler,
            register_sender_finder,
        )

        # A drive's places-left counter and its line move when bookings in it commit.
        post_save.connect(note_appointment_saved, sender=Appointment)
        # The lean route's cached accounts are read afresh after a change to them.
        connect_signals()
        # The outbox knows nothing of appointments: a text about one is dropped once the
        # appointment is off, and a reply of 1 or 2 confirms or cancels the next one.
        register_still_wanted_check(kinds=ABOUT_THE_TIME, check=appointment_still_on)
        # An appointment's reminders are written as its confirmation (or a move's notice) is
        # taken to be sent, rather than with the booking.
        register_follow_ups(kinds=ANNOUNCEMENTS, write=write_follow_ups)
        register_sender_finder(sms_replies.sender_of)
        register_reply_handler(words=sms_replies.CONFIRM_WORDS, handle=sms_replies.confirm_by_text)
        register_reply_handler(words=sms_replies.CANCEL_WORDS, handle=sms_replies.cancel_by_text)
        register_help(reply_help)
