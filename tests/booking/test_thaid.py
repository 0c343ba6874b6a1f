"""ThaID sign-in against a local OpenID Connect provider (tests/fakes/thaid.py) started by the
tests: the whole flow through the pages, and each thing that must be checked failing safely
with a page that says what to do."""

from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.test import Client
from joserfc.jwk import RSAKey

from booking.models import Patient
from booking.services.identity import verify_identity_at_desk
from clinics.models import AuditEvent
from notifications.models import Message
from tests.factories import PatientFactory, UserFactory, national_id, passcode_texted_to
from tests.fakes.thaid import FakeThaID

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = "bma-booking", "a-client-secret"


@pytest.fixture(scope="module")
def provider_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "thaid-1"})


@pytest.fixture
def thaid(settings, provider_key, reference_data) -> Iterator[FakeThaID]:
    with FakeThaID(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, key=provider_key) as fake:
        settings.THAID_ISSUER = fake.issuer
        settings.THAID_CLIENT_ID = CLIENT_ID
        settings.THAID_CLIENT_SECRET = CLIENT_SECRET
        fake.person = {
            "pid": national_id(),
            "given_name": "มาลี",
            "family_name": "ศรีสุข",
            "birthdate": "1990-04-02",
            "gender": "female",
        }
        yield fake


def to_thaid_and_back(client: Client) -> str:
    """Start on our page, follow the redirect to the provider (which approves at once) and
    return the address it sends the browser back to."""
    start = client.get("/sign-in/thaid")
    assert start.status_code == 302, start.content
    asked = parse_qs(urlsplit(start["Location"]).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert all(asked[name] for name in ("nonce", "state", "code_challenge"))
    approved = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/sign-in/thaid/callback"
    return f"{back.path}?{back.query}"


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    if user_id is None:
        return None
    return Patient.objects.filter(account_id=user_id).values_list("account__username", flat=True)[0]


def refused(response, code: str = "thaid_failed") -> bool:
    page = response.content.decode()
    return (
        400 <= response.status_code < 500
        and f'data-code="{code}"' in page
        and 'href="/sign-in"' in page
    )


# --- Off unless configured -------------------------------------------------------------------


def test_without_configuration_there_is_no_thaid_sign_in(client, reference_data):
    assert client.get("/sign-in/thaid").status_code == 404
    assert client.get("/sign-in/thaid/callback?code=x&state=y").status_code == 404
    assert "Sign in with ThaID" not in client.get("/sign-in?lang=en").content.decode()


def test_the_sign_in_page_offers_thaid_when_configured(client, thaid):
    assert 'href="/sign-in/thaid"' in client.get("/sign-in?lang=en").content.decode()


# --- Signing in --------------------------------------------------------------------------------


def test_a_person_new_to_us_signs_in_with_thaid_into_a_verified_account(client, thaid):
    callback = client.get(to_thaid_and_back(client))

    assert callback.status_code == 303
    assert callback["Location"] == "/me/"
    assert signed_in_as(client) == "thaid:thaid-subject-1"
    assert "มาลี" in client.get("/me/").content.decode()
    record = Patient.objects.get(national_id=thaid.person["pid"])
    assert (record.first_name, record.date_of_birth) == ("มาลี", date(1990, 4, 2))
    assert record.identity_verified_by == Patient.IdentityCheck.THAID
    assert AuditEvent.objects.filter(action="patient.identity_verified").count() == 1
    # The token endpoint was given the PKCE verifier and the client's secret.
    [token_request] = thaid.token_requests
    assert len(token_request["code_verifier"]) >= 43


def test_thaid_takes_a_squatted_id_back_into_the_persons_own_account(client, thaid, patient):
    squatted = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.OTHER,
        national_id=thaid.person["pid"],
        phone="",
    )

    client.get(to_thaid_and_back(client))

    squatted.refresh_from_db()
    assert signed_in_as(client) == "thaid:thaid-subject-1"
    assert squatted.account.get_username() == "thaid:thaid-subject-1"
    assert Message.objects.get(kind=Message.Kind.RECORD_MOVED).recipient == patient.phone


def test_a_verified_dependant_elsewhere_is_sent_to_a_health_centre(client, thaid, patient):
    cared_for = PatientFactory(
        account=patient.account,
        relationship=Patient.Relationship.PARENT,
        national_id=thaid.person["pid"],
        phone="",
    )
    verify_identity_at_desk(patient=cared_for, centre_id=1)

    response = client.get(to_thaid_and_back(client))

    assert refused(response, "contact_health_centre")
    assert signed_in_as(client) is None


