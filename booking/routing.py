"""WebSocket routes of the booking app."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
