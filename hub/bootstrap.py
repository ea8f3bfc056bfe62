"""Wiring in one place: build the ledger and connectors from settings, connect to nothing early."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hub import settings
from hub.ledger import Ledger

if TYPE_CHECKING:
    from connectors.carrier.port import CarrierPort
    from connectors.crm.port import CrmPort
    from connectors.edi.channels import Archive, Mailbox
    from connectors.erp.port import ErpPort
    from hub.flows.logistics_config import LogisticsConfig
    from schemas.config import PartnerProfile


class Hub:
    """The engine's context for one flow run: ledger, config and lazily built connectors."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        erp: ErpPort | None = None,
        carrier: CarrierPort | None = None,
        crm: CrmPort | None = None,
        logistics: LogisticsConfig | None = None,
        home: Path | None = None,
        partners: dict[str, PartnerProfile] | None = None,
    ):
        self.ledger = ledger
        self._erp = erp
        self._carrier = carrier
        self._crm = crm
        self._logistics = logistics
        self.home = home or settings.hub_home()
        self._partners = partners
        self._mailboxes: dict[str, Mailbox] = {}

    @classmethod
    def from_env(cls, *, migrate: bool = True) -> Hub:
        """The hub as configured by the environment (HUB_DATABASE_URL, AIRFLOW_CONN_*)."""
        ledger = Ledger(settings.database_url())
        if migrate:
            ledger.upgrade()
        return cls(ledger)

    @cached_property
    def erp(self) -> ErpPort:
        """The ERP connector named by the ``hub_erp`` connection."""
        if self._erp is not None:
            return self._erp
        from connectors.erp.tryton import TrytonErp

        return TrytonErp.from_connection(settings.connection("hub_erp"))

    @cached_property
    def logistics(self) -> LogisticsConfig:
        """The carrier profile and logistics settings (config/carrier.yaml, validated)."""
        if self._logistics is not None:
            return self._logistics
        from hub.flows.logistics_config import load_logistics_config

        return load_logistics_config()

    @cached_property
    def carrier(self) -> CarrierPort:
        """The configured carrier's port (connections ``hub_carrier_bcs`` / ``_express``)."""
        if self._carrier is not None:
            return self._carrier
        from hub.flows.logistics_carrier import carrier_for

        return carrier_for(self.logistics)

    @cached_property
    def crm(self) -> CrmPort:
        """The CRM account of the ``hub_crm`` connection (id property from config/crm.yaml)."""
        if self._crm is not None:
            return self._crm
        from hub.flows.crm_config import crm_from_settings, load_config

        return crm_from_settings(self.ledger, load_config())

    @property
    def partners(self) -> dict[str, PartnerProfile]:
        """Partner profiles from config/partners (validated once per run)."""
        if self._partners is None:
            from hub.config import load_partners

            self._partners = load_partners()
        return self._partners

    def mailbox(self, profile: PartnerProfile) -> Mailbox:
        """The partner's mailbox: local directories under the hub home, or SFTP."""
        if profile.id in self._mailboxes:
            return self._mailboxes[profile.id]
        from connectors.edi.channels import LocalMailbox, SftpMailbox

        channel = profile.channel
        if channel.type == "sftp" and channel.sftp is not None:
            conn = settings.connection(channel.sftp.conn_id)
            box: Mailbox = SftpMailbox(
                conn.host or "127.0.0.1",
                conn.port or 22,
                conn.login or "",
                password=conn.password,
                key_path=conn.extra.get("key_file"),
                known_hosts=conn.extra.get("known_hosts"),  # the server's key is verified:
                host_key=conn.extra.get("host_key"),  # a file or a pinned key, else refused
                remote_inbox=channel.sftp.remote_inbox,
                remote_outbox=channel.sftp.remote_outbox,
                min_age_seconds=channel.min_age_seconds,
            )
        else:
            inbox = self.home / (channel.inbox or f"partners/{profile.id}/in")
            outbox = self.home / (channel.outbox or f"partners/{profile.id}/out")
            box = LocalMailbox(inbox, outbox, min_age_seconds=channel.min_age_seconds)
        self._mailboxes[profile.id] = box
        return box

    @cached_property
    def archive(self) -> Archive:
        """Raw inbound and outbound files, content-addressed under the hub home."""
        from connectors.edi.channels import Archive

        return Archive(self.home / "archive")

    @property
    def quarantine_dir(self) -> Path:
        """Where files nobody can acknowledge are moved (their dead letter points here)."""
        path = self.home / "quarantine"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        """Release connections."""
        for box in self._mailboxes.values():
            close = getattr(box, "close", None)
            if close:
                close()
        if "carrier" in self.__dict__:  # built (or given) and used in this run
            self.carrier.close()
        self.ledger.dispose()
