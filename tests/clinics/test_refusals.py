"""The pages' one way of showing what a service refused."""

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory

from clinics.exceptions import InvalidInput, NotFound
from clinics.refusals import refusal_caught, refusal_flashed


def test_a_refusal_ends_the_block_and_is_kept_with_its_message_and_status() -> None:
    reached = []
    with refusal_caught() as refused:
        raise InvalidInput("The last day is before the first day.", field="date_to")
        reached.append(True)  # never

    assert refused
    assert (refused.message, refused.status) == ("The last day is before the first day.", 422)
    assert not reached


def test_nothing_refused_is_false_and_says_nothing() -> None:
    with refusal_caught() as refused:
        pass

    assert not refused
    assert (refused.message, refused.status) == ("", 200)


def test_anything_but_a_refusal_rises_as_before() -> None:
    with pytest.raises(ZeroDivisionError), refusal_caught():
        1 / 0  # noqa: B018


def test_a_flashed_refusal_is_told_on_the_next_page() -> None:
    request = RequestFactory().post("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]

    with refusal_flashed(request) as refused:
        raise NotFound()
    with refusal_flashed(request) as fine:
        pass

    assert refused
    assert not fine
    assert [str(message) for message in get_messages(request)] == [refused.message]


class _NameForm(forms.Form):
    name = forms.CharField()


def test_a_refusal_shows_next_to_the_field_it_names_or_at_the_top_of_the_form() -> None:
    named = _NameForm(data={"name": "x"})
    with refusal_caught() as refused:
        raise InvalidInput("Too short.", field="name")
    refused.add_to(named)
    assert named.errors == {"name": ["Too short."]}

    unnamed = _NameForm(data={"name": "x"})
    with refusal_caught() as refused:
        raise InvalidInput("Not today.", field="date")
    refused.add_to(unnamed)
    assert unnamed.non_field_errors() == ["Not today."]

    untouched = _NameForm(data={"name": "x"})
    with refusal_caught() as nothing:
        pass
    nothing.add_to(untouched)
    assert untouched.is_valid()
