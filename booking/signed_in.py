"""Who is signed in, from the cache alone: the session as the session engine keeps it in
Redis (cached_db), and the account it names as the lean route (config/lean_routes/) needs it.

The account is checked as django.contrib.auth.get_user checks it: the session names a backend
in AUTHENTICATION_BACKENDS, the account exists and is active (ModelBackend's rule), and the
session's auth hash matches the one the account's password gives now. What that takes (the
account's fields but its password, the hash, whether it is staff's for the audit trail) is
kept in the cache per account, and forgotten when the account or a staff membership of it is
saved or deleted (booking.apps connects the signals), so that a new password, a deactivation or
a new role count at once. Anything else (no session in the cache, a hash from an older
SECRET_KEY, an unknown backend) is for Django's own stack to decide: these return None."""

import functools
import hashlib
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import DEFAULT_CACHE_ALIAS, cache
from django.db import transaction
from django.utils.crypto import constant_time_compare

from clinics.audit import is_staff_account
from clinics.models import StaffMembership

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Sessions a cache holds: the ones these can read without the database.
CACHED_SESSION_ENGINES = (
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.cache",
)
# A missed invalidation (an account changed with QuerySet.update) lasts this long at most.
ACCOUNT_CACHE_SECONDS = 300
# The account's fields kept; never its password.
ACCOUNT_FIELDS = ("id", "username", "first_name", "last_name", "email", "is_staff", "is_active",
                  "is_superuser", "last_login", "date_joined")  # fmt: skip


@dataclass(frozen=True)
class SignedIn:
    session: SessionBase
    user: User


def sessions_are_cached() -> bool:
    """Whether a session can be read from the cache, and an account checked as Django does,
    without the database."""
    return (
        settings.SESSION_ENGINE in CACHED_SESSION_ENGINES
        and not settings.SESSION_SAVE_EVERY_REQUEST
        and list(settings.AUTHENTICATION_BACKENDS) == [MODEL_BACKEND]
    )


def cached_session(session_key: str) -> SessionBase | None:
    """The session as the cache holds it, or None when it does not (then the session engine
    reads the database, in Django's stack)."""
    store = session_store(session_key)
    if store is None:
        return None
    return session_of(store, store._cache.get(store.cache_key))


def session_store(session_key: str) -> Any:
    """The session engine's store for the key, nothing read yet; None for a key the engine
    would never accept. Its `cache_key` is where the cache holds the session."""
    store: Any = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store if store._validate_session_key(session_key) else None


def session_of(store: Any, data: dict[str, Any] | None) -> SessionBase | None:
    """The session, from what the cache held under the store's `cache_key` (None: nothing)."""
    if data is None:
        return None
    store._session_cache = data
    session: SessionBase = store
    return session


def sessions_share_the_cache() -> bool:
    """Whether the sessions are kept in the default cache, so that a session and other keys
    can be read in one round trip."""
    return settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS


def stored_session(session_key: str) -> SessionBase | None:
    """The session as the session engine reads it (the cache, then the database, which puts it
    back in the cache), or None when there is none: for a session the cache has lost (Redis
    restarted, or sessions written to the database alone)."""
    store: Any = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    if not data:
        return None
    store._session_cache = data
    session: SessionBase = store
    return session


def account_key(user_id: int | str) -> str:
    # The session hash depends on SECRET_KEY: a new key starts a new space.
    return f"signed-in-account:{user_id}:{_key_tag(settings.SECRET_KEY)}"


def session_account_key(session_key: str) -> str:
    """Where the cache keeps the account a session was signed in as: a hint, so that a session
    and its account's keys can be read in one round trip (the session read with them decides;
    a hint that names another account only costs a second read)."""
    return f"signed-in-session:{session_key}"


def remember_session_account(session_key: str, user_id: int) -> None:
    """Keep the hint for as long as the session's cookie lasts."""
    cache.set(session_account_key(session_key), user_id, timeout=settings.SESSION_COOKIE_AGE)


@functools.lru_cache(maxsize=4)
def _key_tag(secret_key: str) -> str:
    """SECRET_KEY's tag, worked out once per key rather than on every request."""
    return hashlib.sha256(secret_key.encode()).hexdigest()[:12]


def cached_account(user_id: int, *, known: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What is kept of the account; None when the cache has nothing. `known`: what one read of
    several cache keys, the account's among them, found."""
    key = account_key(user_id)
    found = known.get(key) if known is not None else cache.get(key)
    return found if isinstance(found, dict) else None


def keep_account(user_id: int) -> dict[str, Any] | None:
    """Read the account from the database into the cache (None: there is no such account)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return None
    kept = account_entry(user)
    cache.set(account_key(user_id), kept, timeout=ACCOUNT_CACHE_SECONDS)
    return kept


def account_entry(user: User) -> dict[str, Any]:
    """What is kept of an account to check a session as get_user does (never the password)."""
    return {
        "fields": {name: getattr(user, name) for name in ACCOUNT_FIELDS},
        "session_hash": user.get_session_auth_hash(),
        "staff": is_staff_account(user),
    }


def keep_signed_in_account(sender: Any, user: Any, request: Any = None, **kwargs: Any) -> None:
    """user_logged_in: someone who signs in is about to book; their first booking request
    then finds the account in the cache instead of reading it in a thread, and reads it with
    the session in one round trip (session_account_key). Kept once the sign-in commits, so
    that nothing rolled back is remembered."""
    if not (sessions_are_cached() and isinstance(user, User)):
        return
    user_id = user.pk
    session_key = getattr(getattr(request, "session", None), "session_key", None)

    def keep() -> None:
        keep_account(user_id)
        if session_key:
            remember_session_account(session_key, user_id)

    transaction.on_commit(keep)


def user_id_of(session: SessionBase) -> int | None:
    """The account a session is signed in as, when Django would take it (None otherwise)."""
    try:
        user_id = User._meta.pk.to_python(session[SESSION_KEY])
        backend = session[BACKEND_SESSION_KEY]
    except (KeyError, ValueError, TypeError):
        return None
    if backend not in settings.AUTHENTICATION_BACKENDS or backend != MODEL_BACKEND:
        return None
    return int(user_id)


def signed_in_account(session: SessionBase, kept: dict[str, Any]) -> User | None:
    """The account, as get_user would give it from this session, or None when get_user
    would not (or would change the session, e.g. to a hash from SECRET_KEY_FALLBACKS)."""
    fields = kept["fields"]
    if not fields["is_active"]:  # ModelBackend.user_can_authenticate
        return None
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash or not constant_time_compare(session_hash, kept["session_hash"]):
        return None
    user = User.from_db("default", list(fields), list(fields.values()))
    user._audit_is_staff = kept["staff"]  # type: ignore[attr-defined]
    return user


def forget_account(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save / post_delete of an account or a staff membership: read it afresh next time."""
    user_id = instance.pk if isinstance(instance, User) else getattr(instance, "user_id", None)
    if user_id is not None:
        key = account_key(user_id)
        cache.delete(key)
        # Again once it commits: a request that read the account before then kept the old one.
        transaction.on_commit(lambda: cache.delete(key))


def connect_signals() -> None:
    from django.contrib.auth.signals import user_logged_in
    from django.db.models.signals import post_delete, post_save

    user_logged_in.connect(keep_signed_in_account, dispatch_uid="keep-signed-in-account")

    for model in (User, StaffMembership):
        post_save.connect(forget_account, sender=model, dispatch_uid=f"forget-account-{model}")
        post_delete.connect(forget_account, sender=model, dispatch_uid=f"forget-account-d-{model}")
