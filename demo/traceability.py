#!/usr/bin/env python3
"""Demo scene: a component from approval to the serial on site, and back.

A component approved in a project's library is bought through an RFQ with
three bids, ordered, shipped and received with EPCIS events, installed (its
instances appear in the project's document), and traced back by serial:
where it is and how it got there, every serial of its lot from its supplier
installed in the project, what was received but not installed, and what
was approved but never ordered.

Everything goes through the odl_ API as odl_app, each step as the user whose
role may take it (the policy decides: a supplier manager buys, a project
manager approves and awards, an engineer receives and installs, an expert
records the shipment's events). The scene makes its own tenant and, unless
told to commit, rolls everything back at the end.

    .venv/bin/python demo/traceability.py [--commit]       # PG* variables name the database
    from demo.traceability import scene; scene("dbname=odl_demo", commit=False)
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

GTIN = "04012345111118"
SITE_GLN = "4012345000023"
DEPOT_GLN = "4012345000016"


def component(key: str, rating_w: int, gtin: str | None) -> dict:
    classification = {"unspsc": "26111700"} | ({"gtin": gtin} if gtin else {})
    return {"category": "power_electronics", "component_management": {
        "status": "approved",
        "component_identity": {"component_id": f"CMP:HELIOS:{key}:{rating_w}W:A", "brand": "HELIOS",
                               "part_number": key, "rating_w": rating_w, "name": f"HELIOS_{key}_{rating_w}W",
                               "classification": classification},
        "source_documents": {"datasheet": {"type": "datasheet", "url": f"https://docs.example.com/{key}.pdf"}},
        "tracking_policy": {"level": "serial"},
        "supplier_chain": {"suppliers": [{"id": "SUP-HEL", "name": "Helios Supply", "status": "approved"}],
                           "commercials": {"base_cost": 9000, "margins": {"total_margin_pct": 12.5,
                                                                          "currency": "EUR", "net_price": 10125}}},
        "approvals": {"requested": True, "records": [{"role": "expert", "outcome": "approved"}]},
    }}


class Scene:
    """One connection that acts as odl_admin to make the tenant, then as
    odl_app for each user in turn (odl_set_context), in one transaction."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        conn.execute("set role odl_admin")
        self.tenant = conn.execute("select odl.odl_create_tenant(%s, 'EU')",
                                   (f"Traceability demo {uuid.uuid4().hex[:6]}",)).fetchone()[0]
        self.users = {role: conn.execute("select odl.odl_create_user(%s, %s, %s)",
                                         (self.tenant, f"{role}@trace.example", role)).fetchone()[0]
                      for role in ("super_user", "expert", "supplier_manager", "project_manager", "engineer")}
        conn.execute("set role odl_app")
        self.node = self.one("super_user", "select odl.odl_create_node(null, 'PORTFOLIO', 'Helios')")
        for role, user in self.users.items():
            self.one("super_user", "select odl.odl_assign_role(%s, %s, %s)", (user, self.node, role))
        self.project = self.one("super_user", "select odl.odl_create_project('Sunfield PV 50 MW')")
        self.one("super_user", "select odl.odl_attach_project(%s, %s)", (self.project, self.node))

    def rows(self, role: str, query: str, params: Any = ()) -> list[tuple]:
        self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, self.users[role]))
        return self.conn.execute(query, params).fetchall()

    def one(self, role: str, query: str, params: Any = ()) -> Any:
        return self.rows(role, query, params)[0][0]


def say(text: str = "") -> None:
    print(text, flush=True)


