"""E-invoice flow configuration: ``config/einvoice.yaml``, the rules folder and the mailer."""

from __future__ import annotations

import os
from pathlib import Path

from connectors.einvoice.mail import Mailer, SmtpMailer
from hub import settings
from hub.config import load_model
from schemas.einvoice_config import EInvoiceConfig

CONFIG_ENV = "HUB_EINVOICE_CONFIG"
CONFIG_FILE = "einvoice.yaml"
SMTP_CONN_ID = "hub_smtp"


def config_path() -> Path:
    """``$HUB_EINVOICE_CONFIG`` or ``<config dir>/einvoice.yaml``."""
    return Path(os.environ.get(CONFIG_ENV) or settings.config_dir() / CONFIG_FILE)


def load_config(path: Path | None = None) -> EInvoiceConfig | None:
    """The e-invoice configuration; None when the file does not exist (nobody gets one)."""
    target = path or config_path()
    if not target.exists():
        return None
    return load_model(target, EInvoiceConfig)


def smtp_mailer() -> Mailer:
    """The ``hub_smtp`` connection as a mailer (PermanentError naming it when unset)."""
    conn = settings.connection(SMTP_CONN_ID)
    extra = conn.extra
    starttls = extra.get("starttls")
    return SmtpMailer(
        host=conn.host or "127.0.0.1",
        port=conn.port or 25,
        login=conn.login,
        password=conn.password,
        sender=str(extra.get("invoice_from") or extra.get("from") or "erp-sales-hub@localhost"),
        starttls=None if starttls is None else str(starttls).lower() == "true",
        timeout=float(extra.get("timeout", 30)),
    )
