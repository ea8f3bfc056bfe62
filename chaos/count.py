"""Counts in the target systems themselves: Tryton over JSON-RPC, the CRM's HTTP API, the
carrier sandbox's shipment list, the partners' outboxes and inboxes, and the hub's open dead
letters (``hub dead-letters list --json``); compared with what was sent (``Expected``).

Every problem is a ``Finding`` of one kind: ``lost``, ``duplicated``, ``stuck``,
``dead_letter`` (open, not from an injected bad input) or ``mismatch`` (two systems disagree).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

from chaos.edifact import Document, OutboxFile, read_file
from chaos.seed import Expected
from chaos.world import StaffSession, World

KINDS = ("lost", "duplicated", "stuck", "dead_letter", "mismatch")
DEAL_STATES = ("confirmed", "processing", "done", "cancelled")  # config/crm.yaml deal_stages
FLOW_IN, FLOW_OUT = "edi_orders_inbound", "edi_documents_outbound"
Erp = dict[str, Any]  # what _erp read from Tryton, by model
Rows = list[dict[str, Any]]  # records as JSON objects (CRM records, dead letters)
Files = dict[str, list[OutboxFile]]  # partner id -> the files in its outbox


@dataclass
class Finding:
    """One thing wrong in a target system, named so a person can find it."""

    kind: str
    system: str
    flow: str
    what: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "system": self.system, "flow": self.flow, "what": self.what}


@dataclass
class Tally:
    """Per system and object: how many were expected, how many the system holds."""

    system: str
    objects: str
    expected: int
    found: int
    lost: int = 0
    duplicated: int = 0


@dataclass
class Count:
    """The result of one count over every target system."""

    tallies: list[Tally] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    expected_letters: int = 0
    inbox_files: list[str] = field(default_factory=list)
    backlog: dict[str, int] = field(default_factory=dict)  # flow -> items still to do
    errors: list[str] = field(default_factory=list)  # a system could not be counted

    def add(self, kind: str, system: str, flow: str, what: str) -> None:
        """File one finding."""
        self.findings.append(Finding(kind, system, flow, what))

    def total(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def as_json(self) -> dict[str, Any]:
        return {
            "tallies": [t.__dict__ for t in self.tallies],
            "findings": [f.as_json() for f in self.findings],
            "totals": {k: self.total(k) for k in KINDS},
            "open_dead_letters": len(self.dead_letters),
            "expected_dead_letters": self.expected_letters,
            "inbox_files": self.inbox_files,
            "backlog": self.backlog,
            "errors": self.errors,
        }


class Census(StaffSession):
    """Counts a world against what its seeder sent."""

    def __init__(self, world: World, expected: Expected) -> None:
        super().__init__(world)
        self.expected = expected

    def count(self) -> Count:
        result = Count()
        letters = self._dead_letters(result)
        self._inboxes(result)
        try:
            erp = self._erp()
        except Exception as exc:  # noqa: BLE001 - a count that cannot reach the ERP says so
            self.reset()
            result.errors.append(f"ERP not countable: {type(exc).__name__}: {exc}")
            return result
        self._sales(result, erp)
        self._carrier(result, erp, letters)
        self._crm(result, erp, letters)
        self._outboxes(result, erp, letters)
        return result

    # -- dead letters -----------------------------------------------------------------------

    def _dead_letters(self, result: Count) -> list[dict[str, Any]]:
        proc = self.world.hub("dead-letters", "list", "--json", "--limit", "10000")
        if proc.returncode != 0:
            result.errors.append(
                f"hub dead-letters list exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
            )
            return []
        try:
            letters: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError as exc:
            result.errors.append(f"hub dead-letters list --json is not JSON: {exc}")
            return []
        result.dead_letters = letters
        for letter in letters:
            if self._expected_letter(letter):
                result.expected_letters += 1
                continue
            result.add("dead_letter", str(letter.get("system") or "hub"), str(letter.get("flow")),
                       f"#{letter.get('id')} {letter.get('record_key')}: "
                       f"{str(letter.get('reason'))[:220]}")  # fmt: skip
        return letters

    def _expected_letter(self, letter: dict[str, Any]) -> bool:
        text = " ".join(str(letter.get(k) or "") for k in ("record_key", "reason")) + json.dumps(
            letter.get("payload"), default=str
        )
        return any(
            bad.flow == letter.get("flow") and any(m and m in text for m in bad.markers)
            for bad in self.expected.bad
        )

    # -- inboxes ----------------------------------------------------------------------------

    def _inboxes(self, result: Count) -> None:
        for partner in self.world.partners.values():
            if not partner.inbox.is_dir():
                continue
            for path in sorted(partner.inbox.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                name = f"{partner.id}/{path.name}"
                result.inbox_files.append(name)
                result.add("stuck", "edi", "edi_orders_inbound", f"{name} still in the inbox")
        result.backlog["edi_orders_inbound"] = len(result.inbox_files)

    # -- ERP --------------------------------------------------------------------------------

    def _erp(self) -> dict[str, Any]:
        op = self.operator
        refs = sorted(self.expected.orders)
        fields = ["id", "number", "reference", "state", "party"]
        sales = op.search_read("sale.sale", [["reference", "in", refs]], fields)
        shipments = op.search_read(
            "stock.shipment.out", [], ["id", "number", "state", "reference", "customer"]
        )
        invoices = op.search_read(
            "account.invoice", [["type", "=", "out"]], ["id", "number", "state", "party"]
        )
        (company,) = op.search_read("company.company", [], ["party"])
        parties = [
            p
            for p in op.search_read("party.party", [], ["id", "name"])
            if p["id"] != company["party"]
        ]
        identifiers = op.search_read("party.identifier", [], ["party", "code"])
        mechanisms = op.search_read(
            "party.contact_mechanism", [], ["party", "type", "value", "name"]
        )
        return {
            "sales": sales,
            "shipments": shipments,
            "invoices": invoices,
            "parties": parties,
            "gln": {i["code"]: i["party"] for i in identifiers},
            "mechanisms": mechanisms,
        }

    def _sales(self, result: Count, erp: dict[str, Any]) -> None:
        by_ref = Counter(s["reference"] for s in erp["sales"])
        expected = [o for o in self.expected.orders.values() if o.expect_sale]
        tally = Tally("erp", "sales (by partner order)", len(expected), 0)
        for order in self.expected.orders.values():
            n = by_ref.get(order.number, 0)
            tally.found += n
            if order.expect_sale and n == 0:
                tally.lost += 1
                result.add(
                    "lost",
                    "erp",
                    "edi_orders_inbound",
                    f"order {order.number} ({order.partner}): no sale in Tryton",
                )
            elif n > 1:
                tally.duplicated += n - 1
                result.add(
                    "duplicated",
                    "erp",
                    "edi_orders_inbound",
                    f"order {order.number} ({order.partner}): {n} sales in Tryton",
                )
            elif not order.expect_sale and n:
                result.add(
                    "mismatch",
                    "erp",
                    "edi_orders_inbound",
                    f"order {order.number} should have been refused but made a sale",
                )
        result.tallies.append(tally)

    # -- carrier ----------------------------------------------------------------------------

    def _carrier(self, result: Count, erp: dict[str, Any], letters: list[dict[str, Any]]) -> None:
        url = self.world.carrier.url
        rows: list[dict[str, Any]] = requests.get(f"{url}/__sandbox/shipments", timeout=30).json()
        active = [r for r in rows if not r.get("deleted")]
        by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in active:
            by_ref[str(row.get("reference"))].append(row)
        handed = [s for s in erp["shipments"] if s["state"] in ("packed", "done")]
        numbers = {str(s["number"]) for s in erp["shipments"]}
        tally = Tally("carrier", "shipments (by ERP shipment)", len(handed), len(active))
        backlog = 0
        for shipment in handed:
            number = str(shipment["number"])
            found = by_ref.get(number, [])
            lettered = _named_in(letters, ("logistics_shipments",), number)
            if not found:  # lost, unless reported as its dead letter
                lost = f"ERP shipment {number} ({shipment['state']}): no carrier shipment"
                flow = "logistics_shipments"
                backlog += _lost_unless_dead(result, tally, letters, number, lost, "carrier", flow)
                continue
            if len(found) > 1:
                tally.duplicated += len(found) - 1
                result.add("duplicated", "carrier", "logistics_shipments",
                           f"ERP shipment {number}: {len(found)} carrier shipments "
                           f"({', '.join(r['number'] for r in found)})")  # fmt: skip
            tracking = shipment.get("reference") or ""
            if tracking not in {r["number"] for r in found}:
                if not lettered:
                    backlog += 1
                result.add("mismatch", "carrier", "logistics_shipments",
                           f"ERP shipment {number}: ERP tracking {tracking or 'none'} but the "
                           f"carrier holds {', '.join(r['number'] for r in found)}")  # fmt: skip
        for ref, found in sorted(by_ref.items()):
            if ref not in numbers:
                result.add("mismatch", "carrier", "logistics_shipments",
                           f"carrier shipment(s) {', '.join(r['number'] for r in found)} for "
                           f"reference {ref}, which is no ERP shipment")  # fmt: skip
        result.tallies.append(tally)
        result.backlog["logistics_shipments"] = backlog

    # -- CRM --------------------------------------------------------------------------------

    def _crm_records(self, kind: str) -> list[dict[str, Any]]:
        url = f"{self.world.crm.url}/__sandbox/records/{kind}"
        data = requests.get(url, timeout=30).json()
        rows: list[dict[str, Any]] = data.get("results", []) if isinstance(data, dict) else data
        return rows

    def _crm(self, result: Count, erp: Erp, letters: Rows) -> None:
        """CRM companies, contacts and deals against the ERP, and the companies CRM users made."""
        companies = self._crm_records("companies")
        contacts = self._crm_records("contacts")
        deals = self._crm_records("deals")
        push_backlog = self._crm_companies(result, erp, letters, companies)
        self._crm_made_companies(result, erp, companies)
        push_backlog += self._crm_contacts(result, erp, letters, contacts)
        push_backlog += self._crm_deals(result, erp, letters, deals)
        result.backlog["crm_push"] = push_backlog

    def _crm_companies(self, result: Count, erp: Erp, letters: Rows, companies: Rows) -> int:
        """One CRM company per ERP party; returns the parties still to push."""
        backlog = 0
        by_id = Counter(str(c["properties"].get("hub_erp_id") or "") for c in companies)
        bound = sum(1 for c in companies if c["properties"].get("hub_erp_id"))
        tally = Tally("crm", "companies (by ERP party)", len(erp["parties"]), bound)
        for party in erp["parties"]:
            pid = str(party["id"])
            n = by_id.get(pid, 0)
            if n == 0:
                lost = f"ERP party {pid} {party['name']!r}: no CRM company"
                backlog += _lost_unless_dead(result, tally, letters, pid, lost, "crm", "crm_push")
            elif n > 1:
                tally.duplicated += n - 1
                result.add("duplicated", "crm", "crm_push",
                           f"ERP party {pid} {party['name']!r}: {n} CRM companies")  # fmt: skip
        result.tallies.append(tally)
        return backlog

    def _crm_made_companies(self, result: Count, erp: Erp, companies: Rows) -> None:
        """Companies a CRM user made: one ERP party each, and still one CRM company."""
        by_name = Counter(c["properties"].get("name") for c in companies)
        erp_names = Counter(p["name"] for p in erp["parties"])
        made = self.expected.crm_companies
        tally = Tally("erp", "parties (from CRM companies)", sum(1 for v in made.values() if v), 0)
        pull_backlog = 0
        for name, valid in sorted(made.items()):
            n_erp = erp_names.get(name, 0)
            tally.found += n_erp
            if by_name.get(name, 0) > 1:
                tally.duplicated += by_name[name] - 1
                result.add("duplicated", "crm", "crm_pull",
                           f"CRM company {name!r}: {by_name[name]} records in the CRM")  # fmt: skip
            if valid and n_erp == 0:
                tally.lost += 1
                pull_backlog += 1
                result.add("lost", "erp", "crm_pull", f"CRM company {name!r}: no ERP party")
            elif n_erp > 1:
                tally.duplicated += n_erp - 1
                result.add("duplicated", "erp", "crm_pull",
                           f"CRM company {name!r}: {n_erp} ERP parties")  # fmt: skip
            elif not valid and n_erp:
                result.add("mismatch", "erp", "crm_pull",
                           f"invalid CRM company {name!r} became an ERP party")  # fmt: skip
        result.tallies.append(tally)
        result.backlog["crm_pull"] = pull_backlog

    def _crm_contacts(self, result: Count, erp: Erp, letters: Rows, contacts: Rows) -> int:
        """One CRM contact per named person of an ERP party; returns the parties to push."""
        backlog = 0
        people: dict[str, set[str]] = defaultdict(set)
        for mech in erp["mechanisms"]:
            if mech.get("name"):
                people[str(mech["party"])].add(mech["name"].strip().lower())
        crm_people: Counter[str] = Counter()
        key_count = Counter(str(c["properties"].get("hub_erp_id") or "") for c in contacts)
        for key in key_count:
            if ":" in key:
                crm_people[key.split(":", 1)[0]] += 1
        want = sum(len(v) for v in people.values())
        tally = Tally("crm", "contacts (by ERP contact person)", want, len(contacts))
        for pid, names in sorted(people.items()):
            n = crm_people.get(pid, 0)
            if n < len(names) and not _named_in(letters, ("crm_push",), pid):
                tally.lost += len(names) - n
                backlog += 1
                result.add(
                    "lost",
                    "crm",
                    "crm_push",
                    f"ERP party {pid}: {len(names)} contact person(s), {n} CRM contact(s)",
                )
        for key, n in sorted(key_count.items()):
            if key and n > 1:
                tally.duplicated += n - 1
                result.add("duplicated", "crm", "crm_push", f"CRM contact {key}: {n} records")
        result.tallies.append(tally)
        return backlog

    def _crm_deals(self, result: Count, erp: Erp, letters: Rows, deals: Rows) -> int:
        """One CRM deal per hub sale in a pushed state; returns the sales still to push."""
        backlog = 0
        pushed = [s for s in erp["sales"] if s["state"] in DEAL_STATES]
        deal_ids = Counter(str(d["properties"].get("hub_erp_id") or "") for d in deals)
        deal_refs = Counter(str(d["properties"].get("hub_order_reference") or "") for d in deals)
        tally = Tally("crm", "deals (by ERP sale)", len(pushed), len(deals))
        for sale in pushed:
            sid = str(sale["id"])
            n = max(deal_ids.get(sid, 0), deal_refs.get(str(sale["reference"]), 0))
            if n == 0:
                lost = f"ERP sale {sid} (order {sale['reference']}): no CRM deal"
                backlog += _lost_unless_dead(result, tally, letters, sid, lost, "crm", "crm_push")
            elif n > 1:
                tally.duplicated += n - 1
                result.add(
                    "duplicated",
                    "crm",
                    "crm_push",
                    f"ERP sale {sid} (order {sale['reference']}): {n} CRM deals",
                )
        result.tallies.append(tally)
        return backlog

    # -- outboxes ---------------------------------------------------------------------------

    def _outboxes(self, result: Count, erp: Erp, letters: Rows) -> None:
        """What partners received: readable, unduplicated files, one document per ERP record."""
        files: Files = {}
        for partner in self.world.partners.values():
            box = partner.outbox
            files[partner.id] = (
                [read_file(p) for p in sorted(box.iterdir()) if p.is_file()] if box.is_dir() else []
            )
        _outbox_duplicates(result, files)
        self._contrl(result, files)
        self._ordrsp(result, erp, files)
        partners = self.world.partners
        customer = {party: pid for pid, p in partners.items() if (party := erp["gln"].get(p.gln))}
        out_backlog = self._desadv(result, erp, letters, files, customer)
        out_backlog += self._invoic(result, erp, letters, files, customer)
        result.backlog[FLOW_OUT] = out_backlog

    def _contrl(self, result: Count, files: Files) -> None:
        """One CONTRL per interchange for partners that always acknowledge."""
        partners = self.world.partners
        want = [
            (p, ref) for p, ref, _ in self.expected.interchanges if partners[p].contrl == "always"
        ]
        contrl = Counter((pid, d.acknowledged) for pid, d in _documents(files, "CONTRL"))
        tally = Tally("edi", "CONTRL (by interchange)", len(want), sum(contrl.values()))
        for pid, ref in want:
            n = contrl.get((pid, ref), 0)
            if n == 0:
                tally.lost += 1
                result.add("lost", "edi", FLOW_IN, f"{pid}: no CONTRL for interchange {ref}")
            elif n > 1:
                tally.duplicated += n - 1
                result.add("duplicated", "edi", FLOW_IN, f"{pid}: {n} CONTRL for interchange {ref}")
        result.tallies.append(tally)

    def _ordrsp(self, result: Count, erp: Erp, files: Files) -> None:
        """One ORDRSP per order that made a sale (a re-sent order may get a new one)."""
        partners = self.world.partners
        sale_refs = {s["reference"] for s in erp["sales"]}
        ordrsp = Counter((pid, ref) for pid, d in _documents(files, "ORDRSP") for ref in d.orders)
        orders = [
            o
            for o in self.expected.orders.values()
            if o.expect_sale and partners[o.partner].ordrsp and o.number in sale_refs
        ]
        tally = Tally("edi", "ORDRSP (by order)", len(orders), sum(ordrsp.values()))
        for order in orders:
            n = ordrsp.get((order.partner, order.number), 0)
            allowed = 1 + order.resent
            if n == 0:
                tally.lost += 1
                result.add("lost", "edi", FLOW_IN, f"{order.partner}: no ORDRSP for {order.number}")
            elif n > allowed:
                tally.duplicated += n - allowed
                result.add("duplicated", "edi", FLOW_IN,
                           f"{order.partner}: {n} ORDRSP for {order.number} "
                           f"(re-sent {order.resent} time(s))")  # fmt: skip
        result.tallies.append(tally)

    def _desadv(
        self, result: Count, erp: Erp, letters: Rows, files: Files, customer: dict[Any, str]
    ) -> int:
        """One DESADV (and at most one replacement) per shipped shipment of a partner customer."""
        backlog = 0
        shipped = self._owed(erp["shipments"], ("done",), "customer", "DESADV", customer)
        desadv: dict[tuple[str, str], list[str]] = defaultdict(list)
        for pid, d in _documents(files, "DESADV"):
            desadv[(pid, d.bgm_number)].append(d.bgm_function)
        tally = Tally("edi", "DESADV (by shipped shipment)", len(shipped), 0)
        for pid, number in shipped:
            functions = _desadv_for(desadv, pid, number)
            tally.found += len(functions)
            if not functions:
                lost = f"{pid}: no DESADV for shipment {number}"
                backlog += _lost_unless_dead(result, tally, letters, number, lost)
            elif functions.count("9") > 1 or functions.count("5") > 1:
                tally.duplicated += len(functions) - 1
                result.add("duplicated", "edi", FLOW_OUT,
                           f"{pid}: DESADV for shipment {number} sent {len(functions)} times "
                           f"(functions {', '.join(functions)})")  # fmt: skip
        result.tallies.append(tally)
        return backlog

    def _invoic(
        self, result: Count, erp: Erp, letters: Rows, files: Files, customer: dict[Any, str]
    ) -> int:
        """One INVOIC per posted invoice of a partner customer; returns the invoices to send."""
        backlog = 0
        posted = self._owed(erp["invoices"], ("posted", "paid"), "party", "INVOIC", customer)
        invoic = Counter((pid, d.bgm_number) for pid, d in _documents(files, "INVOIC"))
        tally = Tally("edi", "INVOIC (by posted invoice)", len(posted), sum(invoic.values()))
        for pid, number in posted:
            n = invoic.get((pid, number), 0)
            if n == 0:
                lost = f"{pid}: no INVOIC for invoice {number}"
                backlog += _lost_unless_dead(result, tally, letters, number, lost)
            elif n > 1:
                tally.duplicated += n - 1
                result.add("duplicated", "edi", FLOW_OUT, f"{pid}: {n} INVOIC for {number}")
        result.tallies.append(tally)
        return backlog

    def _owed(
        self, rows: Rows, states: tuple[str, ...], party: str, doc: str, customer: dict[Any, str]
    ) -> list[tuple[str, str]]:
        """(partner id, number) of each ERP record in ``states`` whose partner takes ``doc``."""
        partners = self.world.partners
        return [
            (customer[row[party]], str(row["number"]))
            for row in rows
            if row["state"] in states
            and row[party] in customer
            and doc in partners[customer[row[party]]].documents
        ]


def _lost_unless_dead(
    result: Count,
    tally: Tally,
    letters: Rows,
    ident: str,
    what: str,
    system: str = "edi",
    flow: str = FLOW_OUT,
) -> int:
    """Count what ``ident`` should have made as lost (1: still to do) unless a dead letter of
    ``flow`` names it (0: the hub gave it up on purpose)."""
    if _named_in(letters, (flow,), ident):
        return 0
    tally.lost += 1
    result.add("lost", system, flow, what)
    return 1


def _outbox_duplicates(result: Count, files: Files) -> None:
    """Unreadable files, the same bytes in two files, two documents with one BGM number."""
    for pid, found in sorted(files.items()):
        hashes = Counter(f.sha256 for f in found)
        for f in found:
            if f.error:
                result.add("mismatch", "edi", FLOW_OUT, f"{pid}/{f.name}: {f.error}")
        for digest, n in hashes.items():
            if n > 1:
                names = [f.name for f in found if f.sha256 == digest]
                result.add("duplicated", "edi", _flow_of(names[0]),
                           f"{pid}: the same bytes in {n} files ({', '.join(names)})")  # fmt: skip
        docs = [d for f in found for d in f.documents]
        ids = Counter((d.type, d.bgm_number, d.bgm_function) for d in docs if d.bgm_number)
        for (kind, number, function), n in sorted(ids.items()):
            if n > 1:
                result.add("duplicated", "edi", _flow_of(kind),
                           f"{pid}: {n} {kind} documents numbered {number} "
                           f"(function {function or '-'})")  # fmt: skip


def _documents(files: Files, doc_type: str) -> list[tuple[str, Document]]:
    """Every document of one type in the outboxes, with the id of the partner it went to."""
    return [
        (pid, d) for pid, found in files.items() for f in found for d in f.documents
        if d.type == doc_type
    ]  # fmt: skip


def _desadv_for(desadv: dict[tuple[str, str], list[str]], pid: str, number: str) -> list[str]:
    """The BGM functions of the DESADVs of one shipment (BGM number ends with its number)."""
    exact = desadv.get((pid, number))
    if exact is not None:
        return exact
    found: list[str] = []
    for (partner, bgm), functions in desadv.items():
        if (
            partner == pid
            and bgm.lstrip("0").endswith(number)
            and bgm[: -len(number)].strip("0").isalpha()
        ):
            found.extend(functions)
    return found


def _flow_of(name: str) -> str:
    return (
        "edi_orders_inbound"
        if any(name.startswith(t) for t in ("CONTRL", "ORDRSP", "APERAK"))
        else "edi_documents_outbound"
    )


def _named_in(letters: list[dict[str, Any]], flows: tuple[str, ...], ident: str) -> bool:
    """Whether an open dead letter of these flows names this record (by key or reason)."""
    for letter in letters:
        if letter.get("flow") not in flows:
            continue
        key = str(letter.get("record_key") or "")
        parts = [p for chunk in key.split(":") for p in chunk.split("/")]
        if ident in parts or f" {ident} " in f" {letter.get('reason', '')} ":
            return True
    return False
