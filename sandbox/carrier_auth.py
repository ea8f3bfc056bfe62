"""Sandbox carrier: the short-circuit reply, and who may call (BCS, Express, the look-up).

BCS wants HTTP Basic (application id/token) plus the ``cis:Authentification`` SOAP header
(user/signature); Express wants a WS-Security UsernameToken (text or digest password); the
look-up endpoint accepts HTTP Basic with either API's credentials.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from lxml import etree

from sandbox.carrier_soap import (
    CIS_NS,
    WSSE_NS,
    WSU_NS,
    ContractError,
    Contracts,
    bcs_password_expired,
    soap_fault,
)
from sandbox.carrier_state import CarrierCredentials, CarrierState


class Reply(Exception):
    """Short-circuit: send this status/body now."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def text_at(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else None


class AuthChecks:
    """The checks a request passes before the carrier acts on it."""

    credentials: CarrierCredentials
    contracts: Contracts
    state: CarrierState

    def _check_bcs_auth(self, headers: Any, soap_header: etree._Element | None, op: str) -> None:
        creds = self.credentials
        expected = base64.b64encode(f"{creds.bcs_app_id}:{creds.bcs_app_token}".encode()).decode()
        if not secrets.compare_digest(headers.get("Authorization", ""), f"Basic {expected}"):
            raise Reply(
                401,
                b"<html><body>401 Authorization Required</body></html>",
                {"WWW-Authenticate": 'Basic realm="DHL Geschaeftskundenversand"'},
            )
        if op == "getVersion":
            return
        auth = None if soap_header is None else soap_header.find(f"{{{CIS_NS}}}Authentification")
        if auth is None:
            raise Reply(
                500,
                soap_fault(
                    "soapenv:Client", "Authentification header missing (cis:user, cis:signature)"
                ),
            )
        self._validate("bcs", auth)
        user = text_at(auth, f"{{{CIS_NS}}}user") or ""
        signature = text_at(auth, f"{{{CIS_NS}}}signature") or ""
        if not (
            secrets.compare_digest(user, creds.bcs_user)
            and secrets.compare_digest(signature, creds.bcs_signature)
        ):
            raise Reply(500, soap_fault("soapenv:Client", "Authentication failed: login failed"))
        if self.state.password_expired:
            raise Reply(200, bcs_password_expired(self.contracts))

    def _check_wsse(self, soap_header: etree._Element | None) -> None:
        token = (
            None
            if soap_header is None
            else soap_header.find(f"{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        )
        failed = Reply(
            500,
            soap_fault(
                "wsse:FailedAuthentication",
                "The security token could not be authenticated or authorized",
            ),
        )
        if token is None:
            raise failed
        username = text_at(token, f"{{{WSSE_NS}}}Username") or ""
        password_el = token.find(f"{{{WSSE_NS}}}Password")
        password = password_el.text if password_el is not None and password_el.text else ""
        creds = self.credentials
        if password_el is not None and password_el.get("Type", "").endswith("#PasswordDigest"):
            nonce = text_at(token, f"{{{WSSE_NS}}}Nonce") or ""
            created = text_at(token, f"{{{WSU_NS}}}Created") or ""
            try:
                raw_nonce = base64.b64decode(nonce)
            except ValueError:
                raise failed from None
            digest = hashlib.sha1(raw_nonce + created.encode() + creds.express_password.encode())
            expected = base64.b64encode(digest.digest()).decode()
        else:
            expected = creds.express_password
        if not (
            secrets.compare_digest(username, creds.express_username)
            and secrets.compare_digest(password, expected)
        ):
            raise failed

    def _validate(self, endpoint: str, element: etree._Element) -> None:
        schema = {
            "bcs": lambda: self.contracts.bcs_schema,
            "express/ship": lambda: self.contracts.express_ship_schema,
            "express/track": lambda: self.contracts.express_track_schema,
        }[endpoint]()
        try:
            self.contracts.validate(schema, element)
        except ContractError as exc:
            raise Reply(500, soap_fault("soapenv:Client", str(exc))) from exc

    def check_basic(self, headers: Any) -> None:
        """HTTP Basic with the BCS application or the Express user (the look-up endpoint)."""
        creds = self.credentials
        given = headers.get("Authorization", "")
        accepted = [
            (creds.bcs_app_id, creds.bcs_app_token),
            (creds.express_username, creds.express_password),
        ]
        for user, password in accepted:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            if secrets.compare_digest(given, f"Basic {token}"):
                return
        raise Reply(
            401,
            b'{"error": "authentication required"}',
            {"WWW-Authenticate": 'Basic realm="sandbox carrier"'},
        )