def table(headers: list[str], rows: list[tuple]) -> None:
    cells = [["" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    say(" " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    say("-" + "-+-".join("-" * w for w in widths) + "-")
    for row in cells:
        say(" " + " | ".join(v.ljust(w) for v, w in zip(row, widths)))
    say(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n")


def scene(conninfo: str = "", commit: bool = False) -> None:
    inverter = "CMP:HELIOS:INV50:50000W:A"
    with psycopg.connect(conninfo) as conn:
        s = Scene(conn)
        doc = {
            "$schema": "https://odl-sd.org/schemas/v4.1/document.json", "schema_version": "4.1",
            "meta": {"project": "Sunfield PV 50 MW", "domain": "PV", "scale": "UTILITY"},
            "hierarchy": {"type": "PORTFOLIO", "id": "PF-1"},
            "libraries": {"components": {"INV50": component("INV50", 50000, GTIN),
                                         "MOD4": component("MOD4", 400, None)}},
            "instances": [],
        }
        doc_id = s.one("super_user", "select odl.odl_create_document(%s, %s)", (s.project, Jsonb(doc)))
        say("== 1. Approved in the project's library (the component index)")
        table(["component", "gtin", "status"], s.rows(
            "engineer", "select c.value #>> '{component_management,component_identity,component_id}', "
            "c.value #>> '{component_management,component_identity,classification,gtin}', "
            "c.value #>> '{component_management,status}' "
            "from odl.odl_get_document(%s) as d cross join jsonb_each(d.document #> '{libraries,components}') as c "
            "order by 1", (doc_id,)))

        say("== 2. Bought: an RFQ, three bids, the award, a purchase order")
        suppliers = []
        for name, gln in (("Helios Supply", "4012345000030"), ("Borealis PV", "4012345000047"),
                          ("Cirrus Energy", "4012345000054")):
            supplier = s.one("supplier_manager", "select odl.odl_create_supplier(%s, %s)", (name, gln))
            s.one("project_manager", "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,))
            suppliers.append(supplier)
        rfq = s.one("supplier_manager", "select odl.odl_create_rfq(%s, 'Central inverters', %s)",
                    (s.project, Jsonb([{"component_ref": inverter, "qty": 4, "uom": "pcs"}])))
        for status in ("issued", "bidding"):
            s.one("supplier_manager", "select odl.odl_set_rfq_status(%s, %s)", (rfq, status))
        line = s.one("supplier_manager", "select rfq_line_id from odl.rfq_lines where rfq_id = %s", (rfq,))
        bids = [s.one("supplier_manager", "select odl.odl_submit_bid(%s, %s, 'EUR', %s)",
                      (rfq, supplier, Jsonb([{"rfq_line_id": line, "unit_price": price, "qty": 4,
                                              "lead_time_days": 42}])))
                for supplier, price in zip(suppliers, (9100, 8850, 9400))]
        s.one("supplier_manager", "select odl.odl_set_rfq_status(%s, 'evaluating')", (rfq,))
        s.one("project_manager", "select odl.odl_award_rfq(%s, %s)",
              (rfq, Jsonb([{"rfq_line_id": line, "bid_id": bids[1]}])))
        table(["bid", "supplier", "unit_price", "status"], s.rows(
            "project_manager", "select b.bid_id, b.supplier_id, b.unit_price, x.status from odl.odl_rfq_bids(%s) as b "
            "inner join odl.bids as x on x.bid_id = b.bid_id order by b.unit_price", (rfq,)))
        po = s.one("supplier_manager", "select odl.odl_issue_po(%s, %s, %s)",
                   (rfq, suppliers[1], Jsonb([{"rfq_line_id": line, "qty": 4, "tracking_level": "serial"}])))
        po_line = s.one("supplier_manager", "select po_line_id from odl.odl_po_lines(%s)", (po,))
        say(f"ordered: {po} from {suppliers[1]}, line {po_line}\n")

        say("== 3. Shipped, with EPCIS events (odl_trace_ship: the shipment moves and its event is captured)")
        shipment = s.one("supplier_manager", "select odl.odl_ship(%s, 'DHL', 'WB-77')", (po,))
        s.one("expert", "select odl.odl_trace_ship(%s, 'in_transit', '2026-11-02T08:00:00Z')", (shipment,))
        s.one("expert", "select odl.odl_trace_ship(%s, 'delivered', '2026-11-05T10:00:00Z', %s)",
              (shipment, f"https://id.gs1.org/414/{DEPOT_GLN}"))

        say("== 4. Received by serial at the depot (odl_trace_receive: receipt, stock, receiving event)")
        serials = ["HEL-0001", "HEL-0002", "HEL-0003", "HEL-0004"]
        s.rows("engineer", "select * from odl.odl_trace_receive(%s, 4, %s, 'LOT-2026-11', %s, %s, "
               "'2026-11-05T11:00:00Z')", (po_line, DEPOT_GLN, serials, shipment))
        document = s.one("engineer", "select odl.odl_epcis_document(%s)", (f"urn:odl:shipment:{shipment}",))
        table(["eventTime", "bizStep", "what"], [
            (e["eventTime"], e["bizStep"], e.get("epcList") or e.get("quantityList"))
            for e in document["epcisBody"]["eventList"]])

        say("== 5. Installed on site: two serials (odl_trace_install), their instances in the document")
        s.one("engineer", "select odl.odl_move_stock(%s, %s, 2, %s, 'in_stock', 'reserved', null, 'LOT-2026-11', %s)",
              (s.project, inverter, DEPOT_GLN, serials[:2]))
        s.rows("engineer", "select * from odl.odl_trace_install(%s, %s, %s, %s, 'reserved', "
               "'2026-11-20T09:00:00Z', %s)",
               (s.project, inverter, serials[:2], DEPOT_GLN, f"https://id.gs1.org/414/{SITE_GLN}"))
        version = s.one("engineer", "select version from odl.odl_document_heads(%s)", (s.project,))
        s.rows("engineer", "select version from odl.odl_apply_patch(%s, %s, %s, 'install the inverters')", (
            doc_id, Jsonb([{"op": "add", "path": "/instances/-", "value": {
                "id": f"INV-{n + 1:02d}", "type_ref": "INV50", "lifecycle_status": "installed",
                "serial_numbers": [serial]}} for n, serial in enumerate(serials[:2])]), version))
        table(["instance", "type_ref", "lifecycle_status", "serial_numbers"], s.rows(
            "engineer", "select i ->> 'id', i ->> 'type_ref', i ->> 'lifecycle_status', i -> 'serial_numbers' "
            "from odl.odl_get_document(%s) as d cross join jsonb_array_elements(d.document -> 'instances') as i",
            (doc_id,)))

        say("== 6. Traced back by serial")
        say(f"-- where is {serials[0]} now? (odl_trace_where)")
        table(["status", "location", "lot", "supplier", "po", "last event", "at"], s.rows(
            "engineer", "select status, location, lot, supplier_id, po_id, event_biz_step, event_biz_location "
            "from odl.odl_trace_where(%s, %s)", (inverter, serials[0])))
        say(f"-- how did it get there? (odl_trace_history)")
        table(["at", "source", "step", "location", "event"], s.rows(
            "engineer", "select at, source, step, location, left(event_id, 30) || '...' "
            "from odl.odl_trace_history(%s, %s)", (inverter, serials[0])))
        say(f"-- every serial of LOT-2026-11 from {suppliers[1]} installed in the project (odl_trace_lot_installed)")
        table(["component", "serial", "po", "installed"], s.rows(
            "engineer", "select component_ref, serial_no, po_id, installed_at from odl.odl_trace_lot_installed(%s, %s, "
            "'LOT-2026-11')", (s.project, suppliers[1])))
        say("-- received but not installed (odl_trace_received_not_installed)")
        table(["component", "serial", "status", "location", "supplier"], s.rows(
            "engineer", "select component_ref, serial_no, status, location, supplier_id "
            "from odl.odl_trace_received_not_installed(%s)", (s.project,)))
        say("-- approved but never ordered (odl_trace_approved_not_ordered)")
        table(["component", "status"], s.rows(
            "engineer", "select component_id, status from odl.odl_trace_approved_not_ordered(%s)", (s.project,)))
        if commit:
            conn.commit()
            say(f"committed: tenant {s.tenant}, project {s.project}")
        else:
            conn.rollback()
            say("rolled back (pass --commit to keep the scene)")


if __name__ == "__main__":
    scene(commit="--commit" in sys.argv[1:])
