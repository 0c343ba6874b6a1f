from django.utils.translation import gettext_lazy as _

from clinics.exceptions import DomainError


class BookingError(DomainError):
    code = "booking_error"
    status = 409


class SlotFull(BookingError):
    code = "slot_full"
    default_message = _("This time has just been fully booked. Please choose another time.")


class SlotClosed(BookingError):
    code = "slot_closed"
    default_message = _("This time is no longer offered. Please choose another time.")


class BookingClosed(BookingError):
    code = "booking_closed"
    default_message = _("Online booking for this time has closed. Please choose a later time.")


class CancellationClosed(BookingError):
    code = "cancellation_closed"
    default_message = _(
        "It is too late to change this appointment online. Please call the health centre."
    )


class AlreadyBooked(BookingError):
    code = "already_booked"
    default_message = _("This person already has a place at this time.")


class OverlappingAppointment(BookingError):
    code = "overlapping_appointment"
    default_message = _("This person already has another appointment at an overlapping time.")


class NoSlotAvailable(BookingError):
    code = "no_slot_available"
    default_message = _("No time is free for this service in the dates you chose.")


class IdempotencyKeyReused(BookingError):
    code = "idempotency_key_reused"
    status = 422
    default_message = _(
        "This Idempotency-Key was already used for a different request. "
        "Send a new key for a new booking."
    )


class InvalidStatusChange(BookingError):
    code = "invalid_status_change"
    default_message = _("This appointment cannot be changed in that way in its current state.")


class CapacityBelowBooked(BookingError):
    code = "capacity_below_booked"
    default_message = _("The capacity cannot be set below the number of people already booked.")


class ContactHealthCentre(BookingError):
    """A refusal about a person that only staff can resolve. It never says why (an ID already
    on file, details that do not match, a record in someone else's care), so that it tells
    nobody whether an ID is registered."""

    code = "contact_health_centre"
    default_message = _(
        "We cannot do this online for this person. Please contact a health centre and bring "
        "the person's ID card: staff there can sort it out."
    )


class AlreadyRegistered(ContactHealthCentre):
    """The ID is on file already: answered as any other refusal staff must resolve."""


class SignInFailed(DomainError):
    code = "sign_in_failed"
    status = 401
    default_message = _("The phone number or password is not right.")


class LinkInvalid(DomainError):
    code = "link_invalid"
    status = 404
    default_message = _(
        "This link does not open an appointment. Check that it was copied in full from the "
        "text message."
    )


class LinkExpired(DomainError):
    code = "link_expired"
    status = 410
    default_message = _(
        "This link has expired because the appointment is over. Sign in to see your appointments."
    )


class PasscodeWrong(DomainError):
    code = "passcode_wrong"
    status = 401
    default_message = _(
        "That passcode is wrong or has expired. Check the latest text message, or ask for a "
        "new code."
    )


class ThaidFailed(DomainError):
    code = "thaid_failed"
    status = 400
    default_message = _(
        "Signing in with ThaID did not work this time, and nothing was changed. Start again "
        "from the sign-in page, or sign in with a passcode texted to your phone."
    )


class ThaidNoNationalId(DomainError):
    code = "thaid_no_national_id"
    status = 400
    default_message = _(
        "ThaID did not share a valid national ID number, so we cannot know who you are. Allow "
        "ThaID to share your ID number and try again, or sign in with your phone."
    )


class NotRegistered(DomainError):
    code = "not_registered"
    status = 404
    default_message = _(
        "No account uses this phone number yet. Register with the same passcode to open one."
    )


# --- Vaccinations ------------------------------------------------------------------------------


class NotEligible(BookingError):
    code = "not_eligible"
    status = 422
    default_message = _("This person cannot book this vaccination drive.")


class DoseAlreadyBooked(BookingError):
    code = "dose_already_booked"
    default_message = _(
        "This person already has this dose of the vaccine booked. Move that appointment "
        "instead of booking another."
    )


class CourseAlreadyBooked(BookingError):
    code = "course_already_booked"
    default_message = _("Every dose of this vaccine is already booked or given for this person.")


class OutsideDoseInterval(BookingError):
    code = "outside_dose_interval"
    default_message = _("This dose cannot be given on that day: it is too soon or too late.")


class NoDoseInStock(BookingError):
    code = "no_dose_in_stock"
    default_message = _(
        "No usable dose of this vaccine is recorded at this centre. Record the delivery "
        "(or choose the lot used) before marking the dose as given."
    )