def test_the_own_record_of_a_phone_account_connects_with_that_phones_passcode(
    client, thaid, patient
):
    thaid.person["pid"] = patient.national_id

    callback = client.get(to_thaid_and_back(client))
    assert callback["Location"] == "/sign-in/thaid/connect"
    page = client.get("/sign-in/thaid/connect?lang=en").content.decode()
    assert "08x-xxx-x001" in page
    assert patient.phone not in page
    client.post("/sign-in/thaid/connect", {"action": "send_code"})
    wrong = client.post("/sign-in/thaid/connect", {"action": "connect", "code": "000000"})
    assert wrong["Location"] == "/sign-in/thaid/connect"
    assert signed_in_as(client) is None
    right = client.post(
        "/sign-in/thaid/connect",
        {"action": "connect", "code": passcode_texted_to(patient.phone)},
    )

    assert right["Location"] == "/me/"
    assert signed_in_as(client) == patient.phone
    patient.refresh_from_db()
    assert patient.identity_verified_by == Patient.IdentityCheck.THAID


def test_not_my_phone_moves_the_record_to_the_thaid_account(client, thaid, patient):
    thaid.person["pid"] = patient.national_id
    client.get(to_thaid_and_back(client))

    response = client.post("/sign-in/thaid/connect", {"action": "decline"})

    assert response["Location"] == "/me/"
    patient.refresh_from_db()
    assert signed_in_as(client) == "thaid:thaid-subject-1"
    assert patient.account.get_username() == "thaid:thaid-subject-1"


def test_the_connect_page_needs_a_thaid_sign_in_first(client, thaid):
    response = client.post("/sign-in/thaid/connect", {"action": "decline"})

    assert response["Location"] == "/sign-in"
    assert signed_in_as(client) is None


# --- What must be checked, failing safely --------------------------------------------------------


def test_a_wrong_state_is_refused(client, thaid):
    back = urlsplit(to_thaid_and_back(client))
    query = {name: values[0] for name, values in parse_qs(back.query).items()}

    response = client.get(f"{back.path}?{urlencode({**query, 'state': 'forged'})}")

    assert refused(response)
    assert signed_in_as(client) is None
    assert not thaid.token_requests


def test_a_replayed_callback_is_refused(client, thaid):
    callback = to_thaid_and_back(client)
    client.get(callback)
    client.logout()

    assert refused(client.get(callback))
    assert signed_in_as(client) is None


def test_a_callback_in_another_browser_is_refused(client, thaid):
    callback = to_thaid_and_back(client)

    other = Client()
    assert refused(other.get(callback))
    assert other.session.get("_auth_user_id") is None


def test_an_id_token_for_another_nonce_is_refused(client, thaid):
    thaid.tamper["nonce"] = "someone-elses-nonce"

    assert refused(client.get(to_thaid_and_back(client)))
    assert not Patient.objects.filter(national_id=thaid.person["pid"]).exists()


def test_an_expired_id_token_is_refused(client, thaid):
    thaid.tamper["exp_offset"] = -3600

    assert refused(client.get(to_thaid_and_back(client)))
    assert signed_in_as(client) is None


def test_an_id_token_signed_with_another_key_is_refused(client, thaid):
    thaid.tamper["sign_with"] = RSAKey.generate_key(2048, parameters={"kid": "thaid-1"})

    assert refused(client.get(to_thaid_and_back(client)))
    assert signed_in_as(client) is None


@pytest.mark.parametrize(("claim", "value"), [("aud", "another-client"), ("iss", "https://evil")])
def test_an_id_token_for_another_client_or_from_another_issuer_is_refused(
    client, thaid, claim, value
):
    thaid.tamper[claim] = value
    thaid.tamper["extra"] = {"azp": CLIENT_ID}  # naming us as the party is not enough

    assert refused(client.get(to_thaid_and_back(client)))
    assert signed_in_as(client) is None


def test_the_pkce_verifier_is_checked_by_the_provider(client, thaid):
    back = to_thaid_and_back(client)
    session = client.session
    names = session.keys()  # a session is not iterable itself
    [key] = [name for name in names if name.startswith("_state_thaid_")]
    stored = session[key]
    stored["data"]["code_verifier"] = "a" * 64
    session[key] = stored
    session.save()

    assert refused(client.get(back))
    assert signed_in_as(client) is None


@pytest.mark.parametrize("pid", [None, "1234567890123", "not-an-id"])
def test_a_missing_or_invalid_national_id_claim_is_refused(client, thaid, pid):
    if pid is None:
        thaid.tamper["drop"] = "pid"
    else:
        thaid.person["pid"] = pid

    response = client.get(to_thaid_and_back(client))

    assert refused(response, "thaid_no_national_id")
    assert signed_in_as(client) is None


def test_a_provider_that_cannot_be_reached_is_said_plainly(client, settings, reference_data):
    settings.THAID_ISSUER = "http://127.0.0.1:9"
    settings.THAID_CLIENT_ID, settings.THAID_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET

    response = client.get("/sign-in/thaid")

    assert response.status_code == 503
    assert 'data-code="thaid_failed"' in response.content.decode()


def test_an_error_from_thaid_is_refused(client, thaid):
    client.get("/sign-in/thaid")

    response = client.get("/sign-in/thaid/callback?error=access_denied&state=x")

    assert refused(response)


def test_someone_else_signed_in_is_not_kept(client, thaid):
    client.force_login(UserFactory(username="+66810000055"))

    client.get(to_thaid_and_back(client))

    assert signed_in_as(client) == "thaid:thaid-subject-1"
