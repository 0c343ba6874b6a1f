"""The Redis cache, made to degrade rather than fail: when Redis cannot be reached, reads miss,
writes are dropped and counters start again, so that booking, signing in and sending texts go
on without it (the waiting room then lets people straight through, and the booking and search
limits' counters start from zero until Redis is back). Each failure is logged. The sign-in
lockouts (wrong staff codes, password sign-ins, passcodes) are counted in the database instead,
so that they hold while Redis is down."""

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _unreachable(operation: str) -> None:
    logger.warning("Redis cache unreachable (%s); going on without it.", operation)


class ResilientRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE:
            _unreachable("get")
            return default

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().add(key, value, timeout, version))
        except UNREACHABLE:
            _unreachable("add")
            return True

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE:
            _unreachable("set")

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return bool(super().delete(key, version))
        except UNREACHABLE:
            _unreachable("delete")
            return False

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return int(super().incr(key, delta, version))
        except UNREACHABLE:
            _unreachable("incr")
            return delta

    def get_or_set(
        self, key: Any, default: Any, timeout: Any = None, version: int | None = None
    ) -> Any:
        try:
            return super().get_or_set(key, default, timeout, version)
        except UNREACHABLE:
            _unreachable("get_or_set")
            return default() if callable(default) else default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return dict(super().get_many(keys, version))
        except UNREACHABLE:
            _unreachable("get_many")
            return {}

    def touch(self, key: Any, timeout: Any = None, version: int | None = None) -> bool:
        try:
            return bool(super().touch(key, timeout, version))
        except UNREACHABLE:
            _unreachable("touch")
            return False
