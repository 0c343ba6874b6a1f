"""WebSocket routes. The consultation-room signalling consumer lands with the video capability."""

from django.urls import URLPattern, URLResolver

websocket_urlpatterns: list[URLPattern | URLResolver] = []
