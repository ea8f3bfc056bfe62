"""E-invoices by e-mail: one message per invoice, the document attached, over SMTP.

``Mailer`` is the port; ``SmtpMailer`` sends through a server (the ``hub_smtp`` connection's
host, port, login, password and ``from``), ``FakeMailer`` keeps messages in memory. The
Message-ID is derived from the document's hash, so a resend after a crash (the outcome of
the first send unknown) carries the same id and the same bytes: a receiving system that
deduplicates by Message-ID sees one invoice.
"""

from __future__ import annotations

import smtplib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from email.message import EmailMessage

from schemas.errors import HubError, PermanentError, TransientError


@dataclass(frozen=True)
class InvoiceMail:
    """What one e-invoice mail carries."""

    to: str
    subject: str
    body: str
    attachment: bytes
    file_name: str
    media_type: str  # "application/pdf" or "application/xml"
    digest: str  # sha256 of the attachment: the Message-ID's left part


class Mailer(ABC):
    """Sends one e-invoice mail; TransientError to retry, PermanentError to give up."""

    @abstractmethod
    def send(self, mail: InvoiceMail) -> str:
        """Send ``mail``; returns its Message-ID."""


def message(mail: InvoiceMail, sender: str) -> EmailMessage:
    """The MIME message of ``mail`` (same input, same Message-ID)."""
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Message-ID"] = f"<einvoice-{mail.digest[:32]}@{sender.rpartition('@')[2] or 'hub'}>"
    msg.set_content(mail.body)
    maintype, _, subtype = mail.media_type.partition("/")
    msg.add_attachment(mail.attachment, maintype=maintype, subtype=subtype, filename=mail.file_name)
    return msg


@dataclass
class SmtpMailer(Mailer):
    """An SMTP server; STARTTLS when ``starttls`` (the default when a login is set)."""

    host: str
    port: int = 25
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "erp-sales-hub@localhost"
    starttls: bool | None = None
    timeout: float = 30.0

    def send(self, mail: InvoiceMail) -> str:
        msg = message(mail, self.sender)
        starttls = bool(self.login) if self.starttls is None else self.starttls
        where = f"SMTP {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.login:
                    smtp.login(self.login, self.password or "")
                smtp.send_message(msg)
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise _classified(exc, where, mail) from exc
        return str(msg["Message-ID"])


def _classified(exc: Exception, where: str, mail: InvoiceMail) -> HubError:
    """An SMTP failure as the hub's error: permanent (a refused recipient or login, a 5xx
    answer) or transient (4xx, unreachable, timed out: the next run sends the same mail)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        why = f"refused the recipient {mail.to}: {exc.recipients}; fix the customer's e-mail "
        return PermanentError(f"{where} {why}in config/einvoice.yaml", system="smtp")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        why = f"login refused ({exc.smtp_code}); check the hub_smtp connection's login"
        return PermanentError(f"{where}: {why}", system="smtp")
    if isinstance(exc, smtplib.SMTPResponseException):
        kind = PermanentError if 500 <= exc.smtp_code < 600 else TransientError
        return kind(f"{where} answered {exc.smtp_code} for {mail.file_name}", system="smtp")
    what = f"{exc.__class__.__name__}: {exc}"
    return TransientError(
        f"{where} unreachable while sending {mail.file_name}: {what}", system="smtp"
    )


class FakeMailer(Mailer):
    """Keeps every message it was asked to send (tests, dry demos)."""

    def __init__(self, sender: str = "invoices@hub.example") -> None:
        self.sender = sender
        self.sent: list[EmailMessage] = []

    def send(self, mail: InvoiceMail) -> str:
        msg = message(mail, self.sender)
        self.sent.append(msg)
        return str(msg["Message-ID"])
