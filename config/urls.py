from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from config.api import api, unknown_api_path

# A database gone away outside any view is 503 with Retry-After too, not a 500 page.
handler500 = "config.errors.server_error"

urlpatterns = [
    # The admin site signs in through the staff sign-in, which asks for the second factor.
    path("admin/login/", RedirectView.as_view(pattern_name="staff-sign-in", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Any other address under the API, even one with a newline in it, gets the API's JSON 404.
    re_path(r"^api/v1/(?P<rest>(?s:.*))$", unknown_api_path),
    path("", include("notifications.urls")),
    path("", include("clinics.urls")),
    path("", include("booking.views.staff.desk_urls")),
    path("", include("booking.views.staff.planning_urls")),
    path("", include("booking.urls")),
    path("", include("booking.interop.calendars.urls")),
    path("", include("video.urls")),
    path("fhir/r4/", include("booking.interop.fhir.urls")),
    path("open-data/", include("booking.interop.open_data.urls")),
    path("api/docs", RedirectView.as_view(pattern_name="api:openapi-view", permanent=False)),
]
