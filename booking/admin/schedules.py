"""Admin for centres, services and what makes slots: weekly schedules, closures, holidays and
the slots themselves. Every change goes through the same services as the API, so the same rules
hold (capacity, cut-offs, closures reported); rule breaks show on the form, not as errors."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from booking.models import Slot
from booking.services.schedules import (
    ScheduleFields,
    add_closure,
    create_schedule_template,
    remove_closure,
    resync_days,
    update_schedule_template,
    validate_closure,
    validate_schedule_template,
)
from booking.services.slots import SlotSyncResult, set_slot_capacity, sync_slots
from clinics.admin import CentreScopedAdmin, CityAdminOnly
from clinics.models import (
    Closure,
    HealthCentre,
    PublicHoliday,
    ScheduleTemplate,
    Service,
    ServiceDose,
)
from clinics.permissions import StaffAction, is_city_admin, signed_in_user
from clinics.refusals import refusal_caught, refusal_flashed


def report_slot_changes(request: HttpRequest, result: SlotSyncResult) -> None:
    messages.info(
        request,
        _(
            "Slots: %(created)d created, %(resized)d resized, %(removed)d removed, "
            "%(closed)d closed."
        )
        % {
            "created": result.created,
            "resized": result.resized,
            "removed": result.removed,
            "closed": result.closed,
        },
    )
    if result.affected_appointment_ids:
        messages.warning(
            request,
            _("%(count)d booked appointments are in closed slots: please move or cancel them.")
            % {"count": len(result.affected_appointment_ids)},
        )


# --- Centres and services -----------------------------------------------------------------------


class ServiceDoseInline(admin.TabularInline[ServiceDose, Service]):
    model = ServiceDose
    extra = 0


@admin.register(Service)
class ServiceAdmin(CityAdminOnly):
    list_display = ["code", "name_th", "name_en", "kind", "visit_mode", "is_active"]
    list_filter = ["kind", "visit_mode", "is_active"]
    search_fields = ["code", "name_th", "name_en"]
    inlines = [ServiceDoseInline]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            # Withdrawn: free slots go, booked ones close and are reported; or they come back.
            centres = obj.centres.values_list("number", flat=True)
            report_slot_changes(request, sync_slots(centre_ids=list(centres)))


@admin.register(HealthCentre)
class HealthCentreAdmin(CentreScopedAdmin):
    centre_path = "number"
    change_action = StaffAction.MANAGE_STAFF
    list_display = ["number", "name_th", "name_en", "district", "is_active"]
    list_filter = ["district__zone_group_th", "is_active"]
    search_fields = ["name_th", "name_en", "short_name_th", "number"]
    filter_horizontal = ["services"]
    list_select_related = ["district"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # What patients read of a centre has one home where changes are checked and audited: the
    # staff page /staff/centres/<n>/about and its API (clinics.services.update_centre_facts).
    FACTS = ["address_th", "address_en", "postcode", "phone", "opening_hours"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # The number is the centre's key: changing it would overwrite another centre.
        return ["number", *self.FACTS] if obj else []

    def _centre_of(self, obj: Model) -> int | None:
        number: int | None = obj.pk
        return number

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_city_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if {"services", "is_active"} & set(form.changed_data):
            report_slot_changes(request, sync_slots(centre_ids=[form.instance.number]))


# --- Schedules, closures, holidays --------------------------------------------------------------


class ScheduleTemplateForm(forms.ModelForm[ScheduleTemplate]):
    weekdays = forms.MultipleChoiceField(
        label=_("weekdays"),
        choices=[
            ("1", _("Monday")),
            ("2", _("Tuesday")),
            ("3", _("Wednesday")),
            ("4", _("Thursday")),
            ("5", _("Friday")),
            ("6", _("Saturday")),
            ("7", _("Sunday")),
        ],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ScheduleTemplate
        fields = [
            "centre",
            "service",
            "clinician",
            "weekdays",
            "start_time",
            "end_time",
            "slot_minutes",
            "capacity",
            "valid_from",
            "valid_until",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["weekdays"] = list(self.instance.weekdays)

    def clean_weekdays(self) -> str:
        return "".join(sorted(self.cleaned_data["weekdays"]))

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # copies the cleaned data onto the instance
        if not self.errors and self.instance.is_active:
            with refusal_caught() as refused:
                validate_schedule_template(self.instance)
            if refused:
                refused.add_to(self)

    def schedule_fields(self) -> ScheduleFields:
        template = self.instance
        return ScheduleFields(
            service=template.service,
            clinician=template.clinician,
            weekdays=template.weekdays,
            start_time=template.start_time,
            end_time=template.end_time,
            slot_minutes=template.slot_minutes,
            capacity=template.capacity,
            valid_from=template.valid_from,
            valid_until=template.valid_until,
            is_active=template.is_active,
        )


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(CentreScopedAdmin):
    form = ScheduleTemplateForm
    view_action = StaffAction.MANAGE_SCHEDULE
    list_display = [
        "centre",
        "service",
        "weekdays",
        "start_time",
        "end_time",
        "slot_minutes",
        "capacity",
        "is_active",
    ]
    list_filter = ["service", "is_active"]
    list_select_related = ["centre", "service"]
    search_fields = ["centre__name_th", "centre__name_en"]
    raw_id_fields = ["clinician"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # Booked slots belong to the centre and service: end the schedule and add another.
        return ["centre", "service"] if obj else []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            change_made = update_schedule_template(template=obj, fields=form.schedule_fields())
        else:
            change_made = create_schedule_template(centre=obj.centre, fields=form.schedule_fields())
            obj.pk = change_made.template.pk
        report_slot_changes(request, change_made.slots)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # untick "active" instead, so booked slots are looked after


class ClosureForm(forms.ModelForm[Closure]):
    class Meta:
        model = Closure
        fields = ["centre", "start_date", "end_date", "reason_th", "reason_en"]

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if not self.errors and not self.instance.pk:
            with refusal_caught() as refused:
                validate_closure(self.instance)
            if refused:
                refused.add_to(self)


@admin.register(Closure)
class ClosureAdmin(CentreScopedAdmin):
    form = ClosureForm
    list_display = ["__str__", "start_date", "end_date", "reason_th"]
    list_filter = ["centre"]
    date_hierarchy = "start_date"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = admin.ModelAdmin.get_queryset(self, request).select_related("centre")
        centres = self._centres(request, self.view_action)
        if centres is None:
            return queryset
        return queryset.filter(Q(centre__in=centres) | Q(centre__isnull=True))

    def _may(self, request: HttpRequest, action: StaffAction, obj: Model | None) -> bool:
        city_wide = obj is not None and getattr(obj, "centre_id", None) is None
        if city_wide and action != self.view_action:
            return is_city_admin(request.user)
        return super()._may(request, action, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # A closure is entered or lifted, not moved: its slots follow its days.
        return ["centre", "start_date", "end_date"] if obj else []

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        centre_field = form.base_fields.get("centre")
        if centre_field is not None:
            # Only city administrators may leave the centre empty (close every centre).
            centre_field.required = not is_city_admin(request.user)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["reason_th", "reason_en"])
            return
        added = add_closure(
            centre=obj.centre,
            start_date=obj.start_date,
            end_date=obj.end_date,
            reason_th=obj.reason_th,
            reason_en=obj.reason_en,
            created_by=signed_in_user(request),
        )
        obj.pk = added.closure.pk
        report_slot_changes(request, added.slots)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        report_slot_changes(request, remove_closure(closure=obj))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for closure in queryset:
            self.delete_model(request, closure)


@admin.register(PublicHoliday)
class PublicHolidayAdmin(CityAdminOnly):
    list_display = ["date", "name_th", "name_en", "closes_centres", "source"]
    list_filter = ["closes_centres", "source"]
    date_hierarchy = "date"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        days = {obj.date, form.initial.get("date", obj.date)}  # a moved holiday frees its old day
        for day in sorted(days):
            report_slot_changes(request, resync_days(centre=None, start_date=day, end_date=day))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        day = obj.date
        super().delete_model(request, obj)
        report_slot_changes(request, resync_days(centre=None, start_date=day, end_date=day))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for holiday in queryset:
            self.delete_model(request, holiday)


# --- Slots --------------------------------------------------------------------------------------


class SlotForm(forms.ModelForm[Slot]):
    class Meta:
        model = Slot
        fields = ["capacity"]

    def clean_capacity(self) -> int:
        capacity: int = self.cleaned_data["capacity"]
        if capacity < self.instance.booked:
            raise forms.ValidationError(
                _("%(booked)d people are booked: the capacity cannot be lower.")
                % {"booked": self.instance.booked}
            )
        return capacity


@admin.register(Slot)
class SlotAdmin(CentreScopedAdmin):
    form = SlotForm
    list_display = ["start", "centre", "service", "capacity", "booked", "closed"]
    list_filter = ["service", "closed"]
    list_select_related = ["centre", "service"]
    date_hierarchy = "start"
    fields = ["centre", "service", "start", "end", "capacity", "booked", "closed"]
    readonly_fields = ["centre", "service", "start", "end", "booked", "closed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # slots come from weekly schedules

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Refused if someone booked between the form check and the save.
        with refusal_flashed(request):
            set_slot_capacity(slot=obj, capacity=obj.capacity)
