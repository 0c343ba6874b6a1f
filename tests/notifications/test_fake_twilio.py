"""The local Twilio fake, driven through the real twilio SDK as the SMS backend drives it."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from tests.fakes.twilio_api import (
    GSM_BASIC_ALPHABET,
    GSM_EXTENSION_TABLE,
    FakeTwilio,
    count_segments,
)

THAI_NUMBER = "+66812345678"
# 10 Thai characters, none outside the Basic Multilingual Plane.
THAI_TEN = "นัดหมายพรุ"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


def make_client(fake: FakeTwilio, *, auth_token: str | None = None) -> Client:
    client = Client(
        fake.account_sid,
        auth_token or fake.auth_token,
        http_client=TwilioHttpClient(timeout=5),
    )
    client.api.base_url = fake.base_url
    return client


@pytest.fixture(autouse=True)
def no_twilio_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK rewrites the host for a region or edge found in the environment, which would
    # send requests to a mangled "127.0.x.y" address instead of the fake.
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)


@pytest.fixture
def client(fake: FakeTwilio) -> Iterator[Client]:
    sdk = make_client(fake)
    yield sdk
    close_session(sdk)


def close_session(client: Client) -> None:
    http_client = client.http_client
    assert isinstance(http_client, TwilioHttpClient)
    assert http_client.session is not None
    http_client.session.close()


def send_through_service(
    fake: FakeTwilio, client: Client, body: str, to: str = THAI_NUMBER
) -> MessageInstance:
    return client.messages.create(
        to=to, body=body, messaging_service_sid=fake.messaging_service_sid
    )


def test_requests_reach_the_fake_not_api_twilio_com(fake: FakeTwilio, client: Client) -> None:
    send_through_service(fake, client, "hello")

    request = client.http_client._test_only_last_request
    assert request is not None
    assert request.url == f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert len(fake.messages) == 1


def test_a_thai_message_is_accepted_and_recorded_as_sent(fake: FakeTwilio, client: Client) -> None:
    body = THAI_TEN * 7 + "\n" + "ที่ศูนย์ 1"
    message = client.messages.create(
        to=THAI_NUMBER,
        body=body,
        messaging_service_sid=fake.messaging_service_sid,
        status_callback="https://clinic.example/sms/status",
    )

    [received] = fake.messages
    assert received.body == body
    assert received.to == THAI_NUMBER
    assert received.from_ == ""
    assert received.messaging_service_sid == fake.messaging_service_sid
    assert received.status_callback == "https://clinic.example/sms/status"
    assert received.sid.startswith("SM")
    assert len(received.sid) == 34
    # What the SDK made of the answer.
    assert message.sid == received.sid
    assert message.body == body
    assert message.status == "accepted"
    assert message.from_ is None
    assert message.messaging_service_sid == fake.messaging_service_sid
    assert message.account_sid == fake.account_sid
    assert message.direction == "outbound-api"
    assert message.num_segments == str(received.num_segments)
    assert message.uri == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{received.sid}.json"
    assert message.error_code is None
    assert message.price is None
    assert isinstance(message.date_created, datetime)
    assert abs(message.date_created.timestamp() - received.received_at) < 2
    assert message.date_created.tzinfo == UTC
    assert fake.refused == []


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        pytest.param(THAI_TEN * 7, 1, id="70 Thai characters"),
        pytest.param(THAI_TEN * 7 + "ก", 2, id="71 Thai characters"),
        pytest.param(THAI_TEN * 13 + "กขค", 2, id="133 Thai characters"),
        pytest.param(THAI_TEN * 13 + "กขคง", 2, id="134 Thai characters"),
        pytest.param(THAI_TEN * 13 + "กขคงจ", 3, id="135 Thai characters"),
        pytest.param("a" * 160, 1, id="160 GSM characters"),
        pytest.param("a" * 161, 2, id="161 GSM characters"),
        pytest.param("a" * 306, 2, id="306 GSM characters"),
        pytest.param("a" * 307, 3, id="307 GSM characters"),
        pytest.param("é" * 159 + "€", 2, id="an extension character costs two septets"),
        pytest.param("{" * 80, 1, id="80 extension characters fill one segment"),
        pytest.param("a" * 152 + "€" + "a" * 152, 3, id="an escape is not split across segments"),
        pytest.param("a" * 159 + "ç", 3, id="lowercase c-cedilla is not GSM"),
        pytest.param("Hello 😀" + "a" * 62, 1, id="an emoji takes two UTF-16 units: 70"),
        pytest.param("Hello 😀" + "a" * 63, 2, id="an emoji takes two UTF-16 units: 71"),
        pytest.param("a" * 66 + "😀" + "a" * 66, 3, id="a surrogate pair is not split"),
    ],
)
def test_segments_are_counted_as_twilio_bills_them(
    fake: FakeTwilio, client: Client, body: str, segments: int
) -> None:
    message = send_through_service(fake, client, body)

    [received] = fake.messages
    assert received.body == body
    assert received.num_segments == segments
    assert message.num_segments == str(segments)


def test_the_gsm_alphabet_is_complete() -> None:
    # 128 code points less the escape; the extension table of GSM 03.38.
    assert len(GSM_BASIC_ALPHABET) == 127
    assert len(GSM_EXTENSION_TABLE) == 10
    assert not GSM_BASIC_ALPHABET & GSM_EXTENSION_TABLE
    non_ascii = "£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà€"
    assert count_segments(non_ascii * 3) == 1  # 3 x 41 septets, the € counting twice
    printable_ascii = {chr(c) for c in range(0x20, 0x7F)}
    # Every printable ASCII character but the backtick is GSM (some through the extension).
    assert printable_ascii - GSM_BASIC_ALPHABET - GSM_EXTENSION_TABLE == {"`"}
    assert count_segments("`" * 71) == 2  # UCS-2


def test_a_message_from_a_number_is_queued(fake: FakeTwilio, client: Client) -> None:
    message = client.messages.create(to=THAI_NUMBER, body="Reminder", from_=fake.from_number)

    [received] = fake.messages
    assert received.from_ == fake.from_number
    assert received.messaging_service_sid == ""
    assert message.status == "queued"
    assert message.from_ == fake.from_number
    assert message.messaging_service_sid is None


def test_a_messaging_service_may_be_given_a_sender_from_its_pool(
    fake: FakeTwilio, client: Client
) -> None:
    client.messages.create(
        to=THAI_NUMBER,
        body="Reminder",
        from_=fake.from_number,
        messaging_service_sid=fake.messaging_service_sid,
    )

    [received] = fake.messages
    assert received.from_ == fake.from_number
    assert received.messaging_service_sid == fake.messaging_service_sid


def test_a_wrong_auth_token_is_refused_with_401(fake: FakeTwilio) -> None:
    intruder = make_client(fake, auth_token="0" * 32)

    with pytest.raises(TwilioRestException) as refusal:
        send_through_service(fake, intruder, "hello")
    close_session(intruder)

    assert refusal.value.status == 401
    assert refusal.value.code == 20003
    assert fake.messages == []
    assert fake.refused == [(401, 20003, "Authentication Error - invalid username")]


def test_another_accounts_path_is_refused_with_401(fake: FakeTwilio, client: Client) -> None:
    other_account = "AC" + "1" * 32
    with pytest.raises(TwilioRestException) as refusal:
        client.api.v2010.accounts(other_account).messages.create(
            to=THAI_NUMBER, body="hello", messaging_service_sid=fake.messaging_service_sid
        )

    assert refusal.value.status == 401
    assert refusal.value.code == 20003
    assert fake.messages == []


def test_an_unknown_resource_is_404(fake: FakeTwilio, client: Client) -> None:
    with pytest.raises(TwilioRestException) as refusal:
        client.calls.create(to=THAI_NUMBER, from_=fake.from_number, url="https://x.example/")

    assert refusal.value.status == 404
    assert refusal.value.code == 20404


@pytest.mark.parametrize("number", ["+66999999999", "0812345678", "+6681", "+66 81 234 5678"])
def test_an_invalid_number_is_refused_with_21211(
    fake: FakeTwilio, client: Client, number: str
) -> None:
    fake.invalid_numbers.add("+66999999999")

    with pytest.raises(TwilioRestException) as refusal:
        send_through_service(fake, client, "hello", to=number)

    assert refusal.value.status == 400
    assert refusal.value.code == 21211
    assert number in refusal.value.msg
    assert fake.messages == []
    assert fake.refused == [(400, 21211, f"The 'To' number {number} is not a valid phone number.")]


def test_an_unsubscribed_number_is_refused_with_21610(fake: FakeTwilio, client: Client) -> None:
    fake.unsubscribed_numbers.add(THAI_NUMBER)

    with pytest.raises(TwilioRestException) as refusal:
        send_through_service(fake, client, "hello")
    send_through_service(fake, client, "hello", to="+66811111111")

    assert refusal.value.status == 400
    assert refusal.value.code == 21610
    assert [m.to for m in fake.messages] == ["+66811111111"]


def test_too_many_requests_then_success(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(429)

    with pytest.raises(TwilioRestException) as refusal:
        send_through_service(fake, client, "first try")
    send_through_service(fake, client, "second try")

    assert refusal.value.status == 429
    assert refusal.value.code == 20429
    assert [m.body for m in fake.messages] == ["second try"]
    assert fake.refused == [(429, 20429, "Too Many Requests")]


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_scripted_for_as_many_requests_as_asked(
    fake: FakeTwilio, client: Client, status: int
) -> None:
    fake.fail_next(status, times=2)

    for _ in range(2):
        with pytest.raises(TwilioRestException) as refusal:
            send_through_service(fake, client, "hello")
        assert refusal.value.status == status
        assert refusal.value.code == 20500
    send_through_service(fake, client, "hello")

    assert len(fake.messages) == 1
    assert fake.refused == [(status, 20500, "Internal Server Error")] * 2


def test_fail_next_accepts_only_statuses_twilio_sends(fake: FakeTwilio) -> None:
    with pytest.raises(ValueError, match="can script only"):
        fake.fail_next(502)


def test_without_from_or_messaging_service_is_refused_with_21603(
    fake: FakeTwilio, client: Client
) -> None:
    with pytest.raises(TwilioRestException) as refusal:
        client.messages.create(to=THAI_NUMBER, body="hello")

    assert refusal.value.status == 400
    assert refusal.value.code == 21603
    assert fake.messages == []


def test_another_messaging_service_is_refused_with_21705(fake: FakeTwilio, client: Client) -> None:
    with pytest.raises(TwilioRestException) as refusal:
        client.messages.create(to=THAI_NUMBER, body="hello", messaging_service_sid="MG" + "0" * 32)

    assert refusal.value.code == 21705


def test_a_number_that_is_not_ours_is_refused_with_21606(fake: FakeTwilio, client: Client) -> None:
    with pytest.raises(TwilioRestException) as refusal:
        client.messages.create(to=THAI_NUMBER, body="hello", from_="+15005550001")

    assert refusal.value.code == 21606


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param("", 21602, id="empty"),
        pytest.param("ก" * 1601, 21617, id="over 1600 characters"),
    ],
)
def test_a_missing_or_overlong_body_is_refused(
    fake: FakeTwilio, client: Client, body: str, code: int
) -> None:
    with pytest.raises(TwilioRestException) as refusal:
        send_through_service(fake, client, body)

    assert refusal.value.status == 400
    assert refusal.value.code == code
    assert fake.messages == []


def test_1600_characters_are_accepted(fake: FakeTwilio, client: Client) -> None:
    send_through_service(fake, client, "ก" * 1600)

    assert fake.messages[0].num_segments == 24  # ceil(1600 / 67)


def test_messages_reuse_one_kept_alive_connection(fake: FakeTwilio, client: Client) -> None:
    for n in range(5):
        send_through_service(fake, client, f"message {n}")
    fake.fail_next(429)
    with pytest.raises(TwilioRestException):
        send_through_service(fake, client, "refused, still kept alive")
    send_through_service(fake, client, "after the refusal")

    assert len(fake.messages) == 6
    assert fake.connections_accepted == 1


def test_concurrent_senders_are_all_recorded(fake: FakeTwilio, client: Client) -> None:
    def send_batch(sender: int) -> None:
        sdk = make_client(fake)
        for n in range(25):
            send_through_service(fake, sdk, f"{sender}-{n}")
        close_session(sdk)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send_batch, range(8)))

    messages = fake.messages
    assert len(messages) == 200
    assert len({m.sid for m in messages}) == 200
    assert fake.connections_accepted == 8
    assert {m.body for m in messages} == {f"{s}-{n}" for s in range(8) for n in range(25)}


def test_clear_forgets_messages_refusals_and_scripted_failures(
    fake: FakeTwilio, client: Client
) -> None:
    send_through_service(fake, client, "hello")
    fake.fail_next(429, times=3)
    with pytest.raises(TwilioRestException):
        send_through_service(fake, client, "hello")

    fake.clear()
    send_through_service(fake, client, "after clear")

    assert [m.body for m in fake.messages] == ["after clear"]
    assert fake.refused == []


def test_stop_closes_the_port_and_kept_alive_connections() -> None:
    fake = FakeTwilio().start()
    client = make_client(fake)
    send_through_service(fake, client, "hello")

    fake.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        send_through_service(fake, client, "after stop")
    close_session(client)
    with pytest.raises(RuntimeError):
        _ = fake.base_url
