"""Twilio's webhooks: delivery reports and incoming text messages.

Every request must carry a valid X-Twilio-Signature for the public address Twilio called
(PUBLIC_BASE_URL + path); anything else is refused before it is read.
"""

import re

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications.models import InboundMessage
from notifications.services.dispatch import record_delivery_status
from notifications.services.inbound import receive_text_message


def _signed_by_twilio(request: HttpRequest) -> bool:
    if not settings.TWILIO_AUTH_TOKEN:
        return False
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    return bool(signature) and RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, request.POST, signature
    )


def _refused() -> HttpResponse:
    return HttpResponse(
        "The X-Twilio-Signature header is missing or does not match this request.",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


@csrf_exempt
@require_POST
def delivery_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback for a message we sent."""
    if not _signed_by_twilio(request):
        return _refused()
    ours = request.GET.get("message", "")
    record_delivery_status(
        provider_id=request.POST.get("MessageSid", "")[:64],
        status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
        message_id=int(ours) if re.fullmatch(r"[0-9]{1,18}", ours) else None,
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def incoming_message(request: HttpRequest) -> HttpResponse:
    """A text message sent to our number. Replies go through the outbox, so the TwiML
    answer is empty."""
    if not _signed_by_twilio(request):
        return _refused()
    provider_id = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if not provider_id or not sender:
        return HttpResponse("MessageSid and From are required.", status=400)
    try:
        receive_text_message(
            provider_id=provider_id[:64], sender=sender[:32], body=request.POST.get("Body", "")
        )
    except IntegrityError:
        # The same message delivered twice at once: the other request acted on it.
        if not InboundMessage.objects.filter(provider_id=provider_id[:64]).exists():
            raise
    return HttpResponse(str(MessagingResponse()), content_type="text/xml")
