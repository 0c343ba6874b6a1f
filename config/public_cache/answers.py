"""An answer as the cache keeps it, and the project's cache where every process finds it."""

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache


@dataclass(frozen=True)
class CachedAnswer:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    expires_at: float


class SharedAnswers:
    """Answers kept in the project's cache (Redis when configured), where every process finds
    them. Redis out of reach: nothing is found and nothing kept (config/cache.py)."""

    def get(self, name: str) -> Any:
        return cache.get(name)

    def set(self, name: str, value: Any, seconds: int) -> None:
        cache.set(name, value, timeout=seconds)
