from django.urls import path

from notifications import views

urlpatterns = [
    path("sms/twilio/status", views.delivery_status, name="twilio-status"),
    path("sms/twilio/incoming", views.incoming_message, name="twilio-incoming"),
]
