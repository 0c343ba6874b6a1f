"""Password sign-in limits, counted in the database: windows, their clearing, parallel tries."""

from datetime import timedelta

import pytest

from clinics.exceptions import TooManyRequests
from clinics.limits import check_sign_in_rate
from clinics.models import SignInCount
from tests.races import race

pytestmark = pytest.mark.django_db


def test_a_sign_in_window_starts_again_and_ended_windows_are_cleared(clock, settings):
    settings.SIGN_INS_PER_USER_PER_10_MINUTES = 2
    for _ in range(2):
        check_sign_in_rate(username="nurse1", address="203.0.113.7")
    with pytest.raises(TooManyRequests) as refused:
        check_sign_in_rate(username="Nurse1 ", address="203.0.113.7")
    clock.shift(timedelta(minutes=10))

    check_sign_in_rate(username="nurse1", address="203.0.113.7")

    assert 1 <= refused.value.detail["retry_after"] <= 600
    assert sorted(SignInCount.objects.values_list("count", flat=True)) == [1, 1]
    assert "nurse1" not in str(list(SignInCount.objects.values_list("key", flat=True)))


@pytest.mark.django_db(transaction=True)
def test_parallel_password_sign_ins_are_all_counted(reference_data, settings):
    """Twenty tries at once, each on its own connection: exactly the limit gets through."""
    settings.SIGN_INS_PER_USER_PER_10_MINUTES = 5

    def attempt() -> None:
        check_sign_in_rate(username="nurse1", address=None)

    outcomes = race([attempt] * 20)

    assert outcomes == {"ok": 5, "too_many_requests": 15}
