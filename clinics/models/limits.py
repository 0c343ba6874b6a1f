"""Counts for the limits that must hold even while Redis is down."""

from django.db import models


class SignInCount(models.Model):
    """Password sign-ins counted for one user name or one network address in one fixed
    window. Kept in the database, not the cache, so that the limit holds while Redis is down;
    the key is a keyed hash, never the name or address itself."""

    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=24)
    ends_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key", "ends_at"], name="one_sign_in_count")
        ]
        indexes = [models.Index(fields=["ends_at"], name="sign_in_count_ends")]

    def __str__(self) -> str:
        return f"{self.scope} until {self.ends_at:%Y-%m-%d %H:%M}: {self.count}"
