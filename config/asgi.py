"""ASGI entry point: Django for HTTP, Channels for WebSockets."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402
from django.utils import translation  # noqa: E402

from booking.routing import websocket_urlpatterns as booking_sockets  # noqa: E402
from config.lean_routes import LeanRoutes  # noqa: E402
from config.load_shedding import Shedder, ShedLoad  # noqa: E402
from config.public_cache import cache_public_answers  # noqa: E402
from config.request_threads import KeptRequestThreads  # noqa: E402
from config.sql_count import install_if_asked  # noqa: E402
from video.routing import websocket_urlpatterns as video_sockets  # noqa: E402


def build_application() -> ProtocolTypeRouter:
    """HTTP through Django (behind load shedding), the two booking operations through the lean
    route in front of it when they can (config/lean_routes/), and repeats of the public slot
    search from its answer cache (config/public_cache/); WebSockets through the apps'
    consumers. The tests build a fresh one under their own settings."""
    shedder = Shedder(
        capacity=settings.WEB_CAPACITY,
        ceiling=settings.WEB_MAX_IN_FLIGHT,
        target_seconds=settings.WEB_TARGET_LATENCY_MS / 1000,
    )
    return ProtocolTypeRouter(
        {
            "http": cache_public_answers(
                LeanRoutes(
                    ShedLoad(KeptRequestThreads(get_asgi_application()), shedder=shedder),
                    shedder=shedder,
                )
            ),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([*video_sockets, *booking_sockets]))
            ),
        }
    )


def load_what_first_requests_would() -> None:
    """Make now what Django makes lazily on a process's first requests: the URL patterns, which
    import every view module and the API's routers, and each language's translations. A web
    process that had not yet answered through Django made them on its first request of a
    drive's release, about a second of CPU on the event loop while a thousand people a second
    arrived (bench/surge.py, profiled); made here, they are also frozen below with the rest."""
    get_resolver().url_patterns  # noqa: B018 - the cached property imports the URLconf
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Thai")  # the language's catalogs, kept by Django once read


install_if_asked()
application = build_application()
load_what_first_requests_would()
# What start-up made (Django, the apps, the URL patterns, translations: most of the heap) lives
# as long as the process: moved out of the collector's generations, so that a full collection
# walks only what requests made. Measured in bench/booking.py at 300 bookings a second: the
# p95 fell from about 100 ms to 10-15 ms and the p99 from about 300 ms to 80 ms (the tail was
# full collections over the whole heap, on the event loop).
gc.freeze()
# And a young generation of YOUNG_OBJECTS rather than 700: a process with hundreds of requests in
# flight collected it every few requests, each time promoting what those requests still held,
# and so soon walked the old generations too (a full collection took 65-80 ms, on the event
# loop). Measured in bench/booking.py at 600 bookings a second offered, over the warm-up and
# one run, start-up included: the collector's time in each web process fell from 1.2-1.4 s to
# 0.3-0.45 s and its full collections from 8-9 to 3; the web CPU per booking from 2.36 ms to
# 2.20-2.25 ms, in runs one after the other.
YOUNG_OBJECTS = 20_000
gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
