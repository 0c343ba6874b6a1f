"""A short-lived answer cache for the public slot search, in front of Django.

`GET /api/v1/slots` is asked by everyone before they sign in, with the same few questions (a
service, a district, the coming weeks), and Django's synchronous request stack alone costs
7 to 9 ms of CPU per request on this machine. This ASGI middleware keeps each 200 answer for
SLOT_SEARCH_CACHE_SECONDS in the process's memory (and in Redis for the other processes) and
serves repeats of the same question without Django, so a search costs a dictionary look-up and
a rate count instead.

What makes a question the same: the path, the query string with its parameters in a stable
order (by name; repeated names keep their order), and the language LocaleMiddleware would pick
for it (the language cookie, else Accept-Language, else Thai): the answer's centre names are in
that language. Nothing else changes the answer. The search needs no account, reads no session
and sets no cookie, so a signed-in person's search is the same question as anyone's.

What is never cached: another path (the partner search, /api/v1/partner/slots, needs a key and
counts against that key's limits, so it always goes through Django), a method other than GET
and HEAD, a request with an Authorization header, a query with a NUL character in it (Django
refuses those), an answer other than 200 and an answer that sets a cookie.

Why a few seconds are safe: the answer says which slots had room when it was made. Booking
does not trust it: the engine checks every place as it takes it (a conditional update guarded
by a CHECK constraint), so someone who picks a slot that filled a second ago gets `slot_full`
with alternatives, exactly as if they had been a second slower to click.

An answer past its window is still served for up to SLOT_SEARCH_CACHE_STALE_SECONDS while one
new answer is made in the background (asked of Django without a client address, so that it
counts against nobody's limit), so that nobody waits for Django because an answer just
expired: under steady traffic an answer is at most the window plus the time one search takes
old (longer only while that search is slow, under load). Past that, with no new answer being
made (the last attempt failed), the next request asks Django and waits, as on a first search.

The per-address search limit still holds: each answer served from here is counted in the same
window as Django counts it (booking.services.limits: with Redis on the event loop, in one round
trip; with another cache, in a thread). Once an address is past its limit, its requests go on
to Django, which counts them and answers 429 in the request's language, as before.

A burst of the same question while no answer is kept is asked of Django once per process: the
first request asks, the others wait for its answer (and go through Django themselves if that
answer cannot be shared). Each answer is also put in the project's cache (Redis, when
configured) with the time it was made, so that the other web processes serve it too for what
is left of its window instead of asking Django again. HEAD is answered as GET without the
body, from the same entry.

The package, one module each:

- `middleware`: the ASGI middleware (`PublicAnswerCache`): which requests it may answer, the
  question's key, the answers kept in the process, the one request per burst that asks the
  app, the stale answer served while a new one is made;
- `answers`: an answer as kept (`CachedAnswer`) and the project's cache where the other
  processes find it (`SharedAnswers`);
- `search`: the slot search's use of it, each answer counted against the address's limit
  (`count_search`) and the cache put in front of the app from the settings
  (`cache_public_answers`);
- `wire`: the ASGI types and the `receive` and `send` of a request made or answered here.
"""

from config.public_cache.answers import CachedAnswer, SharedAnswers
from config.public_cache.middleware import CountAnswer, PublicAnswerCache
from config.public_cache.search import cache_public_answers, count_search

__all__ = [
    "CachedAnswer",
    "CountAnswer",
    "PublicAnswerCache",
    "SharedAnswers",
    "cache_public_answers",
    "count_search",
]
