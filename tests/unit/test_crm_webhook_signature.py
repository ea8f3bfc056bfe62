"""HubSpot v3 webhook signatures: a fresh, exact request passes; anything else is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from hub.webhooks.changes import CrmChange, conf_changes, parse_changes, parse_events
from hub.webhooks.signature import SignatureError, canonical_uri, sign, verify
from schemas.errors import PermanentError

SECRET = "app-client-secret"
URI = "https://hub.example.com/webhooks/crm?portal=62515"
BODY = b'[{"objectId":1246965,"subscriptionType":"deal.propertyChange"}]'
NOW = 1_700_000_000_000


def headers(signature: str, stamp: int) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": str(stamp)}


def test_the_signature_is_hmac_sha256_of_method_uri_body_and_timestamp() -> None:
    by_hand = base64.b64encode(
        hmac.new(SECRET.encode(), b"POST" + URI.encode() + BODY + str(NOW).encode(),
                 hashlib.sha256).digest()
    ).decode()  # fmt: skip
    assert sign(SECRET, "post", URI, BODY, NOW) == by_hand
    verify(SECRET, "POST", URI, BODY, headers(by_hand, NOW), now_ms=lambda: NOW + 1000)


@pytest.mark.parametrize(
    ("body", "secret", "uri", "age_ms", "signed", "reason"),
    [
        (BODY.replace(b"1246965", b"1246966"), SECRET, URI, 0, True, "does not match"),
        (BODY, "another-secret", URI, 0, True, "does not match"),
        (BODY, SECRET, URI.replace("62515", "1"), 0, True, "does not match"),
        (BODY, SECRET, URI, 5 * 60 * 1000 + 1, True, "stale"),
        (BODY, SECRET, URI, -10 * 60 * 1000, True, "future"),
        (BODY, SECRET, URI, 0, False, "missing"),
    ],
)
def test_an_altered_stale_or_unsigned_request_is_refused(
    body: bytes, secret: str, uri: str, age_ms: int, signed: bool, reason: str
) -> None:
    stamp = NOW - age_ms
    given = headers(sign(secret, "POST", URI, BODY, stamp), stamp) if signed else {}
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, "POST", uri, body, given, now_ms=lambda: NOW)


def test_the_uri_is_signed_with_hubspot_s_decoded_escapes() -> None:
    assert canonical_uri("https://h/x%3Ay%2Fz%20w") == "https://h/x:y/z%20w"
    assert sign(SECRET, "POST", "https://h/a%3Ab", b"", NOW) == sign(
        SECRET, "POST", "https://h/a:b", b"", NOW
    )


def test_events_name_the_changed_objects() -> None:
    body = (b'[{"objectId": 7, "subscriptionType": "company.merge"},'
            b' {"objectId": 9, "subscriptionType": "deal.propertyChange"},'
            b' {"objectId": 3, "subscriptionType": "ticket.creation"}]')  # fmt: skip
    assert parse_events(body) == [
        CrmChange("companies", "7", "merge"),
        CrmChange("deals", "9", "propertyChange"),
    ]
    with pytest.raises(ValueError, match="JSON array"):
        parse_events(b'{"objectId": 1}')
    changes = parse_events(body)
    assert conf_changes([*changes, *changes]) == ["companies:7", "deals:9"]  # once each, sorted
    assert parse_changes(conf_changes(changes)) == [("companies", "7"), ("deals", "9")]
    assert parse_changes(None) == []
    for bad in (["company:7"], ["deals:9x"], "deals:9"):
        with pytest.raises(PermanentError, match="conf changes"):
            parse_changes(bad)


def test_the_airflow_trigger_needs_a_user_and_retries_an_unreachable_airflow() -> None:
    import socket

    from hub.settings import ConnectionInfo
    from hub.webhooks.airflow import AirflowTrigger
    from schemas.errors import TransientError

    with pytest.raises(PermanentError, match="login and password"):
        AirflowTrigger.from_connection(ConnectionInfo("hub_airflow_api", host="127.0.0.1"))
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    trigger = AirflowTrigger.from_connection(ConnectionInfo(
        "hub_airflow_api", host="127.0.0.1", port=port, login="admin", password="pw",
    ))  # fmt: skip
    assert trigger.base_url == f"http://127.0.0.1:{port}" and "pw" not in repr(trigger)
    with pytest.raises(TransientError, match="unreachable"):
        trigger([CrmChange("deals", "9", "propertyChange")])
