"""What every page's layout needs to know."""

from urllib.parse import urlencode

from django.http import HttpRequest
from django.utils import translation


def page(request: HttpRequest) -> dict[str, object]:
    """The page's language, the other one, and this page's address in the other one."""
    language = translation.get_language() or "th"
    if language not in ("th", "en"):
        language = "th"
    other = "en" if language == "th" else "th"
    query = request.GET.copy()
    query["lang"] = other
    return {
        "language": language,
        "other_language": other,
        "other_language_url": f"{request.path}?{urlencode(sorted(query.items()))}",
    }