class InsufficientStock(BookingError):
    code = "insufficient_stock"
    default_message = _(
        "Some centres do not hold enough doses for the places this drive would open. Record "
        "deliveries, lower the places per slot or leave those centres out."
    )


class DriveNotDraft(BookingError):
    code = "drive_not_draft"
    default_message = _(
        "Slots for this drive have already been made, so it can no longer be changed. "
        "Cancel it and create a new one."
    )


class OnWaitlistAlready(BookingError):
    code = "on_waitlist_already"
    default_message = _(
        "This person is already on the waitlist for this service. Leave it first to change "
        "the days or centres."
    )


class OfferClosed(DomainError):
    code = "offer_closed"
    status = 410
    default_message = _(
        "This place is no longer held for you: the time to claim it has passed, or it was "
        "answered already. You can join the waitlist again."
    )


class InQueue(DomainError):
    code = "in_queue"
    status = 429

    def __init__(self, *, position: int, ahead: int, retry_after: int) -> None:
        super().__init__(
            _(
                "Many people are booking this vaccination drive right now. You are number "
                "%(position)d in line, with %(ahead)d people still ahead of you. Keep this page "
                "open: we let people in as fast as places can be booked."
            )
            % {"position": position, "ahead": ahead},
            position=position,
            ahead=ahead,
            retry_after=retry_after,
        )


class DriveFull(BookingError):
    code = "drive_full"
    default_message = _(
        "Every place in this vaccination drive has been taken. Join the waitlist to be "
        "offered a place that frees up."
    )


# --- Partner API keys --------------------------------------------------------------------------


class PartnerKeyMissing(DomainError):
    code = "partner_key_missing"
    status = 401
    default_message = _("Send your partner API key in the header: Authorization: Bearer <key>.")


class PartnerKeyInvalid(DomainError):
    code = "partner_key_invalid"
    status = 401
    default_message = _(
        "This API key is not valid: it was mistyped, revoked or has expired. Ask the city for "
        "a new key."
    )


class PartnerScopeMissing(DomainError):
    code = "partner_scope_missing"
    status = 403
    default_message = _("This API key may not do this.")


class PersonDoesNotMatch(ContactHealthCentre):
    """A partner named someone whose ID is on file with other details, or in another phone's
    household: answered as any other refusal staff must resolve, and nothing is changed.

    Why, and whose record, are kept for the audit trail only (`reason`, `patient_id`): never
    in the answer's detail, which would tell the partner an ID is on file."""

    def __init__(self, *, reason: str, patient_id: int | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.patient_id = patient_id


class TooManyActiveBookings(BookingError):
    code = "too_many_active_bookings"
    status = 409
    default_message = _(
        "This person already holds as many upcoming appointments as one person may. Cancel "
        "one they no longer need, or come to the health centre."
    )


class ConsentNeeded(DomainError):
    code = "consent_needed"
    status = 403
    default_message = _(
        "Before the first video visit, please accept the privacy notice and the consent to a "
        "video consultation on the visit's page."
    )


class BookingBlocked(DomainError):
    code = "booking_blocked"
    status = 403
    default_message = _(
        "This phone number cannot book online at the moment. Please call or visit your health "
        "centre."
    )


class DeletionPending(BookingError):
    code = "deletion_pending"
    default_message = _(
        "This person asked for their data to be erased. Withdraw that request under My "
        "appointments to book again."
    )


class PersonOnFile(BookingError):
    """The desk tried to register someone whose national ID (or passport and date of birth)
    is on file: `detail.patient_id` is the record to open instead. Said to staff only."""

    code = "person_on_file"
    default_message = _("This person is registered already. Open their record and book from there.")


class PhoneHasAccount(BookingError):
    """The desk gave a phone that signs in to an account already, and did not say to add the
    person to that account's household: `detail.account_holder_id` is its holder's record."""

    code = "phone_has_account"
    default_message = _(
        "This phone number already has an account. Search by the phone to see who is on it. "
        "Add the person to that household only if they and the account holder agree, or "
        "register them without a phone."
    )


# --- Walk-ins ----------------------------------------------------------------------------------


class AlreadyInQueue(BookingError):
    code = "already_in_queue"
    default_message = _("This person is already in today's queue at this centre.")


class InvalidWalkInStep(InvalidStatusChange):
    default_message = _("This walk-in cannot be changed in that way in its current state.")
