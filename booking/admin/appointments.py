"""Admin for what the booking engine writes about people: patients and appointments. Every
change goes through the same services as the API, so the same rules hold; an appointment's
steps are the staff steps' table (booking.services.staff_steps)."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient
from booking.services.patients import PersonDetails, update_patient, validated_person
from booking.services.staff_steps import STEPS, StaffStep, take_step
from clinics.admin import AuditedReads, CentreScopedAdmin
from clinics.permissions import StaffAction
from clinics.refusals import refusal_caught, refusal_flashed

# --- Patients and appointments ------------------------------------------------------------------


class PatientForm(forms.ModelForm[Patient]):
    class Meta:
        model = Patient
        fields = ["first_name", "last_name", "phone", "preferred_language", "district"]

    def person(self) -> PersonDetails:
        patient = self.instance
        return PersonDetails(
            first_name=patient.first_name,
            last_name=patient.last_name,
            date_of_birth=patient.date_of_birth,
            sex=Patient.Sex(patient.sex),
            phone=patient.phone,
            national_id=patient.national_id,
            passport_number=patient.passport_number,
            preferred_language=Patient.Language(patient.preferred_language),
            district=patient.district,
        )

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if not self.errors:
            with refusal_caught() as refused:
                validated_person(self.person())
            if refused:
                refused.add_to(self)


@admin.register(Patient)
class PatientAdmin(AuditedReads, CentreScopedAdmin):
    """Staff see patients with appointments at their centres; the national ID stays masked.
    Those who receive patients there may correct contact details, through update_patient."""

    form = PatientForm
    centre_path = "appointments__slot__centre"
    change_action = StaffAction.RECEIVE_PATIENTS
    list_display = ["full_name", "date_of_birth", "sex", "phone", "masked_national_id"]
    search_fields = ["first_name", "last_name", "phone"]
    fields = [
        "first_name",
        "last_name",
        "date_of_birth",
        "sex",
        "phone",
        "masked_national_id",
        "preferred_language",
        "district",
        "relationship",
    ]
    readonly_fields = ["masked_national_id", "relationship", "date_of_birth", "sex"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).distinct()

    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        seen: list[tuple[int | None, int]] = list(
            Appointment.objects.filter(patient__in=objects)
            .values_list("slot__centre_id", "patient_id")
            .distinct()
            .order_by()
        )
        with_centre = {patient_id for _centre, patient_id in seen}
        # Someone with no appointment anywhere (only city admins see them): a city-wide read.
        return seen + [(None, each.pk) for each in objects if each.pk not in with_centre]

    def _may(self, request: HttpRequest, action: StaffAction, obj: Model | None) -> bool:
        if obj is None:
            return super()._may(request, action, None)
        centres = self._centres(request, action)
        if centres is None:
            return True
        return Appointment.objects.filter(patient_id=obj.pk, slot__centre__in=centres).exists()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Staff who see the person may move their sign-in phone: the remedy the patient's own
        # pages name when they cannot. Refused e.g. if the new phone signs in another account.
        with refusal_flashed(request):
            update_patient(
                patient=Patient.objects.get(pk=obj.pk),
                person=form.person(),
                sign_in_phone_proven=True,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # patients register themselves, or are added by their guardian

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _appointment_action(
    step: StaffStep,
) -> Callable[[admin.ModelAdmin[Appointment], HttpRequest, QuerySet[Appointment]], None]:
    """The admin's action for a step of booking.services.staff_steps, on each appointment
    chosen at a centre where the user may take it."""

    def run(
        model_admin: admin.ModelAdmin[Appointment], request: HttpRequest, queryset: QuerySet[Any]
    ) -> None:
        done = 0
        for appointment in queryset.select_related("slot"):
            if not model_admin._may(request, step.needs, appointment):  # type: ignore[attr-defined]
                messages.error(request, _("Not allowed at this centre: %s") % appointment)
                continue
            with refusal_caught() as refused:
                take_step(step, appointment=appointment, **step.admin_options)
                done += 1
            if refused:
                messages.error(request, f"{appointment}: {refused.message}")
        if done:
            messages.success(request, _("%(count)d appointments updated.") % {"count": done})

    run.__name__ = f"action_{step.take.__name__}"
    run.short_description = step.admin_label  # type: ignore[attr-defined]
    return run


@admin.register(Appointment)
class AppointmentAdmin(AuditedReads, CentreScopedAdmin):
    centre_path = "slot__centre"

    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        return [(appointment.slot.centre_id, appointment.patient_id) for appointment in objects]

    list_display = ["slot_start", "patient", "service", "centre", "status", "visit_mode", "channel"]
    list_filter = ["status", "visit_mode", "channel", "slot__service"]
    list_select_related = ["patient", "slot__centre", "slot__service"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone"]
    date_hierarchy = "slot__start"
    readonly_fields = [
        "patient",
        "slot",
        "status",
        "visit_mode",
        "channel",
        "booked_by",
        "sequence",
        "created_at",
        "checked_in_at",
        "completed_at",
        "cancelled_at",
        "cancellation_reason",
    ]
    exclude = ["idempotency_key"]
    actions = [_appointment_action(step) for step in STEPS.values() if step.admin_label]

    @admin.display(description=_("time"), ordering="slot__start")
    def slot_start(self, appointment: Appointment) -> Any:
        return appointment.slot.start

    @admin.display(description=_("service"))
    def service(self, appointment: Appointment) -> Any:
        return appointment.slot.service

    @admin.display(description=_("health centre"))
    def centre(self, appointment: Appointment) -> Any:
        return appointment.slot.centre

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # bookings go through the engine (API), which guards capacity

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may(request, self.view_action, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
