"""Traceability across procurement and EPCIS, through the API as odl_app.

A component is ordered, shipped, received by serial and installed with the
odl_trace_ functions, each of which makes its procurement step and captures
the EPCIS event that records it in one transaction; then the questions are
asked: where a serial is and how it got there, the serials of a lot from a
supplier installed in a project, what was received but not installed, the
components approved but never ordered. Each test builds its own tenant
(test_procurement's Shop) in a transaction that is rolled back."""

from __future__ import annotations

from collections import Counter

import pytest
from psycopg.types.json import Jsonb

from test_procurement import PROCUREMENT_ROLES, Shop, direct, refused

INVERTER = "CMP:ACME:INV_A:400W:A"
MODULE = "CMP:ACME:MOD_B:400W:A"
GTIN = "04012345111118"
STEP = "https://ref.gs1.org/cbv/BizStep-"


def component(key: str, status: str, gtin: str | None) -> dict:
    identity = {
        "component_id": f"CMP:ACME:{key}:400W:A", "brand": "ACME", "part_number": key, "rating_w": 400,
        "name": f"ACME_{key}_400W", "classification": {"unspsc": "26111700"},
    }
    if gtin:
        identity["classification"]["gtin"] = gtin
    return {"category": "power_electronics", "component_management": {
        "status": status,
        "component_identity": identity,
        "source_documents": {"datasheet": {"type": "datasheet", "url": f"https://docs.example.com/{key}.pdf"}},
        "tracking_policy": {"level": "serial"},
        "supplier_chain": {
            "suppliers": [{"id": "SUP-001", "name": "Acme Supply", "status": "approved"}],
            "commercials": {"base_cost": 100, "margins": {"total_margin_pct": 12.5, "currency": "EUR",
                                                          "net_price": 112.5}},
        },
        "approvals": {"requested": True, "records": [{"role": "expert", "outcome": "approved"}]},
    }}


class Site(Shop):
    """A Shop whose project has a document with two approved components,
    the inverter with a GTIN, and an expert (W on libraries and instances)."""

    def __init__(self, conn, components=None):
        super().__init__(conn, PROCUREMENT_ROLES + ["expert"])
        doc = {
            "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
            "schema_version": "4.1",
            "meta": {"project": "Sunfield", "domain": "PV", "scale": "UTILITY"},
            "hierarchy": {"type": "PORTFOLIO", "id": "PF-1"},
            "libraries": {"components": components or {
                "INV_A": component("INV_A", "approved", GTIN),
                "MOD_B": component("MOD_B", "approved", None),
            }},
            "instances": [],
        }
        self.doc = self.value(self.admin, "select odl.odl_create_document(%s, %s)", (self.project, Jsonb(doc)))

    @property
    def expert(self) -> str:
        return self.users["expert"]

    def bought_serials(self, qty: int = 3):
        """(supplier, po, po_line, shipment) of `qty` serial-tracked inverters."""
        supplier, _, _, po, po_line = self.bought(qty=qty, tracking="serial", ref=INVERTER)
        shipment = self.value(self.sm, "select odl.odl_ship(%s, 'DHL', 'WB-1')", (po,))
        return supplier, po, po_line, shipment


@pytest.fixture
def site(connect) -> Site:
    return Site(connect(user="postgres"))


