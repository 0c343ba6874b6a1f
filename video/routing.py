"""WebSocket routes: the signalling of each consultation room."""

from django.urls import URLPattern, URLResolver, re_path

from video.consumers import ConsultationConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^ws/rooms/(?P<code>[A-Za-z0-9_-]{1,32})/$", ConsultationConsumer.as_asgi()),
]
