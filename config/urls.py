from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("api/docs", RedirectView.as_view(pattern_name="api:openapi-view", permanent=False)),
    path("", RedirectView.as_view(pattern_name="api:openapi-view", permanent=False)),
]