def test_a_serial_is_traced_from_its_order_to_its_installation(site):
    supplier, po, po_line, shipment = site.bought_serials()
    shipped = site.value(site.expert, "select odl.odl_trace_ship(%s, 'in_transit', '2026-11-02T08:00:00Z')",
                         (shipment,))
    arrived = site.value(site.expert, "select odl.odl_trace_ship(%s, 'delivered', '2026-11-05T10:00:00Z')",
                         (shipment,))
    receipt, received = site.rows(
        site.eng, "select * from odl.odl_trace_receive(%s, 3, '4012345000016', 'LOT-9', '{SN-1,SN-2,SN-3}', %s, "
        "'2026-11-05T11:00:00Z')", (po_line, shipment),
    )[0]
    site.value(site.eng, "select odl.odl_move_stock(%s, %s, 2, '4012345000016', 'in_stock', 'reserved', null, "
               "'LOT-9', '{SN-1,SN-2}')", (site.project, INVERTER))
    ((move, installed),) = site.rows(
        site.eng, "select * from odl.odl_trace_install(%s, %s, '{SN-1,SN-2}', '4012345000016', 'reserved', "
        "'2026-11-20T09:00:00Z', 'https://id.gs1.org/414/4012345000023')", (site.project, INVERTER),
    )

    # Each step's event, linked to its record.
    assert sorted(site.superuser(
        "select event_id, kind, record_id from odl.trace_links where tenant_id = %s", (site.tenant,)
    )) == sorted([
        (shipped, "shipment", shipment), (arrived, "shipment", shipment), (received, "receipt", receipt),
        (received, "shipment", shipment), (installed, "stock_move", move),
    ])
    steps = dict(site.superuser("select event_id, biz_step from odl.epcis_events where tenant_id = %s", (site.tenant,)))
    assert steps == {shipped: STEP + "shipping", arrived: STEP + "arriving", received: STEP + "receiving",
                     installed: STEP + "installing"}
    # The shipping event names what the order awaits, by GTIN class.
    (event,) = site.superuser("select event from odl.epcis_events where event_id = %s", (shipped,))[0]
    assert event["quantityList"] == [{"epcClass": f"https://id.gs1.org/01/{GTIN}", "quantity": 3}]
    assert {t["bizTransaction"] for t in event["bizTransactionList"]} == {
        f"urn:odl:po:{po}", f"urn:odl:shipment:{shipment}"}
    # The shipment as an EPCIS document: its three events, in time order.
    document = site.value(site.eng, "select odl.odl_epcis_document(%s)", (f"urn:odl:shipment:{shipment}",))
    assert [e["eventID"] for e in document["epcisBody"]["eventList"]] == [shipped, arrived, received]

    # Where is SN-1 now, and how did it get there?
    where = site.rows(site.eng, "select * from odl.odl_trace_where(%s, 'SN-1')", (INVERTER,))[0]
    assert where[:6] == (site.project, "installed", "4012345000016", "LOT-9", supplier, po)
    assert where[7] == f"https://id.gs1.org/01/{GTIN}/21/SN-1"
    assert where[8:10] == ("https://id.gs1.org/414/4012345000023", STEP + "installing")
    assert where[11] == installed
    history = site.rows(site.eng, "select source, step, record_id, event_id, detail, at "
                        "from odl.odl_trace_history(%s, 'SN-1')", (INVERTER,))
    # Two clocks: the stock ledger's rows at the time they were written (this
    # transaction), the events at their eventTime; each in time order.
    assert [h[5] for h in history] == sorted(h[5] for h in history)
    assert sorted((h[0], h[1], h[3]) for h in history) == sorted([
        ("epcis", STEP + "receiving", received),
        ("stock", "received -> in_stock", received),
        ("epcis", STEP + "installing", installed),
        ("stock", "in_stock -> reserved", None),
        ("stock", "reserved -> installed", installed),
    ], key=str)
    receipt_row = next(h for h in history if h[1] == "received -> in_stock")
    assert receipt_row[4] | {} == {"project_id": site.project, "lot": "LOT-9", "receipt_id": receipt, "po_id": po,
                                   "po_line_id": po_line, "shipment_id": shipment, "supplier_id": supplier}

    # Every serial of lot LOT-9 from the supplier installed in the project.
    assert site.rows(site.eng, "select component_ref, serial_no, po_id from odl.odl_trace_lot_installed(%s, %s, "
                     "'LOT-9')", (site.project, supplier)) == [(INVERTER, "SN-1", po), (INVERTER, "SN-2", po)]
    assert site.rows(site.eng, "select * from odl.odl_trace_lot_installed(%s, %s, 'LOT-8')",
                     (site.project, supplier)) == []
    # Received, not installed: SN-3.
    assert site.rows(site.eng, "select component_ref, serial_no, status, qty, supplier_id "
                     "from odl.odl_trace_received_not_installed(%s)", (site.project,)) == [
        (INVERTER, "SN-3", "in_stock", 1, supplier)]
    # Approved, never ordered: the module only (the inverter has a PO line).
    assert site.rows(site.pm, "select component_id, status from odl.odl_trace_approved_not_ordered()") == [
        (MODULE, "approved")]

    # Open warranty claims by supplier.
    site.value(site.users["technician_operator"], "select odl.odl_open_warranty_claim(%s, %s, %s, 'fan noise', 'SN-1')",
               (site.project, supplier, INVERTER))
    assert site.rows(site.pm, "select supplier_id, project_id, open_claims from odl.odl_trace_open_claims(%s)",
                     (supplier,)) == [(supplier, site.project, 1)]
    assert site.rows(site.pm, "select * from odl.odl_trace_open_claims('SUP-NONE')") == []
    history = site.rows(site.eng, "select source, step from odl.odl_trace_history(%s, 'SN-1')", (INVERTER,))
    assert ("warranty_claim", "open") in history

    actions = Counter(a for (a,) in site.superuser(
        "select action from odl.audit_events where tenant_id = %s", (site.tenant,)))
    assert actions["trace.linked"] == 5 and actions["epcis.captured"] == 4
    assert actions["shipment.status_changed"] == 2 and actions["po.received"] == 1 and actions["stock.moved"] == 2


