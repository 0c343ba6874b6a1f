"""Admin for drives, stock, courses and the waitlist. Changes go through the same services as
the API: a drive is released or called off with an action, a delivery is recorded as a lot,
and a lot is withdrawn with an action, so the stock rules hold here too."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import (
    DriveSession,
    VaccinationDrive,
    VaccinationSeries,
    VaccineLot,
    WaitlistEntry,
    WaitlistOffer,
)
from booking.vaccination.drives import cancel_drive, release_drive
from booking.vaccination.stock import receive_lot, withdraw_lot
from clinics.admin import AuditedReads, CentreScopedAdmin, CityAdminOnly
from clinics.permissions import StaffAction, is_city_admin
from clinics.refusals import refusal_caught


class ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class DriveSessionInline(admin.TabularInline[DriveSession, VaccinationDrive]):
    model = DriveSession
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(VaccinationDrive)
class VaccinationDriveAdmin(CityAdminOnly, ReadOnly):
    """Drives are planned through the API (POST /staff/drives, preview, release); here city
    administrators see them and release or call them off."""

    list_display = ["name", "service", "first_day", "last_day", "release_at", "status"]
    list_filter = ["status", "service"]
    search_fields = ["name_th", "name_en"]
    filter_horizontal = ["centres", "districts"]
    inlines = [DriveSessionInline]
    actions = ["release_now", "call_off"]

    @admin.action(description=_("Release now"))
    def release_now(self, request: HttpRequest, queryset: QuerySet[VaccinationDrive]) -> None:
        if not is_city_admin(request.user):
            messages.error(request, _("Only city administrators release drives here."))
            return
        for drive in queryset:
            with refusal_caught() as refused:
                released = release_drive(drive=drive, at=None)
            if refused:
                messages.error(request, f"{drive}: {refused.message}")
                continue
            messages.success(
                request,
                _("%(drive)s: %(slots)d slots made, open for booking.")
                % {"drive": drive, "slots": released.slots_created},
            )

    @admin.action(description=_("Call off (booked appointments are kept and listed)"))
    def call_off(self, request: HttpRequest, queryset: QuerySet[VaccinationDrive]) -> None:
        if not is_city_admin(request.user):
            messages.error(request, _("Only city administrators call off drives here."))
            return
        for drive in queryset:
            cancelled = cancel_drive(drive=drive)
            messages.warning(
                request,
                _("%(drive)s called off: %(count)d booked appointments to move or cancel.")
                % {"drive": drive, "count": len(cancelled.affected)},
            )


class VaccineLotForm(forms.ModelForm[VaccineLot]):
    class Meta:
        model = VaccineLot
        fields = ["centre", "service", "lot_number", "expires_on", "doses_received"]

    def clean(self) -> dict[str, Any]:
        """The same rules as receive_lot, shown on the form."""
        data = super().clean() or {}
        expires_on = data.get("expires_on")
        if (
            self.instance.pk is None
            and expires_on is not None
            and expires_on < timezone.localdate()
        ):
            self.add_error("expires_on", _("This lot has already expired."))
        if data.get("doses_received") is not None and data["doses_received"] < 1:
            self.add_error("doses_received", _("Give the number of doses delivered, 1 or more."))
        return data


@admin.register(VaccineLot)
class VaccineLotAdmin(CentreScopedAdmin):
    form = VaccineLotForm
    change_action = StaffAction.MANAGE_STOCK
    list_display = [
        "lot_number",
        "service",
        "centre",
        "expires_on",
        "doses_received",
        "doses_used",
        "withdrawn_at",
    ]
    list_filter = ["service", "centre"]
    search_fields = ["lot_number"]
    actions = ["withdraw"]
    fields = ["centre", "service", "lot_number", "expires_on", "doses_received"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return []
        return [*self.fields, "doses_used", "withdrawn_at", "withdrawal_reason"]

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return self.fields
        return [*self.fields, "doses_used", "withdrawn_at", "withdrawal_reason"]

    def save_model(self, request: HttpRequest, obj: VaccineLot, form: Any, change: bool) -> None:
        if change:
            return  # lots are changed only by giving doses and withdrawing
        lot = receive_lot(
            centre=obj.centre,
            service=obj.service,
            lot_number=obj.lot_number,
            expires_on=obj.expires_on,
            doses=obj.doses_received,
        )
        obj.pk = lot.pk

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description=_("Withdraw (stop offering places it cannot cover)"))
    def withdraw(self, request: HttpRequest, queryset: QuerySet[VaccineLot]) -> None:
        for lot in queryset:
            if not self._may(request, StaffAction.MANAGE_STOCK, lot):
                messages.error(request, _("Not allowed at this centre: %s") % lot)
                continue
            withdrawn = withdraw_lot(lot=lot, reason=str(_("Withdrawn in the admin")))
            messages.warning(
                request,
                _(
                    "%(lot)s withdrawn: %(closed)d free places closed; %(shortfall)d booked "
                    "appointments to move or cancel."
                )
                % {
                    "lot": lot,
                    "closed": withdrawn.places_closed,
                    "shortfall": withdrawn.shortfall,
                },
            )


@admin.register(VaccinationSeries)
class VaccinationSeriesAdmin(AuditedReads, CentreScopedAdmin, ReadOnly):
    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        return [(series.centre_id, series.patient_id) for series in objects]

    list_display = ["patient", "service", "centre", "doses_in_series", "status", "created_at"]
    list_filter = ["status", "service"]
    list_select_related = ["patient", "service", "centre"]
    search_fields = ["patient__first_name", "patient__last_name"]


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(AuditedReads, ReadOnly):
    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        return [(None, entry.patient_id) for entry in objects]

    list_display = ["patient", "service", "date_from", "date_to", "priority", "status", "joined_at"]
    list_filter = ["status", "priority", "service"]
    list_select_related = ["patient", "service"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_city_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_city_admin(request.user)


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(AuditedReads, ReadOnly):
    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        return [(offer.slot.centre_id, offer.entry.patient_id) for offer in objects]

    list_display = ["entry", "slot", "status", "offered_at", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["entry__patient", "entry__service", "slot__centre", "slot__service"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_city_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_city_admin(request.user)
