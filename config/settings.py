"""Settings for every environment, read from environment variables.

The defaults need no external service: SQLite, the in-memory channel layer, a broker kept in
files under ``var/``. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str
from config.load_shedding import thread_capacity

# Django's generic classes (ModelAdmin[Patient], ModelForm[Slot]) can be subscripted at runtime
# as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# The default key is for a laptop; production sets SECRET_KEY (and `check --deploy` says so).
# The "django-insecure-" prefix makes `check --deploy` refuse this key in production.
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-development-key-set-SECRET_KEY-in-production")
# Keys that sign the QR codes on vaccination records, newest first: the first signs, every one
# verifies. To rotate, put a new key first and drop the oldest once its records are reissued.
RECORD_SIGNING_KEYS = env_list("RECORD_SIGNING_KEYS", [f"{SECRET_KEY}:vaccination-records"])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "config",
    "ninja",
    "clinics",
    "booking",
    "video",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "booking.interop.cors.PublicCors",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "config.middleware.PageLanguage",
    "config.middleware.RefuseNulCharacters",
    "config.middleware.DatabaseUnavailable",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinics.audit.AuditContext",
    "django.contrib.messages.middleware.MessageMiddleware",
    "booking.interop.api.partner_auth.PartnerKeyAudit",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicy",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context.page",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
SQLITE_PATH = VAR_DIR / "db.sqlite3"
# PostgreSQL connections come from a pool in each process (psycopg_pool): under ASGI every
# request runs in a fresh thread, and opening a connection each time cost more than the booking
# itself (bench/surge.py). DATABASE_POOL_SIZE=0 turns it off.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
if DATABASE_URL:
    DATABASES: dict[str, dict[str, Any]] = {"default": dict(dj_database_url.parse(DATABASE_URL))}
    if DATABASE_POOL_SIZE > 0 and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": 5,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                # Writers queue for the write lock at BEGIN instead of failing half-way through
                # a transaction with "database is locked"; WAL lets readers go on meanwhile.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not memory, so that tests with parallel connections share one database.
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Load shedding (config/load_shedding.py). What one web process really works on at once: a
# pooled connection each (without a pool, what asgiref's thread pool would run). Beyond that,
# requests are taken only while recent ones answered within the target, and never more than
# WEB_MAX_IN_FLIGHT (0: no ceiling); the rest get 429 `busy` at once. WEB_CAPACITY=0: no shedding.
WEB_CAPACITY = env_int(
    "WEB_CAPACITY",
    DATABASE_POOL_SIZE if "pool" in DATABASES["default"].get("OPTIONS", {}) else thread_capacity(),
)
WEB_TARGET_LATENCY_MS = env_int("WEB_TARGET_LATENCY_MS", 500)
WEB_MAX_IN_FLIGHT = env_int("WEB_MAX_IN_FLIGHT", 5 * WEB_CAPACITY)

# --- Redis: channel layer, Celery broker, cache ------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            # Degrades instead of failing when Redis is down (config/cache.py).
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # A session is read from Redis (and from the database only when Redis has lost it).
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The lean route (config/lean_routes/): booking, "book the best for me" and a partner's booking
# answered on the event loop, outside Django's request stack; on by default with PostgreSQL and
# Redis, never without.
LEAN_ROUTES = env_bool(
    "LEAN_ROUTES",
    bool(REDIS_URL) and DATABASES["default"]["ENGINE"].endswith("postgresql"),
)
# How many lean bookings may wait for one of the LEAN_TURNS turns at the engine, and how long
# (expected from the engine's recent times, or found); past either, 429 `busy` at once, as
# from load shedding. A burst of a few hundred on one slot waits well within the default.
LEAN_MAX_WAITING = env_int("LEAN_MAX_WAITING", max(400, 25 * WEB_CAPACITY))
LEAN_MAX_WAIT_SECONDS = env_int("LEAN_MAX_WAIT_SECONDS", 5)
# Connections each web process keeps for the bookings it makes on the event loop (apart from
# DATABASE_POOL_SIZE), and the bookings it makes at once (its turns at the engine; those
# handed to the ORM still run on WEB_CAPACITY threads). Each booking on the loop waits for it
# several times, behind whatever else is ready there: in a drive's surge, the asks in line.
# With 16 in flight rather than 8 the engine keeps more of the loop, and bench/surge.py sold
# out in 20.1-20.3 s rather than 26.5-31.0 s, though first answers came seconds later (README,
# Performance). A process holds up to DATABASE_POOL_SIZE + LEAN_DATABASE_CONNECTIONS
# connections to PostgreSQL.
LEAN_DATABASE_CONNECTIONS = env_int("LEAN_DATABASE_CONNECTIONS", 16)
LEAN_TURNS = env_int("LEAN_TURNS", LEAN_DATABASE_CONNECTIONS)
# Whether those connections prepare the statements they repeat (config/async_database.py), so
# that PostgreSQL parses and plans each once per connection rather than on every booking: in
# bench/surge.py PostgreSQL's CPU fell by 30 % on a quiet machine and by 60-70 % on a busy one.
# Behind PgBouncer in transaction mode this needs PgBouncer 1.21 or later with
# max_prepared_statements set; false for an older one.
LEAN_PREPARED_STATEMENTS = env_bool("LEAN_PREPARED_STATEMENTS", True)

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
else:
    # Kombu's file transport: worker and beat in other processes, no server to run (each
    # message written whole before a worker can see it: config.embedded_broker).
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "config.embedded_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Bangkok"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth, sessions -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "staff-sign-in"
# Staff accounts sign in with a code from an authenticator app as well as a password.
STAFF_TWO_FACTOR = env_bool("STAFF_TWO_FACTOR", True)

# --- Language and time --------------------------------------------------------------------------
LANGUAGE_CODE = "th"
LANGUAGES = [("th", _("Thai")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Bangkok"
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- The booking engine -------------------------------------------------------------------------
# How far ahead weekly schedules are turned into bookable slots.
SLOT_HORIZON_WEEKS = env_int("SLOT_HORIZON_WEEKS", 8)
# How a booking runs: "sql", one call to the booking function (booking/sql/book_slot_v1.sql,
# PostgreSQL only), or "orm", the same rules through the ORM (the only choice on SQLite).
BOOKING_ENGINE = env_str(
    "BOOKING_ENGINE", "sql" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "orm"
)
# How the staff queue mixes walk-ins with appointments (booking.selectors.queue.QueueOrder):
# "by_time", each at its slot's time or arrival, or "appointments_first".
QUEUE_ORDER = env_str("QUEUE_ORDER", "by_time")
# After telling a centre's desks of the lean route's bookings, how long, in milliseconds, a web
# process waits before telling them again: the changes of that moment make one message at its
# end (the page reloads the whole queue on any). The first change after a quiet moment is told
# at once. 0: again as soon as the last send has gone.
QUEUE_CHANGE_PAUSE_MS = env_int("QUEUE_CHANGE_PAUSE_MS", 1000)
# How many candidate slots "book the best slot for me" tries before giving up.
ALLOCATION_ATTEMPTS = env_int("ALLOCATION_ATTEMPTS", 25)
# How long, in milliseconds, the allocations in flight together in a web process share one read
# of the same search's candidates (booking.services.booking_sql.aio); 0: each reads its own.
ALLOCATION_SHARE_MS = env_int("ALLOCATION_SHARE_MS", 200)
# How long a process keeps the order of centres for a district before ranking them again
# (a change of centre made in the same process forgets it at once).
CENTRE_ORDER_CACHE_SECONDS = env_int("CENTRE_ORDER_CACHE_SECONDS", 60)
# How long a process keeps a service (by code) and a vaccine's dose series before reading them
# again (a change saved in the same process forgets them at once).
REFERENCE_CACHE_SECONDS = env_int("REFERENCE_CACHE_SECONDS", 60)
# How long each web process keeps an answer of the public slot search (GET /api/v1/slots) and
# serves it again without Django (config/public_cache/; 0: never), and how many it keeps.
# A slot shown a moment after it filled is still refused by the engine (`slot_full`, with
# alternatives) when someone tries to book it.
SLOT_SEARCH_CACHE_SECONDS = env_int("SLOT_SEARCH_CACHE_SECONDS", 2)
# After that, for up to this long, the old answer is still served while one request makes the
# new one in the background, so that nobody waits for Django because an answer just expired.
SLOT_SEARCH_CACHE_STALE_SECONDS = env_int("SLOT_SEARCH_CACHE_STALE_SECONDS", 2)
SLOT_SEARCH_CACHE_ENTRIES = env_int("SLOT_SEARCH_CACHE_ENTRIES", 1000)
# How often beat rewrites the SMART Scheduling Links files (/fhir/r4/$bulk-publish); also the
# max-age clients are told to wait before polling again.
SCHEDULING_LINKS_REFRESH_SECONDS = env_int("SCHEDULING_LINKS_REFRESH_SECONDS", 60)

# --- Text messages ------------------------------------------------------------------------------
# Where links in text messages point: the address patients reach the site at.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")

# --- HTTPS ------------------------------------------------------------------------------------
# In production the site is served only over HTTPS; TLS ends at the reverse proxy, which must
# set X-Forwarded-Proto (and strip any the client sent). On by default when the public address
# is https://, so that `manage.py check --deploy` passes with production settings.
HTTPS = env_bool("HTTPS", PUBLIC_BASE_URL.startswith("https://"))
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page's scripts and styles are static files of ours: no inline script, no CDN. Video
# streams arrive as MediaStreams (no media-src needed); the signalling socket is same-origin.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
)
# "console" writes each message to the log (the outbox table keeps it); "twilio" sends it.
SMS_BACKEND = env_str("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
# A Messaging Service SID is preferred; a From number is used when there is none.
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")
# Only for tests and benchmarks: a local stand-in for api.twilio.com.
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "")
# Each worker process sends at most this many messages a second (0: no limit).
SMS_MAX_PER_SECOND = env_int("SMS_MAX_PER_SECOND", 10)
# Nothing but passcodes and replies goes out between these Bangkok hours.
SMS_QUIET_HOURS_START = env_int("SMS_QUIET_HOURS_START", 21)
SMS_QUIET_HOURS_END = env_int("SMS_QUIET_HOURS_END", 8)
# Transient failures are retried with growing waits up to this many attempts in all.
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 8)
# A message a worker took but never finished (the worker died) is retried after this; a live
# worker renews its claims as it goes. Passcodes are claimed one at a time, for a shorter lease
# than the few minutes a code lives.
SMS_CLAIM_LEASE_SECONDS = env_int("SMS_CLAIM_LEASE_SECONDS", 60)
SMS_PASSCODE_LEASE_SECONDS = env_int("SMS_PASSCODE_LEASE_SECONDS", 30)
# Wake a worker as soon as a message commits; beat's sweep every few seconds is the backstop.
SMS_WAKE_WORKER = env_bool("SMS_WAKE_WORKER", True)
SMS_SWEEP_SECONDS = env_int("SMS_SWEEP_SECONDS", 10)
# Links in messages open the appointment without signing in until this long after it ends.
APPOINTMENT_LINK_GRACE_HOURS = env_int("APPOINTMENT_LINK_GRACE_HOURS", 24)

# --- Waitlist --------------------------------------------------------------------------------
# A place offered to someone on the waitlist is held this long (from 08:00 if offered in quiet
# hours), then passes on. Someone who lets this many offers lapse leaves the waitlist.
WAITLIST_CLAIM_MINUTES = env_int("WAITLIST_CLAIM_MINUTES", 60)
WAITLIST_MAX_MISSED_OFFERS = 2
WAITLIST_OFFERS_PER_RUN = env_int("WAITLIST_OFFERS_PER_RUN", 500)
WAITLIST_SWEEP_SECONDS = env_int("WAITLIST_SWEEP_SECONDS", 60)

# --- Video consultations (video/) ---------------------------------------------------------------
# A room lets people in this long before the appointment starts, until this long after it ends.
VIDEO_ROOM_OPENS_MINUTES = env_int("VIDEO_ROOM_OPENS_MINUTES", 15)
VIDEO_ROOM_GRACE_MINUTES = env_int("VIDEO_ROOM_GRACE_MINUTES", 30)
# ICE servers given to browsers. TURN uses the TURN REST scheme (coturn's use-auth-secret):
# each join gets a username "expiry:who" and its HMAC with the shared secret, never the secret.
VIDEO_STUN_URLS = env_list("VIDEO_STUN_URLS", [])
VIDEO_TURN_URLS = env_list("VIDEO_TURN_URLS", [])
VIDEO_TURN_SECRET = env_str("VIDEO_TURN_SECRET", "")
VIDEO_TURN_TTL_SECONDS = env_int("VIDEO_TURN_TTL_SECONDS", 3600)
# A signalling message longer than this is refused (an SDP offer is a few kilobytes); uvicorn's
# --ws-max-size is set to the same (Procfile), so a longer frame is refused before it is read.
VIDEO_MAX_MESSAGE_BYTES = env_int("VIDEO_MAX_MESSAGE_BYTES", 65536)
# Connections open at once to one room (everyone) and through one join link (video/limits.py);
# one more is refused with close code 4429. A connection's place is a lease it renews, freed
# this long after a server process dies. Chat messages per connection in any 10 seconds.
VIDEO_SOCKETS_PER_ROOM = env_int("VIDEO_SOCKETS_PER_ROOM", 6)
VIDEO_SOCKETS_PER_JOIN_LINK = env_int("VIDEO_SOCKETS_PER_JOIN_LINK", 3)
VIDEO_SOCKET_LEASE_SECONDS = env_int("VIDEO_SOCKET_LEASE_SECONDS", 60)
VIDEO_CHATS_PER_10_SECONDS = env_int("VIDEO_CHATS_PER_10_SECONDS", 10)

# --- Open data (booking/interop/open_data/) ----------------------------------------------------
# Published counts of people from 1 to this minus one are withheld, so nobody can be singled
# out in a small centre's day; 1 withholds nothing.
OPEN_DATA_SUPPRESS_BELOW = env_int("OPEN_DATA_SUPPRESS_BELOW", 5)

# --- Vaccination drive waiting room (booking/vaccination/waiting_room.py) -------------------------
# For this long after a drive opens, people are let in to book in arrival order: this many at
# once, then one more for each booking that commits; at most this many a second (0: no ceiling).
# The burst is also the least the line keeps let in ahead of the bookings: about what two web
# processes book in six seconds. Someone let in waits for a turn at the engine (they are not
# told busy), so a larger window costs a wait, while one of 100 left the engine idle between
# people's asks again: bench/surge.py with its connections opened before the release (as a
# reverse proxy keeps them) sold out in 45-50 s with 100, and in 15-17 s with 2,500.
DRIVE_QUEUE_MINUTES = env_int("DRIVE_QUEUE_MINUTES", 30)
DRIVE_ADMIT_BURST = env_int("DRIVE_ADMIT_BURST", 2500)
DRIVE_ADMIT_PER_SECOND = env_int("DRIVE_ADMIT_PER_SECOND", 0)

# --- ThaID sign-in (OpenID Connect; booking/thaid.py) ---------------------------------------
# Off unless the issuer, client id and secret are all set. THAID_ISSUER is the issuer URL: its
# /.well-known/openid-configuration is read for the endpoints and keys.
THAID_ISSUER = env_str("THAID_ISSUER", "").rstrip("/")
THAID_CLIENT_ID = env_str("THAID_CLIENT_ID", "")
THAID_CLIENT_SECRET = env_str("THAID_CLIENT_SECRET", "")
THAID_SCOPES = env_str("THAID_SCOPES", "openid pid given_name family_name birthdate gender")
# The claim that carries the 13-digit national ID ("pid" in ThaID).
THAID_NATIONAL_ID_CLAIM = env_str("THAID_NATIONAL_ID_CLAIM", "pid")
# Seconds of clock difference allowed when checking an ID token's times.
THAID_CLOCK_LEEWAY_SECONDS = env_int("THAID_CLOCK_LEEWAY_SECONDS", 30)

# --- Sign-in passcodes --------------------------------------------------------------------------
SIGN_IN_CODE_MINUTES = 5
SIGN_IN_CODE_ATTEMPTS = 5
SIGN_IN_CODE_RESEND_SECONDS = 60
SIGN_IN_CODES_PER_PHONE_PER_HOUR = env_int("SIGN_IN_CODES_PER_PHONE_PER_HOUR", 5)
SIGN_IN_CODES_PER_ADDRESS_PER_HOUR = env_int("SIGN_IN_CODES_PER_ADDRESS_PER_HOUR", 30)
# Against toll fraud: passcodes go only to mobile numbers of these countries (region codes),
# at most so many an hour in all, and so many an hour to one block of 10,000 numbers (the
# number without its last four digits), where pumping schemes send them.
SIGN_IN_COUNTRIES = [code.upper() for code in env_list("SIGN_IN_COUNTRIES", ["TH"])]
SIGN_IN_CODES_PER_HOUR = env_int("SIGN_IN_CODES_PER_HOUR", 20_000)
SIGN_IN_CODES_PER_PREFIX_PER_HOUR = env_int("SIGN_IN_CODES_PER_PREFIX_PER_HOUR", 50)
# Abuse limits (clinics/limits.py, booking/services/limits.py); 0 turns one off. Per address
# they are generous: many patients share one address behind a mobile carrier's NAT.
SIGN_INS_PER_USER_PER_10_MINUTES = env_int("SIGN_INS_PER_USER_PER_10_MINUTES", 10)
SIGN_INS_PER_ADDRESS_PER_10_MINUTES = env_int("SIGN_INS_PER_ADDRESS_PER_10_MINUTES", 200)
SEARCHES_PER_ADDRESS_PER_MINUTE = env_int("SEARCHES_PER_ADDRESS_PER_MINUTE", 600)
BOOKINGS_PER_ACCOUNT_PER_HOUR = env_int("BOOKINGS_PER_ACCOUNT_PER_HOUR", 30)
BOOKINGS_PER_ADDRESS_PER_HOUR = env_int("BOOKINGS_PER_ADDRESS_PER_HOUR", 2000)
BOOKINGS_PER_NATIONAL_ID_PER_DAY = env_int("BOOKINGS_PER_NATIONAL_ID_PER_DAY", 10)
# Adding or changing a person with a national ID is a look-up of whether the ID is on file:
# per account each hour. A partner key whose people are refused this often in an hour waits.
NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR = env_int("NATIONAL_ID_LOOKUPS_PER_ACCOUNT_PER_HOUR", 10)
PARTNER_PERSON_REFUSALS_PER_KEY_PER_HOUR = env_int("PARTNER_PERSON_REFUSALS_PER_KEY_PER_HOUR", 20)
# Appointments one person may hold at once (later doses of a course do not count).
MAX_ACTIVE_BOOKINGS_PER_PATIENT = env_int("MAX_ACTIVE_BOOKINGS_PER_PATIENT", 6)
# A request to erase a person's data waits this many days (it can be withdrawn meanwhile), and
# for someone who has been seen, until this many years after their last visit (the medical
# record's retention).
DELETION_GRACE_DAYS = env_int("DELETION_GRACE_DAYS", 30)
MEDICAL_RECORD_YEARS = env_int("MEDICAL_RECORD_YEARS", 5)
# Staff are shown accounts (phones) booking coming appointments for at least this many people.
SHARED_PHONE_MIN_PEOPLE = env_int("SHARED_PHONE_MIN_PEOPLE", 5)
# The audit trail records a member of staff reading the same records the same way once in
# this many seconds (a queue page reloads itself on every change).
AUDIT_REPEATED_READ_SECONDS = env_int("AUDIT_REPEATED_READ_SECONDS", 300)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # The SDK logs every request's headers at INFO; the outbox already records each message.
    "loggers": {"twilio.http_client": {"level": "WARNING"}},
}