def test_stock_without_serials_counts_as_received_not_installed(site):
    _, _, _, _, po_line = site.bought(qty=50, ref=INVERTER)
    site.value(site.eng, "select odl.odl_trace_receive(%s, 50, 'DEPOT-1', 'LOT-1')", (po_line,))
    site.value(site.eng, "select odl.odl_move_stock(%s, %s, 20, 'DEPOT-1', 'in_stock', 'reserved', null, 'LOT-1')",
               (site.project, INVERTER))
    assert site.rows(site.eng, "select location, status, serial_no, qty from odl.odl_trace_received_not_installed()"
                     ) == [("DEPOT-1", "in_stock", None, 30), ("DEPOT-1", "reserved", None, 20)]
    (event,) = site.superuser("select event from odl.epcis_events where tenant_id = %s", (site.tenant,))[0]
    assert event["quantityList"] == [{"epcClass": f"https://id.gs1.org/01/{GTIN}/10/LOT-1", "quantity": 50}]
    assert "bizLocation" not in event   # DEPOT-1 is a name, not a GLN


def test_a_serial_without_a_gtin_has_a_ledger_history_and_no_events(site):
    supplier, _, _, _, po_line = site.bought(qty=1, tracking="serial", ref=MODULE)
    site.value(site.eng, "select odl.odl_receive(%s, 1, 'DEPOT-1', null, '{M-1}')", (po_line,))
    assert site.rows(site.eng, "select source, step from odl.odl_trace_history(%s, 'M-1')", (MODULE,)) == [
        ("stock", "received -> in_stock")]
    where = site.rows(site.eng, "select status, supplier_id, epc, event_id from odl.odl_trace_where(%s, 'M-1')",
                      (MODULE,))
    assert where == [("in_stock", supplier, None, None)]


def test_a_refused_trace_changes_nothing_and_names_its_cause(site):
    _, po, po_line, shipment = site.bought_serials(qty=2)
    # A component without a GTIN cannot be named in an event: no receipt either.
    _, _, _, _, module_line = site.bought(qty=5, ref=MODULE)
    error = refused(site, site.eng, "select odl.odl_trace_receive(%s, 5, 'DEPOT-1')", (module_line,))
    assert error.sqlstate == "ODF02" and error.diag.message_primary == (
        f"component {MODULE} has no GTIN: EPCIS events cannot name it")
    error = refused(site, site.expert, "select odl.odl_trace_ship(%s, 'exception')", (shipment,))
    assert error.sqlstate == "ODF03"
    # The supplier manager moves shipments but records no event (W on instances): the move is undone too.
    assert refused(site, site.sm, "select odl.odl_trace_ship(%s, 'in_transit')", (shipment,)).sqlstate == "ODR01"
    site.value(site.eng, "select odl.odl_trace_receive(%s, 2, 'DEPOT-1', null, '{SN-1,SN-2}')", (po_line,))
    site.value(site.eng, "select odl.odl_move_stock(%s, %s, 1, 'DEPOT-1', 'in_stock', 'reserved', null, null, "
               "'{SN-2}')", (site.project, INVERTER))
    # One serial is reserved there, but SN-1 is in stock, not reserved, and SN-9 is nowhere.
    for serials in ("{SN-1}", "{SN-9}"):
        error = refused(site, site.eng, "select * from odl.odl_trace_install(%s, %s, %s, 'DEPOT-1')",
                        (site.project, INVERTER, serials))
        assert error.sqlstate == "ODQ07"
    for call in ("odl_trace_where", "odl_trace_history"):
        error = site.error(site.eng, f"select * from odl.{call}(%s, 'SN-9')", (INVERTER,))
        assert error.sqlstate == "ODF01" and error.diag.message_primary == f"serial SN-9 of {INVERTER} is not known"
    assert site.state(site.co, "select * from odl.odl_trace_lot_installed(%s, 'SUP-X', '')",
                      (site.project,)) == "ODR01"


