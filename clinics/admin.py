"""Admin for districts and staff memberships, and the base classes of every admin here.
Staff see and change only their own centres' rows, by the same role rules as the API
(clinics.permissions). Centres, services, schedules, closures and holidays are registered in
booking/admin.py, because their changes must go through the booking engine."""

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from clinics.audit import record_read
from clinics.models import District, HealthCentre, StaffAuthenticator, StaffMembership
from clinics.permissions import StaffAction, centres_where


class CentreScopedAdmin(admin.ModelAdmin[Any]):
    """Rows belong to a centre through `centre_path`; staff act only where their role allows."""

    centre_path = "centre"
    view_action = StaffAction.VIEW_APPOINTMENTS
    change_action = StaffAction.MANAGE_SCHEDULE

    def _centres(self, request: HttpRequest, action: StaffAction) -> set[int] | None:
        return centres_where(request.user, action)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        centres = self._centres(request, self.view_action)
        if centres is None:
            return queryset
        return queryset.filter(**{f"{self.centre_path}__in": centres})

    def _may(self, request: HttpRequest, action: StaffAction, obj: Model | None) -> bool:
        centres = self._centres(request, action)
        if centres is None:
            return True
        if obj is None:
            return bool(centres)
        return self._centre_of(obj) in centres

    def _centre_of(self, obj: Model) -> int | None:
        value: Any = obj
        for part in self.centre_path.split("__"):
            value = getattr(value, part)
        return value.pk if value is not None else None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, self.view_action, None)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may(request, self.view_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may(request, self.change_action, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request, self.change_action, None)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._may(request, self.change_action, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "centre":
            centres = self._centres(request, self.change_action)
            if centres is not None:
                kwargs["queryset"] = HealthCentre.objects.filter(number__in=centres)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AuditedReads(admin.ModelAdmin[Any]):
    """Listing or opening patients' records in the admin is a read for the audit trail: one
    event per centre, naming the patients shown there."""

    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        """(centre, patient) for each record shown."""
        raise NotImplementedError

    def _record(self, request: HttpRequest, action: str, objects: list[Any]) -> None:
        by_centre: dict[int | None, list[int]] = {}
        for centre_id, patient_id in self._seen(objects):
            by_centre.setdefault(centre_id, []).append(patient_id)
        target = objects[0] if len(objects) == 1 else None
        for centre_id, patients in by_centre.items():
            record_read(request, action, centre_id=centre_id, patients=patients, target=target)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            listed = list(changelist.result_list)
            self._record(request, f"admin.{self.opts.model_name}_list_viewed", listed)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", {}).get("original")
        if shown is not None and response.status_code == 200:
            self._record(request, f"admin.{self.opts.model_name}_viewed", [shown])
        return response


class CityAdminOnly(admin.ModelAdmin[Any]):
    """City-wide reference data: staff may look, only superusers change."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


@admin.register(District)
class DistrictAdmin(CityAdminOnly):
    list_display = ["code", "name_th", "name_en", "zone_group_th"]
    search_fields = ["name_th", "name_en", "code"]


@admin.register(StaffMembership)
class StaffMembershipAdmin(CentreScopedAdmin):
    view_action = StaffAction.MANAGE_STAFF
    change_action = StaffAction.MANAGE_STAFF
    list_display = ["user", "centre", "role"]
    list_filter = ["role", "centre"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "centre"]


@admin.register(StaffAuthenticator)
class StaffAuthenticatorAdmin(admin.ModelAdmin[Any]):
    """Deleting a lost phone's authenticator lets its owner set up a new one at their next
    sign-in. The key itself is never shown."""

    list_display = ["user", "confirmed_at", "locked_until"]
    search_fields = ["user__username"]
    fields = ["user", "confirmed_at", "wrong_codes", "locked_until"]
    readonly_fields = ["user", "confirmed_at", "wrong_codes", "locked_until"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
