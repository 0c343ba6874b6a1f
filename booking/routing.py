"""WebSocket routes of the booking app."""

from django.urls import URLPattern, path

from booking.consumers import CentreQueueConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/centres/<int:number>/queue/", CentreQueueConsumer.as_asgi()),
]