def test_readers_without_rights_on_instances_see_no_serial(site):
    supplier, _, po_line, _ = site.bought_serials(qty=1)
    site.value(site.eng, "select odl.odl_trace_receive(%s, 1, 'DEPOT-1', 'L', '{SN-1}')", (po_line,))
    # compliance_officer holds nothing on instances or libraries; engineer reads both.
    assert site.state(site.co, "select * from odl.odl_trace_where(%s, 'SN-1')", (INVERTER,)) == "ODF01"
    assert site.rows(site.co, "select * from odl.odl_trace_received_not_installed()") == []
    assert site.rows(site.co, "select * from odl.odl_trace_approved_not_ordered()") == []
    assert site.rows(site.eng, "select serial_no from odl.odl_trace_received_not_installed()") == [("SN-1",)]
    site.conn.execute("select odl.odl_set_context(%s, %s)", (site.tenant, site.co))
    site.conn.execute("set role odl_analyst")
    try:
        for view in ("analyst_serials", "analyst_received_not_installed", "analyst_approved_not_ordered"):
            assert site.conn.execute(f"select count(*) from odl.{view}").fetchone()[0] == 0, view
        site.conn.execute("select odl.odl_set_context(%s, %s)", (site.tenant, site.eng))
        assert site.conn.execute("select serial_no, supplier_id from odl.analyst_serials").fetchall() == [
            ("SN-1", supplier)]
        assert site.conn.execute("select component_id from odl.analyst_approved_not_ordered").fetchall() == [
            (MODULE,)]
    finally:
        site.conn.execute("set role odl_app")


@pytest.mark.parametrize("view", ["analyst_serials", "analyst_received_not_installed", "analyst_approved_not_ordered"])
def test_traceability_views_are_barriers_a_readers_function_cannot_look_behind(site, view):
    _, _, po_line, _ = site.bought_serials(qty=1)
    site.value(site.eng, "select odl.odl_trace_receive(%s, 1, 'DEPOT-1', 'L', '{SN-1}')", (po_line,))
    # A project nobody may read, with a row in each view's tables.
    hidden = site.value(site.admin, "select odl.odl_create_project('Hidden')")
    for statement in (
        "insert into odl.serials (tenant_id, component_ref, serial_no, project_id, location, status) "
        "values (%(t)s, 'C', 'SN-HIDDEN', %(p)s, 'A', 'in_stock')",
        "insert into odl.component_index (tenant_id, doc_id, component_key, project_id, entry, occurrences, "
        "component_id, status) values (%(t)s, %(d)s, 'HIDDEN', %(p)s, 'HIDDEN', 1, 'CMP:X:HIDDEN:1W:A', 'approved')",
    ):
        assert direct(site, statement, {"t": site.tenant, "p": hidden, "d": site.doc}) is None
    site.conn.execute(
        "create function pg_temp.leak(seen text) returns boolean language plpgsql cost 0.000001 as $$ "
        "begin raise notice 'LEAK %', seen; return true; end $$"
    )
    seen: list[str] = []
    site.conn.add_notice_handler(lambda d: seen.append(d.message_primary[5:])
                                 if (d.message_primary or "").startswith("LEAK ") else None)
    with site.conn.transaction():
        site.conn.execute("set role odl_analyst")
        site.conn.execute("select odl.odl_set_context(%s, %s)", (site.tenant, site.expert))
        shown = {r[0] for r in site.conn.execute(f"select project_id from odl.{view} where pg_temp.leak(project_id)")}
        site.conn.execute("set role odl_app")
    assert shown == {site.project} and hidden not in seen


def test_retired_epcis_months_take_their_index_rows_and_links_along(site):
    """Six months of events, three kept: retention drops the three oldest
    partitions with the EPCs, transactions, declarations and links of their
    events; the answers about the kept months do not change; a retired
    event captured again is still refused (ODE03)."""
    supplier, po, po_line, shipment = site.bought_serials()
    shipped = site.value(site.expert, "select odl.odl_trace_ship(%s, 'in_transit', '2026-11-02T08:00:00Z')",
                         (shipment,))
    site.rows(site.eng, "select * from odl.odl_trace_receive(%s, 3, '4012345000016', 'LOT-9', '{SN-1,SN-2,SN-3}', %s, "
              "'2026-11-05T11:00:00Z')", (po_line, shipment))
    unit = f"https://id.gs1.org/01/{GTIN}/21/SN-1"
    # One event of SN-1 per month, 1 to 6 months back, each declared erroneous once.
    events = {}
    for months in range(1, 7):
        event = {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": f"2026-0{months}-01T10:00:00Z",
                 "eventTimeZoneOffset": "+00:00", "epcList": [unit], "bizStep": "inspecting",
                 "bizTransactionList": [{"type": "po", "bizTransaction": f"urn:odl:test:{months}"}]}
        doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
               "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T00:00:00Z",
               "epcisBody": {"eventList": [event]}}
        (event_id,) = site.value(site.eng, "select odl.odl_capture_epcis(%s, %s)", (site.project, Jsonb(doc)))
        declaration = dict(event, errorDeclaration={"declarationTime": "2026-11-01T00:00:00Z",
                                                    "correctiveEventIDs": [event_id]})
        doc["epcisBody"]["eventList"] = [declaration]
        site.value(site.eng, "select odl.odl_capture_epcis(%s, %s)", (site.project, Jsonb(doc)))
        events[event_id] = (months, doc, event)
    # The shipping event too goes 5 months back (its link with it).
    moves = [(event_id, months) for event_id, (months, _, _) in events.items()] + [(shipped, 5)]
    site.superuser(
        "select partman.create_partition_time('odl.epcis_events', array(select (date_trunc('month', now() at time"
        " zone 'UTC') - make_interval(months => i)) at time zone 'UTC' from generate_series(1, 6) as i))")
    for event_id, months in moves:
        for table in ("odl.epcis_event_ids", "odl.epcis_events"):
            site.superuser(f"update {table} set record_time = record_time - make_interval(months => %s) "
                           "where event_id = %s returning 1", (months, event_id))
    cutoff = site.superuser("select (date_trunc('month', now() at time zone 'UTC') - interval '3 months')"
                            " at time zone 'UTC'")[0][0]
    kept = {e for e, (m, _, _) in events.items() if m <= 3}
    epcis_trace = "select * from odl.odl_epcis_trace(%s)"
    where = "select * from odl.odl_trace_where(%s, 'SN-1')"
    before = site.rows(site.eng, epcis_trace, (unit,))
    where_before = site.rows(site.eng, where, (INVERTER,))
    assert {r[1] for r in before} >= set(events)

    site.superuser("update odl.log_retention_policies set keep_months = 3 where table_name = 'odl.epcis_events'"
                   " returning 1")
    site.conn.execute("reset role")
    site.conn.execute("call odl.log_retention('5 seconds')")
    site.conn.execute("set role odl_app")

    assert site.superuser(
        "select count(*) from odl.log_partitions() where table_name = 'odl.epcis_events' and range_start < %s",
        (cutoff,)) == [(0,)]
    after = site.rows(site.eng, epcis_trace, (unit,))
    assert after == [r for r in before if r[1] not in set(events) - kept]
    assert {r[1] for r in after} & set(events) == kept
    assert site.rows(site.eng, where, (INVERTER,)) == where_before
    # Nothing names a retired event but its id.
    retired = [e for e in events if e not in kept] + [shipped]
    for table in ("epcis_event_epcs", "epcis_event_biz_transactions", "epcis_error_declarations",
                  "epcis_corrective_events", "trace_links", "epcis_events"):
        assert site.superuser(f"select count(*) from odl.{table} where event_id = any(%s)", (retired,)) == [(0,)], table
    assert site.superuser("select count(*) from odl.epcis_event_ids where event_id = any(%s)", (retired,)) == [
        (len(retired),)]
    assert site.superuser("select count(*) from odl.trace_links where tenant_id = %s", (site.tenant,)) == [(2,)]
    # Captured again, a retired event is refused as a duplicate.
    oldest = next(e for e, (m, _, _) in events.items() if m == 6)
    doc = dict(events[oldest][1], epcisBody={"eventList": [events[oldest][2]]})
    error = site.error(site.eng, "select odl.odl_capture_epcis(%s, %s)", (site.project, Jsonb(doc)))
    assert error is not None and error.sqlstate == "ODE03"
