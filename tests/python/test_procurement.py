"""Procurement through the API as odl_app: suppliers, RFQs, bids, awards,
purchase orders, shipments, receipts, stock, warranty claims and returns.

Each test but the last builds its own tenant (Shop) in one transaction that
is rolled back: users holding each role at a PORTFOLIO node, and a project
under it. Expected rights come from policy/access.json (test_access_matrix);
expected moves from odl.procurement_transitions, the one list of states.

The last test runs 16 writers, each on its own connection, through
thousands of random procurement operations on committed data, then checks
every invariant from the ledgers with independent SQL."""

from __future__ import annotations

import random
import threading
import time
import uuid
from decimal import Decimal
from collections import Counter, deque

import psycopg
import pytest
from psycopg.types.json import Jsonb

from conftest import server_conninfo
from test_access_matrix import POLICY, ROLES, role_rights

PROCUREMENT_ROLES = ["supplier_manager", "project_manager", "engineer", "technician_operator", "compliance_officer"]


class Undo(Exception):
    """Rolls a probe back to its savepoint."""


class Shop:
    """A tenant of the test's own, built through the API in the connection's
    transaction: its administrator, a user per role (coarse role and the
    same role assigned at the PORTFOLIO) and a project under it."""

    def __init__(self, conn: psycopg.Connection, roles=PROCUREMENT_ROLES):
        self.conn = conn
        conn.execute("set role odl_admin")
        self.tenant = conn.execute(
            "select odl.odl_create_tenant(%s, 'EU')", (f"shop-{uuid.uuid4().hex[:8]}",)
        ).fetchone()[0]
        conn.execute("set role odl_app")
        self.admin = self.new_user("super_user")
        self.node = self.value(self.admin, "select odl.odl_create_node(null, 'PORTFOLIO', 'Portfolio')")
        self.assign(self.admin, "super_user")
        self.users = {role: self.user(role) for role in roles}
        self.project = self.value(self.admin, "select odl.odl_create_project(%s)", (f"P {uuid.uuid4().hex[:6]}",))
        self.value(self.admin, "select odl.odl_attach_project(%s, %s)", (self.project, self.node))

    # -- users --

    def new_user(self, role: str) -> str:
        self.conn.execute("set role odl_admin")
        try:
            return self.conn.execute(
                "select odl.odl_create_user(%s, %s, %s)", (self.tenant, f"{uuid.uuid4().hex[:10]}@shop.example", role)
            ).fetchone()[0]
        finally:
            self.conn.execute("set role odl_app")

    def assign(self, user: str, role: str) -> None:
        self.value(self.admin, "select odl.odl_assign_role(%s, %s, %s)", (user, self.node, role))

    def user(self, role: str) -> str:
        user = self.new_user(role)
        self.assign(user, role)
        return user

    def __getattr__(self, role: str) -> str:
        short = {"sm": "supplier_manager", "pm": "project_manager", "eng": "engineer", "tech": "technician_operator",
                 "co": "compliance_officer"}
        if role in short:
            return self.users[short[role]]
        raise AttributeError(role)

    # -- calls --

    def rows(self, user: str, query: str, params=()) -> list[tuple]:
        self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, user))
        return self.conn.execute(query, params).fetchall()

    def value(self, user: str, query: str, params=()):
        return self.rows(user, query, params)[0][0]

    def error(self, user: str, query: str, params=()) -> psycopg.Error | None:
        """The error the call raises (in a savepoint, so the test goes on)."""
        self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, user))
        try:
            with self.conn.transaction():
                self.conn.execute(query, params)
        except psycopg.Error as error:
            return error
        return None

    def probe(self, user: str, query: str, params=()) -> str | None:
        """The SQLSTATE the call raises, or None; undone either way."""
        self.conn.execute("select odl.odl_set_context(%s, %s)", (self.tenant, user))
        try:
            with self.conn.transaction():
                self.conn.execute(query, params)
                raise Undo
        except Undo:
            return None
        except psycopg.Error as error:
            return error.sqlstate

    def state(self, user: str, query: str, params=()) -> str | None:
        error = self.error(user, query, params)
        return None if error is None else error.sqlstate

    def superuser(self, query: str, params=()) -> list[tuple]:
        self.conn.execute("reset role")
        try:
            return self.conn.execute(query, params).fetchall()
        finally:
            self.conn.execute("set role odl_app")

    # -- the flow --

    def supplier(self, name: str = "Acme Solar") -> str:
        supplier = self.value(self.sm, "select odl.odl_create_supplier(%s, '4012345000009')", (name,))
        self.value(self.pm, "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,))
        return supplier

    def rfq(self, lines: list[tuple[str, float]], status: str = "bidding") -> tuple[str, list[str]]:
        rfq = self.value(
            self.sm, "select odl.odl_create_rfq(%s, 'Modules', %s)",
            (self.project, Jsonb([{"component_ref": ref, "qty": qty, "uom": "pcs"} for ref, qty in lines])),
        )
        line_ids = [r[0] for r in self.superuser(
            "select rfq_line_id from odl.rfq_lines where rfq_id = %s order by rfq_line_id", (rfq,)
        )]
        for step in ["issued", "bidding", "evaluating"][: ["draft", "issued", "bidding", "evaluating"].index(status)]:
            self.value(self.sm, "select odl.odl_set_rfq_status(%s, %s)", (rfq, step))
        return rfq, line_ids

    def bid(self, rfq: str, supplier: str, offers: dict[str, tuple[float, float]], currency: str = "EUR") -> str:
        return self.value(
            self.sm, "select odl.odl_submit_bid(%s, %s, %s, %s)",
            (rfq, supplier, currency, Jsonb([
                {"rfq_line_id": line, "unit_price": price, "qty": qty, "lead_time_days": 30}
                for line, (price, qty) in offers.items()
            ])),
        )

    def award(self, rfq: str, awards: dict[str, str]) -> None:
        self.value(self.sm, "select odl.odl_set_rfq_status(%s, 'evaluating')", (rfq,))
        self.value(
            self.pm, "select odl.odl_award_rfq(%s, %s)",
            (rfq, Jsonb([{"rfq_line_id": line, "bid_id": bid} for line, bid in awards.items()])),
        )

    def po(self, rfq: str, supplier: str, lines: list[dict]) -> tuple[str, list[str]]:
        po = self.value(self.sm, "select odl.odl_issue_po(%s, %s, %s)", (rfq, supplier, Jsonb(lines)))
        return po, [r[0] for r in self.rows(self.sm, "select po_line_id from odl.odl_po_lines(%s)", (po,))]

    def bought(self, qty: float = 100, tracking: str = "quantity", pct: float = 0, ref: str = "CMP:ACME:M1:400W:A",
               order_qty: float | None = None):
        """A supplier, an RFQ line awarded to its bid and a PO line: (supplier, rfq, line, po, po_line)."""
        supplier = self.supplier()
        rfq, (line,) = self.rfq([(ref, qty)])
        bid = self.bid(rfq, supplier, {line: (120.5, qty)})
        self.award(rfq, {line: bid})
        po, (po_line,) = self.po(rfq, supplier, [
            {"rfq_line_id": line, "qty": order_qty or qty, "tracking_level": tracking, "over_receipt_pct": pct}
        ])
        return supplier, rfq, line, po, po_line

    def totals(self) -> tuple:
        """Everything the invariants bound, and how many records exist: a
        refused call must leave all of it as it was."""
        return self.superuser(
            """
            select
                (select coalesce(sum(ordered_qty), 0) from odl.rfq_lines where tenant_id = %(t)s),
                (select count(*) filter (where awarded_bid_id is not null) from odl.rfq_lines where tenant_id = %(t)s),
                (select coalesce(sum(received_qty), 0) || '/' || coalesce(sum(returned_qty), 0)
                 from odl.po_lines where tenant_id = %(t)s),
                (select coalesce(jsonb_object_agg(location || '|' || status || '|' || lot, qty), '{}')
                 from odl.stock_balances where tenant_id = %(t)s),
                (select coalesce(jsonb_object_agg(serial_no, location || '|' || status), '{}')
                 from odl.serials where tenant_id = %(t)s),
                (select count(*) from odl.purchase_orders where tenant_id = %(t)s),
                (select count(*) from odl.receipts where tenant_id = %(t)s),
                (select count(*) from odl.stock_moves where tenant_id = %(t)s),
                (select count(*) from odl.returns where tenant_id = %(t)s),
                (select string_agg(status, ',' order by rfq_id) from odl.rfqs where tenant_id = %(t)s),
                (select string_agg(status, ',' order by po_id) from odl.purchase_orders where tenant_id = %(t)s),
                (select count(*) from odl.audit_events where tenant_id = %(t)s)
            """,
            {"t": self.tenant},
        )[0]


@pytest.fixture
def shop(connect) -> Shop:
    return Shop(connect(user="postgres"))


def direct(shop: Shop, query: str, params=()) -> psycopg.Error | None:
    """The error of a write as the superuser, past the API and RLS."""
    shop.conn.execute("reset role")
    try:
        with shop.conn.transaction():
            shop.conn.execute(query, params)
    except psycopg.Error as error:
        return error
    finally:
        shop.conn.execute("set role odl_app")
    return None


def refused(shop: Shop, user: str, query: str, params=()) -> psycopg.Error:
    """The error of a call that must change nothing at all."""
    before = shop.totals()
    error = shop.error(user, query, params)
    assert error is not None, query
    assert shop.totals() == before, f"{query} changed something though refused"
    return error


# -- who sees what --


def test_a_user_selects_only_the_procurement_records_of_projects_they_may_read(shop):
    """Tenant isolation is not enough: as with documents, an application's
    user selects the procurement records of a project only with R at its
    node on the section that acts on them; lines, bids, shipments and
    receipts follow their RFQ or order, and suppliers are the tenant's."""
    _, rfq_a, _, po_a, line_a = shop.bought(qty=2, tracking="serial")
    shop.value(shop.sm, "select odl.odl_ship(%s, 'DHL', 'WB-A')", (po_a,))
    shop.value(shop.eng, "select odl.odl_receive(%s, 2, 'GATE', null, '{SN-A1,SN-A2}')", (line_a,))
    # Project B hangs under a SITE below the PORTFOLIO, where the shop's
    # users hold their roles, so they act there too.
    site = shop.value(shop.admin, "select odl.odl_create_node(%s, 'SITE', 'Site B')", (shop.node,))
    project_b = shop.value(shop.admin, "select odl.odl_create_project(%s)", (f"B {uuid.uuid4().hex[:6]}",))
    shop.value(shop.admin, "select odl.odl_attach_project(%s, %s)", (project_b, site))
    home, shop.project = shop.project, project_b
    try:
        _, rfq_b, _, po_b, line_b = shop.bought(qty=1, tracking="serial", ref="CMP:ACME:M2:410W:A")
    finally:
        shop.project = home
    shop.value(shop.sm, "select odl.odl_ship(%s, 'DHL', 'WB-B')", (po_b,))
    shop.value(shop.eng, "select odl.odl_receive(%s, 1, 'GATE', null, '{SN-B1}')", (line_b,))
    # A supplier manager and an engineer of the site only.
    local = {role: shop.new_user(role) for role in ("supplier_manager", "engineer")}
    for role, user in local.items():
        shop.value(shop.admin, "select odl.odl_assign_role(%s, %s, %s)", (user, site, role))

    def seen(user: str, query: str) -> list:
        return sorted(row[0] for row in shop.rows(user, query))

    for user, rfqs, orders in ((local["supplier_manager"], [rfq_b], [po_b]),
                               (shop.sm, sorted([rfq_a, rfq_b]), sorted([po_a, po_b]))):
        assert seen(user, "select rfq_id from odl.rfqs") == rfqs
        assert seen(user, "select distinct rfq_id from odl.rfq_lines") == rfqs
        assert seen(user, "select distinct rfq_id from odl.bids") == rfqs
        assert seen(user, "select po_id from odl.purchase_orders") == orders
        assert seen(user, "select po_id from odl.shipments") == orders
        assert seen(user, "select distinct po_id from odl.receipts") == orders
    assert seen(local["engineer"], "select serial_no from odl.serials") == ["SN-B1"]
    assert seen(local["engineer"], "select distinct project_id from odl.stock_moves") == [project_b]
    assert seen(shop.eng, "select serial_no from odl.serials") == ["SN-A1", "SN-A2", "SN-B1"]
    # The tenant's suppliers, whoever reads; the API still answers by rights.
    assert len(seen(local["supplier_manager"], "select supplier_id from odl.suppliers")) == 2
    assert shop.state(local["supplier_manager"], "select * from odl.odl_rfq_bids(%s)", (rfq_a,)) == "ODR01"


# -- the whole flow --


def test_a_component_is_bought_received_installed_claimed_and_returned(shop):
    suppliers = [shop.supplier(name) for name in ("Acme Solar", "Borealis PV", "Cirrus Energy")]
    rfq, (modules, inverters) = shop.rfq([("CMP:ACME:M1:400W:A", 100), ("CMP:SMA:INV50:50000W:B", 2)])
    bids = [
        shop.bid(rfq, supplier, {modules: (price, 100), inverters: (9000 + price, 2)})
        for supplier, price in zip(suppliers, (121.0, 118.5, 125.0))
    ]
    # Split award: modules to the cheapest, inverters to the first.
    shop.award(rfq, {modules: bids[1], inverters: bids[0]})
    assert shop.superuser("select status from odl.rfqs where rfq_id = %s", (rfq,)) == [("awarded",)]
    assert shop.superuser("select bid_id, status from odl.bids where rfq_id = %s order by bid_id", (rfq,)) == sorted(
        [(bids[0], "won"), (bids[1], "won"), (bids[2], "lost")]
    )

    po, (po_modules,) = shop.po(rfq, suppliers[1], [{"rfq_line_id": modules, "qty": 100, "over_receipt_pct": 2}])
    po2, (po_inverters,) = shop.po(rfq, suppliers[0], [{"rfq_line_id": inverters, "qty": 2, "tracking_level": "serial"}])
    shipment = shop.value(shop.sm, "select odl.odl_ship(%s, 'DHL', 'WB-1')", (po,))
    for status in ("in_transit", "exception", "delivered"):
        shop.value(shop.sm, "select odl.odl_set_shipment_status(%s, %s)", (shipment, status))

    shop.value(shop.eng, "select odl.odl_receive(%s, 60, 'DEPOT-1', 'LOT-7', null, %s)", (po_modules, shipment))
    assert shop.superuser("select status from odl.purchase_orders where po_id = %s", (po,)) == [("partially_received",)]
    shop.value(shop.eng, "select odl.odl_receive(%s, 42, 'DEPOT-1', 'LOT-7')", (po_modules,))  # 2% over
    assert shop.superuser("select status from odl.purchase_orders where po_id = %s", (po,)) == [("closed",)]
    shop.value(shop.eng, "select odl.odl_receive(%s, 2, 'SITE-GATE', null, '{SN-1,SN-2}')", (po_inverters,))

    # Reserve and install one inverter by serial; quarantine modules.
    shop.value(shop.eng, "select odl.odl_move_stock(%s, 'CMP:SMA:INV50:50000W:B', 1, 'SITE-GATE', 'in_stock', "
               "'reserved', null, null, '{SN-1}')", (shop.project,))
    shop.value(shop.eng, "select odl.odl_move_stock(%s, 'CMP:SMA:INV50:50000W:B', 1, 'SITE-GATE', 'reserved', "
               "'installed', null, null, '{SN-1}')", (shop.project,))
    shop.value(shop.eng, "select odl.odl_move_stock(%s, 'CMP:ACME:M1:400W:A', 5, 'DEPOT-1', 'in_stock', "
               "'quarantine', null, 'LOT-7')", (shop.project,))
    assert shop.superuser(
        "select serial_no, location, status from odl.serials where tenant_id = %s order by 1", (shop.tenant,)
    ) == [("SN-1", "SITE-GATE", "installed"), ("SN-2", "SITE-GATE", "in_stock")]
    assert sorted(shop.superuser(
        "select location, component_ref, lot, status, qty::int from odl.stock_balances where tenant_id = %s and qty > 0",
        (shop.tenant,),
    )) == [
        ("DEPOT-1", "CMP:ACME:M1:400W:A", "LOT-7", "in_stock", 97),
        ("DEPOT-1", "CMP:ACME:M1:400W:A", "LOT-7", "quarantine", 5),
        ("SITE-GATE", "CMP:SMA:INV50:50000W:B", "", "in_stock", 1),
    ]

    claim = shop.value(shop.tech, "select odl.odl_open_warranty_claim(%s, %s, 'CMP:SMA:INV50:50000W:B', "
                       "'fan failure', 'SN-1')", (shop.project, suppliers[0]))
    shop.value(shop.tech, "select odl.odl_set_claim_status(%s, 'in_review')", (claim,))
    assert shop.state(shop.tech, "select odl.odl_set_claim_status(%s, 'resolved')", (claim,)) == "ODR01"
    shop.value(shop.co, "select odl.odl_set_claim_status(%s, 'resolved')", (claim,))

    rma = shop.value(shop.sm, "select odl.odl_open_return(%s, 5, 'defect', 'DEPOT-1', 'quarantine', 'LOT-7')",
                     (po_modules,))
    assert shop.state(shop.sm, "select odl.odl_set_return_status(%s, 'authorized')", (rma,)) == "ODQ11"
    shop.value(shop.pm, "select odl.odl_set_return_status(%s, 'authorized')", (rma,))
    shop.value(shop.sm, "select odl.odl_set_return_status(%s, 'in_transit')", (rma,))
    shop.value(shop.sm, "select odl.odl_set_return_status(%s, 'received')", (rma,))
    shop.value(shop.pm, "select odl.odl_set_return_status(%s, 'credited', 'CN-42')", (rma,))
    assert shop.superuser(
        "select qty from odl.stock_balances where tenant_id = %s and status = 'quarantine'", (shop.tenant,)
    )[0][0] == 0
    assert shop.rows(shop.pm, "select received_qty, returned_qty from odl.odl_po_lines(%s)", (po,)) == [(102, 5)]

    actions = Counter(a for (a,) in shop.superuser(
        "select action from odl.audit_events where tenant_id = %s", (shop.tenant,)
    ))
    assert actions["supplier.created"] == 3 and actions["rfq.awarded"] == 1 and actions["po.issued"] == 2
    assert actions["po.received"] == 3 and actions["stock.moved"] == 3 and actions["rma.status_changed"] == 4
    assert actions["claim.status_changed"] == 2 and actions["shipment.status_changed"] == 3


# -- rights --


def test_every_procurement_action_follows_the_policy_for_every_role(connect):
    """Every action of odl.procurement_actions for each of the 16 roles, held
    as coarse role (suppliers are the tenant's) and at the PORTFOLIO (the rest
    is the project's): allowed exactly when the policy gives the role one of
    the rights on the section."""
    shop = Shop(connect(user="postgres"), roles=ROLES)
    actions = shop.superuser("select action, section, rights from odl.procurement_actions order by action")
    assert len(actions) == 27
    mismatches = []
    for role in ROLES:
        for action, section, rights in actions:
            scope = None if action.startswith("supplier.") else shop.project
            shop.conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant, shop.users[role]))
            shop.conn.execute("reset role")
            try:
                with shop.conn.transaction():
                    shop.conn.execute("select odl.procurement_authorize(%s, %s)", (action, scope))
                outcome = "allowed"
            except psycopg.Error as error:
                outcome = error.sqlstate
            finally:
                shop.conn.execute("set role odl_app")
            expected = "allowed" if set(role_rights(role, section)) & set(rights) else "ODR01"
            if outcome != expected:
                mismatches.append((role, action, outcome, expected))
    assert mismatches == []


def test_roles_decide_who_moves_each_record(shop):
    supplier = shop.value(shop.sm, "select odl.odl_create_supplier('Acme Solar')")
    assert shop.state(shop.eng, "select odl.odl_create_supplier('Nope Ltd')") == "ODR01"
    assert shop.state(shop.pm, "select odl.odl_set_supplier_status(%s, 'inactive')", (supplier,)) == "ODQ01"
    assert shop.state(shop.sm, "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,)) == "ODQ11"
    assert shop.state(shop.eng, "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,)) == "ODR01"
    shop.value(shop.pm, "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,))
    lines = Jsonb([{"component_ref": "CMP:ACME:M1:400W:A", "qty": 10}])
    assert shop.state(shop.pm, "select odl.odl_create_rfq(%s, 'x', %s)", (shop.project, lines)) == "ODR01"
    assert shop.state(shop.eng, "select odl.odl_create_rfq(%s, 'x', %s)", (shop.project, lines)) == "ODR01"
    rfq, (line,) = shop.rfq([("CMP:ACME:M1:400W:A", 10)])
    bid = shop.bid(rfq, supplier, {line: (100, 10)})
    shop.value(shop.sm, "select odl.odl_set_rfq_status(%s, 'evaluating')", (rfq,))
    award = Jsonb([{"rfq_line_id": line, "bid_id": bid}])
    assert shop.state(shop.eng, "select odl.odl_award_rfq(%s, %s)", (rfq, award)) == "ODR01"
    assert shop.state(shop.tech, "select odl.odl_award_rfq(%s, %s)", (rfq, award)) == "ODR01"
    shop.value(shop.pm, "select odl.odl_award_rfq(%s, %s)", (rfq, award))
    order = Jsonb([{"rfq_line_id": line, "qty": 10}])
    assert shop.state(shop.eng, "select odl.odl_issue_po(%s, %s, %s)", (rfq, supplier, order)) == "ODR01"
    po, (po_line,) = shop.po(rfq, supplier, [{"rfq_line_id": line, "qty": 10}])
    assert shop.state(shop.sm, "select odl.odl_receive(%s, 1, 'D')", (po_line,)) == "ODR01"
    assert shop.state(shop.pm, "select odl.odl_receive(%s, 1, 'D')", (po_line,)) == "ODR01"
    shop.value(shop.eng, "select odl.odl_receive(%s, 1, 'D')", (po_line,))
    assert shop.state(shop.sm, "select odl.odl_open_warranty_claim(%s, %s, 'C', 'x')", (shop.project, supplier)) == "ODR01"


def test_state_machines_accept_exactly_their_transitions(shop):
    """Every (from, to) pair of states of every record, through the API as
    the tenant's administrator (who holds every right): accepted exactly when
    odl.procurement_transitions has the move for that function."""
    supplier = shop.supplier()
    transitions = shop.superuser("select entity, from_status, to_status, action from odl.procurement_transitions")

    def fresh(entity: str) -> str:
        admin = shop.admin
        if entity == "supplier":
            return shop.value(shop.sm, "select odl.odl_create_supplier('Fresh Co')")
        rfq, (line,) = shop.rfq([("CMP:X:Y:1W:A", 5)], status="draft")
        if entity == "rfq":
            return rfq
        shop.value(admin, "select odl.odl_set_rfq_status(%s, 'issued')", (rfq,))
        shop.value(admin, "select odl.odl_set_rfq_status(%s, 'bidding')", (rfq,))
        bid = shop.bid(rfq, supplier, {line: (1, 5)})
        shop.award(rfq, {line: bid})
        po, (po_line,) = shop.po(rfq, supplier, [{"rfq_line_id": line, "qty": 5}])
        if entity == "po":
            return po
        if entity == "shipment":
            return shop.value(admin, "select odl.odl_ship(%s)", (po,))
        if entity == "claim":
            return shop.value(admin, "select odl.odl_open_warranty_claim(%s, %s, 'C', 'broken')", (shop.project, supplier))
        shop.value(admin, "select odl.odl_receive(%s, 5, 'D')", (po_line,))
        return shop.value(admin, "select odl.odl_open_return(%s, 2, 'defect', 'D')", (po_line,))

    setters = {
        "supplier": ("select odl.odl_set_supplier_status(%s, %s)", set()),
        "rfq": ("select odl.odl_set_rfq_status(%s, %s)", {"rfq.award"}),
        "po": ("select odl.odl_set_po_status(%s, %s)", {"po.receive"}),
        "shipment": ("select odl.odl_set_shipment_status(%s, %s)", set()),
        "claim": ("select odl.odl_set_claim_status(%s, %s)", set()),
        "rma": ("select odl.odl_set_return_status(%s, %s)", set()),
    }
    def actor(entity: str, target: str) -> str:
        # Four eyes: a return is authorized by another user than its requester.
        return shop.pm if (entity, target) in {("rma", "authorized"), ("rma", "rejected")} else shop.admin

    checked = 0
    for entity, (setter, excluded) in setters.items():
        moves = {(f, t) for e, f, t, a in transitions if e == entity and a not in excluded}
        states = sorted({t for e, _, t, _ in transitions if e == entity})
        # A path from creation to each state, over the setter's own moves.
        initial = next(t for e, f, t, _ in transitions if e == entity and f == "")
        paths = {initial: []}
        frontier = deque([initial])
        while frontier:
            here = frontier.popleft()
            for f, t in sorted(moves):
                if f == here and t not in paths:
                    paths[t] = paths[here] + [t]
                    frontier.append(t)
        for state, path in sorted(paths.items()):
            record = fresh(entity)
            for step in path:
                shop.value(actor(entity, step), setter, (record, step))
            for target in states:
                outcome = shop.probe(actor(entity, target), setter, (record, target))
                expected = None if (state, target) in moves else "ODQ01"
                assert outcome == expected, (entity, state, target, outcome)
                checked += 1
    assert checked >= 140


def test_stock_moves_follow_the_inventory_machine(shop):
    _, _, _, _, po_line = shop.bought(100)
    shop.value(shop.eng, "select odl.odl_receive(%s, 100, 'A')", (po_line,))
    for status in ("reserved", "quarantine"):
        shop.value(shop.eng, "select odl.odl_move_stock(%s, 'CMP:ACME:M1:400W:A', 10, 'A', 'in_stock', %s)",
                   (shop.project, status))
    moves = {(f, t) for f, t in shop.superuser(
        "select from_status, to_status from odl.procurement_transitions where action = 'stock.move'"
    )}
    for source in ("in_stock", "reserved", "quarantine"):
        for target in ("in_stock", "reserved", "quarantine", "installed", "scrap", "returned"):
            outcome = shop.probe(
                shop.eng, "select odl.odl_move_stock(%s, 'CMP:ACME:M1:400W:A', 1, 'A', %s, %s, 'B')",
                (shop.project, source, target),
            )
            assert outcome == (None if (source, target) in moves else "ODQ01"), (source, target, outcome)


# -- each invariant, refused with its SQLSTATE, nothing changed --


def test_one_awarded_bid_per_rfq_line(shop):
    supplier, other = shop.supplier(), shop.supplier("Borealis PV")
    rfq, (line,) = shop.rfq([("CMP:ACME:M1:400W:A", 10)])
    first, second = shop.bid(rfq, supplier, {line: (10, 10)}), shop.bid(rfq, other, {line: (9, 10)})
    shop.value(shop.sm, "select odl.odl_set_rfq_status(%s, 'evaluating')", (rfq,))
    twice = Jsonb([{"rfq_line_id": line, "bid_id": first}, {"rfq_line_id": line, "bid_id": second}])
    error = refused(shop, shop.pm, "select odl.odl_award_rfq(%s, %s)", (rfq, twice))
    assert error.sqlstate == "ODQ03" and line in error.diag.message_primary
    shop.value(shop.pm, "select odl.odl_award_rfq(%s, %s)", (rfq, Jsonb([{"rfq_line_id": line, "bid_id": first}])))
    # The database keeps it whoever writes: even the superuser cannot re-award.
    error = direct(shop, "update odl.rfq_lines set awarded_bid_id = %s where rfq_line_id = %s", (second, line))
    assert error.sqlstate == "ODQ03"


def test_ordered_never_exceeds_awarded(shop):
    supplier, rfq, line, po, po_line = shop.bought(100)
    error = refused(shop, shop.sm, "select odl.odl_issue_po(%s, %s, %s)",
                    (rfq, supplier, Jsonb([{"rfq_line_id": line, "qty": 1}])))
    assert error.sqlstate == "ODQ04" and "awarded 100, ordered 100" in error.diag.message_detail
    other = shop.supplier("Borealis PV")
    error = refused(shop, shop.sm, "select odl.odl_issue_po(%s, %s, %s)",
                    (rfq, other, Jsonb([{"rfq_line_id": line, "qty": 1}])))
    assert error.sqlstate == "ODQ04"
    # Cancelling gives back what was not received.
    shop.value(shop.eng, "select odl.odl_receive(%s, 30, 'A')", (po_line,))
    shop.value(shop.sm, "select odl.odl_set_po_status(%s, 'cancelled')", (po,))
    assert shop.superuser("select ordered_qty from odl.rfq_lines where rfq_line_id = %s", (line,)) == [(30,)]
    shop.po(rfq, supplier, [{"rfq_line_id": line, "qty": 70}])
    error = refused(shop, shop.sm, "select odl.odl_issue_po(%s, %s, %s)",
                    (rfq, supplier, Jsonb([{"rfq_line_id": line, "qty": 0.5}])))
    assert error.sqlstate == "ODQ04"
    assert refused(shop, shop.eng, "select odl.odl_receive(%s, 1, 'A')", (po_line,)).sqlstate == "ODQ09"


def test_received_never_exceeds_ordered_beyond_the_tolerance(shop):
    _, _, _, po, po_line = shop.bought(100, pct=5)
    shop.value(shop.eng, "select odl.odl_receive(%s, 100, 'A')", (po_line,))
    # Closed once all was received: the tolerance serves the receipt that completes a line.
    error = refused(shop, shop.eng, "select odl.odl_receive(%s, 5, 'A')", (po_line,))
    assert error.sqlstate == "ODQ09" and "is closed" in error.diag.message_primary
    _, _, _, po, po_line = shop.bought(100, pct=5, ref="CMP:ACME:M2:410W:A")
    shop.value(shop.eng, "select odl.odl_receive(%s, 99, 'A')", (po_line,))
    error = refused(shop, shop.eng, "select odl.odl_receive(%s, 6.5, 'A')", (po_line,))
    assert error.sqlstate == "ODQ05" and "tolerance 5%" in error.diag.message_detail
    shop.value(shop.eng, "select odl.odl_receive(%s, 6, 'A')", (po_line,))
    # No tolerance on serial-tracked lines.
    supplier, rfq, line, _, _ = shop.bought(10, ref="CMP:SMA:I:5000W:A")
    shop.value(shop.sm, "select odl.odl_set_po_status(po_id, 'cancelled') from odl.purchase_orders where rfq_id = %s",
               (rfq,))
    error = refused(shop, shop.sm, "select odl.odl_issue_po(%s, %s, %s)", (rfq, supplier, Jsonb(
        [{"rfq_line_id": line, "qty": 10, "tracking_level": "serial", "over_receipt_pct": 5}]
    )))
    assert error.sqlstate == "23514" and error.diag.constraint_name == "po_lines_serial_whole"
    error = direct(shop, "update odl.po_lines set received_qty = qty * 2 where po_line_id = %s", (po_line,))
    assert error.sqlstate == "23514"
    assert error.diag.constraint_name == "po_lines_received_within_tolerance"


def test_stock_is_never_negative(shop):
    _, _, _, _, po_line = shop.bought(100)
    shop.value(shop.eng, "select odl.odl_receive(%s, 10, 'A')", (po_line,))
    move = "select odl.odl_move_stock(%s, 'CMP:ACME:M1:400W:A', %s, %s, 'in_stock', 'in_stock', %s)"
    shop.value(shop.eng, move, (shop.project, 4, "A", "B"))
    error = refused(shop, shop.eng, move, (shop.project, Decimal("6.5"), "A", "C"))
    assert error.sqlstate == "ODQ06" and "holds 6" in error.diag.message_detail
    assert refused(shop, shop.eng, move, (shop.project, 1, "NOWHERE", "C")).sqlstate == "ODQ06"
    # The ledger's trigger refuses whoever inserts.
    error = direct(
        shop,
        "insert into odl.stock_moves (tenant_id, move_id, project_id, component_ref, qty, from_location, "
        "from_status, to_status, moved_by) values (%s, 'MOV-X', %s, 'CMP:ACME:M1:400W:A', 7, 'A', 'in_stock', "
        "'scrap', %s)",
        (shop.tenant, shop.project, shop.eng),
    )
    assert error.sqlstate == "ODQ06"


def test_a_serial_is_in_one_place_at_a_time(shop):
    _, _, _, _, po_line = shop.bought(4, tracking="serial", ref="CMP:SMA:I:5000W:A")
    receive = "select odl.odl_receive(%s, %s, %s, null, %s)"
    shop.value(shop.eng, receive, (po_line, 2, "A", ["SN-1", "SN-2"]))
    error = refused(shop, shop.eng, receive, (po_line, 2, "B", ["SN-3", "SN-1"]))
    assert error.sqlstate == "ODQ07" and "SN-1" in error.diag.message_primary
    assert "in_stock at A" in error.diag.message_detail
    assert refused(shop, shop.eng, receive, (po_line, 1, "B", None)).sqlstate == "22023"
    move = "select odl.odl_move_stock(%s, 'CMP:SMA:I:5000W:A', %s, %s, 'in_stock', 'in_stock', %s, null, %s)"
    assert refused(shop, shop.eng, move, (shop.project, 1, "B", "C", ["SN-1"])).sqlstate == "ODQ06"
    shop.value(shop.eng, receive, (po_line, 1, "B", ["SN-3"]))
    error = refused(shop, shop.eng, move, (shop.project, 1, "B", "C", ["SN-1"]))
    assert error.sqlstate == "ODQ07"
    assert refused(shop, shop.eng, move, (shop.project, 1, "A", "C", None)).sqlstate == "22023"
    shop.value(shop.eng, move, (shop.project, 1, "A", "C", ["SN-1"]))
    assert shop.superuser("select location from odl.serials where serial_no = 'SN-1' and tenant_id = %s",
                          (shop.tenant,)) == [("C",)]


def test_returns_never_exceed_what_was_received(shop):
    _, _, _, _, po_line = shop.bought(100)
    shop.value(shop.eng, "select odl.odl_receive(%s, 10, 'A')", (po_line,))
    rma = shop.value(shop.sm, "select odl.odl_open_return(%s, 8, 'defect', 'A')", (po_line,))
    error = refused(shop, shop.sm, "select odl.odl_open_return(%s, 3, 'defect', 'A')", (po_line,))
    assert error.sqlstate == "ODQ10" and "received 10, returned 8" in error.diag.message_detail
    shop.value(shop.pm, "select odl.odl_set_return_status(%s, 'rejected')", (rma,))
    shop.value(shop.sm, "select odl.odl_open_return(%s, 3, 'defect', 'A')", (po_line,))


def test_refusals_name_their_cause(shop):
    supplier = shop.value(shop.sm, "select odl.odl_create_supplier('Draft Co')")
    rfq, (line,) = shop.rfq([("CMP:ACME:M1:400W:A", 10)])
    offer = Jsonb([{"rfq_line_id": line, "unit_price": 1, "qty": 1}])
    error = refused(shop, shop.sm, "select odl.odl_submit_bid(%s, %s, 'EUR', %s)", (rfq, supplier, offer))
    assert error.sqlstate == "ODQ08"
    error = refused(shop, shop.sm, "select odl.odl_submit_bid(%s, 'SUP-NONE', 'EUR', %s)", (rfq, offer))
    assert error.sqlstate == "ODQ02" and "SUP-NONE" in error.diag.message_detail
    shop.value(shop.pm, "select odl.odl_set_supplier_status(%s, 'approved')", (supplier,))
    shop.value(shop.sm, "select odl.odl_set_rfq_status(%s, 'evaluating')", (rfq,))
    error = refused(shop, shop.sm, "select odl.odl_submit_bid(%s, %s, 'EUR', %s)", (rfq, supplier, offer))
    assert error.sqlstate == "ODQ09"
    error = refused(shop, shop.sm, "select odl.odl_set_rfq_status(%s, 'awarded')", (rfq,))
    assert error.sqlstate == "ODQ01" and error.diag.message_primary == "a rfq cannot move from evaluating to awarded"
    # Back to bidding: the next round.
    shop.value(shop.sm, "select odl.odl_set_rfq_status(%s, 'bidding')", (rfq,))
    assert shop.superuser("select round from odl.rfqs where rfq_id = %s", (rfq,)) == [(2,)]


def test_supplier_prices_are_read_only_with_the_clearance_the_policy_gives_pricing(shop):
    supplier, rfq, line, po, po_line = shop.bought(100)
    guest = shop.user("guest")
    for user, hidden in ((shop.sm, False), (shop.pm, False), (shop.eng, True), (guest, True)):
        bids = shop.rows(user, "select unit_price, price_redacted from odl.odl_rfq_bids(%s)", (rfq,))
        assert bids == [(None if hidden else 120.5, hidden)], user
        lines = shop.rows(user, "select unit_price, price_redacted from odl.odl_po_lines(%s)", (po,))
        assert lines == [(None if hidden else 120.5, hidden)], user
    # odl_app never selects the prices' tables; analysts see them redacted.
    shop.conn.execute("savepoint s")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        shop.rows(shop.pm, "select unit_price from odl.bid_lines")
    shop.conn.execute("rollback to savepoint s")
    for user, price in ((shop.pm, 120.5), (shop.eng, None)):
        with shop.conn.transaction():
            shop.conn.execute("set role odl_analyst")
            shop.conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant, user))
            assert shop.conn.execute("select unit_price from odl.analyst_order_lines").fetchall() == [(price,)]
            shop.conn.execute("set role odl_app")


def test_analysts_see_open_claims_by_supplier_only_for_projects_they_read(shop):
    supplier = shop.supplier()
    for _ in range(2):
        shop.value(shop.tech, "select odl.odl_open_warranty_claim(%s, %s, 'C', 'x')", (shop.project, supplier))
    outsider = shop.new_user("engineer")  # no assignment: reads no project
    for user, expected in ((shop.pm, [(supplier, 2)]), (outsider, [])):
        with shop.conn.transaction():
            shop.conn.execute("set role odl_analyst")
            shop.conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant, user))
            assert shop.conn.execute(
                "select supplier_id, open_claims from odl.analyst_open_warranty_claims"
            ).fetchall() == expected
            shop.conn.execute("set role odl_app")


@pytest.mark.parametrize("view, column", [
    ("analyst_open_warranty_claims", "project_id"), ("analyst_order_lines", "project_id"),
    ("analyst_stock", "project_id"),
])
def test_procurement_views_are_barriers_a_readers_function_cannot_look_behind(shop, view, column):
    _, _, _, _, po_line = shop.bought(10, order_qty=9)
    shop.value(shop.eng, "select odl.odl_receive(%s, 9, 'A')", (po_line,))
    supplier = shop.supplier("Claimed Co")
    shop.value(shop.tech, "select odl.odl_open_warranty_claim(%s, %s, 'C', 'x')", (shop.project, supplier))
    # A project nobody may read, with a row in each view's table.
    hidden = shop.value(shop.admin, "select odl.odl_create_project('Hidden')")
    for statement in (
        "insert into odl.warranty_claims (tenant_id, claim_id, project_id, supplier_id, component_ref, description, "
        "status, opened_by) values (%(t)s, 'CLAIM-HIDDEN', %(p)s, %(s)s, 'C', 'x', 'open', %(u)s)",
        "insert into odl.stock_balances (tenant_id, project_id, location, component_ref, status, qty) "
        "values (%(t)s, %(p)s, 'A', 'C', 'in_stock', 1)",
        "insert into odl.purchase_orders (tenant_id, po_id, project_id, rfq_id, supplier_id, currency, status, "
        "issued_by) select %(t)s::text, 'PO-HIDDEN', %(p)s::text, rfq_id, supplier_id, 'EUR', 'open', %(u)s::text "
        "from odl.purchase_orders where tenant_id = %(t)s::text limit 1",
        "insert into odl.po_lines (tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, "
        "uom, qty, unit_price) select %(t)s::text, 'PO-HIDDEN', 'POL-HIDDEN', supplier_id, rfq_line_id, bid_id, "
        "component_ref, uom, 1, 1 from odl.po_lines where tenant_id = %(t)s::text",
    ):
        assert direct(shop, statement, {"t": shop.tenant, "p": hidden, "s": supplier, "u": shop.admin}) is None
    shop.conn.execute(
        "create function pg_temp.leak(seen text) returns boolean language plpgsql cost 0.000001 as $$ "
        "begin raise notice 'LEAK %', seen; return true; end $$"
    )
    seen: list[str] = []
    shop.conn.add_notice_handler(lambda d: seen.append(d.message_primary[5:])
                                 if (d.message_primary or "").startswith("LEAK ") else None)
    with shop.conn.transaction():
        shop.conn.execute("set role odl_analyst")
        shop.conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant, shop.pm))
        shown = {r[0] for r in shop.conn.execute(f"select {column} from odl.{view} where pg_temp.leak({column})")}
        shop.conn.execute("set role odl_app")
    assert shown == {shop.project} and hidden not in seen


# -- 16 concurrent writers --

WRITERS = 16
OPERATIONS_PER_WRITER = 250
TIME_LIMIT_S = 30.0
# What a random operation may be refused with: the invariants and states.
EXPECTED_REFUSALS = {"ODQ04", "ODQ05", "ODQ06", "ODQ07", "ODQ09", "ODQ10", "ODQ01", "22023"}


@pytest.fixture
def market(dbname):
    """Committed, in a tenant of its own: an RFQ of 6 lines (4 tracked by
    quantity, 2 by serial) awarded to 3 suppliers, 2000 each."""
    conn = psycopg.connect(server_conninfo(dbname=dbname, user="postgres"))
    shop = Shop(conn)
    suppliers = [shop.supplier(f"Supplier {n}") for n in range(3)]
    refs = ["CMP:ACME:M1:400W:A", "CMP:ACME:RAIL:1W:A", "CMP:BORE:CBL:1W:A", "CMP:CIR:M2:410W:A",
            "CMP:SMA:INV:50000W:A", "CMP:SMA:BAT:10000W:A"]
    rfq, lines = shop.rfq([(ref, 2000) for ref in refs])
    bids = [shop.bid(rfq, s, {line: (100 + n, 2000) for line in lines}) for n, s in enumerate(suppliers)]
    shop.award(rfq, {line: bids[i % 3] for i, line in enumerate(lines)})
    # RFQs in evaluation that the writers race to award.
    races = []
    for n in range(20):
        race, (race_line,) = shop.rfq([(f"CMP:RACE:R{n}:1W:A", 10)])
        race_bids = [shop.bid(race, s, {race_line: (50 + k, 10)}) for k, s in enumerate(suppliers)]
        shop.value(shop.sm, "select odl.odl_set_rfq_status(%s, 'evaluating')", (race,))
        races.append((race, race_line, race_bids))
    conn.commit()
    awarded = [
        {"rfq_line_id": line, "supplier": suppliers[i % 3], "ref": refs[i], "serial": i >= 4}
        for i, line in enumerate(lines)
    ]
    yield shop, rfq, awarded, races
    conn.close()


def test_sixteen_concurrent_writers_never_break_an_invariant(dbname, market):
    shop, rfq, awarded, races = market
    orders: list[dict] = []  # {po_id, lines: [(po_line_id, ref, serial)]}
    lock = threading.Lock()
    outcomes: Counter = Counter()
    unexpected: list[str] = []
    deadline = time.monotonic() + TIME_LIMIT_S
    locations = ["A", "B", "C"]

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        conn = psycopg.connect(server_conninfo(dbname=dbname, user="odl_app"), autocommit=True)
        try:
            for _ in range(OPERATIONS_PER_WRITER):
                if time.monotonic() > deadline:
                    break
                kind = rng.choices(
                    ["issue", "receive", "move", "return", "ship_return", "cancel", "award"], [3, 6, 5, 2, 2, 1, 1]
                )[0]
                try:
                    with conn.transaction():
                        issued = run(conn, rng, kind)
                    outcome = "ok"
                    if issued:  # visible to the others once committed
                        with lock:
                            orders.append(issued)
                except psycopg.Error as error:
                    outcome = error.sqlstate or "?"
                    if outcome not in EXPECTED_REFUSALS:
                        with lock:
                            unexpected.append(f"{kind}: {outcome} {error}")
                with lock:
                    outcomes[(kind, outcome)] += 1
        finally:
            conn.close()

    def act(conn, user):
        conn.execute("select odl.odl_set_context(%s, %s)", (shop.tenant, user))

    def run(conn, rng, kind):
        if kind == "award":
            race, race_line, race_bids = rng.choice(races)
            act(conn, shop.pm)
            conn.execute("select odl.odl_award_rfq(%s, %s)",
                         (race, Jsonb([{"rfq_line_id": race_line, "bid_id": rng.choice(race_bids)}])))
            return None
        with lock:
            known = list(orders)
        if kind == "issue" or not known:
            supplier = rng.choice(awarded)["supplier"]
            mine = [a for a in awarded if a["supplier"] == supplier]
            chosen = rng.sample(mine, rng.randint(1, len(mine)))
            lines = [{"rfq_line_id": a["rfq_line_id"], "qty": rng.randint(1, 40),
                      "tracking_level": "serial" if a["serial"] else "quantity",
                      "over_receipt_pct": 0 if a["serial"] else rng.choice([0, 5])} for a in chosen]
            act(conn, shop.sm)
            po = conn.execute("select odl.odl_issue_po(%s, %s, %s)", (rfq, supplier, Jsonb(lines))).fetchone()[0]
            rows = conn.execute("select po_line_id, component_ref, tracking_level from odl.odl_po_lines(%s)",
                                (po,)).fetchall()
            return {"po_id": po, "lines": [(r[0], r[1], r[2] == "serial") for r in rows]}
        order = rng.choice(known)
        po_line, ref, serial = rng.choice(order["lines"])
        serials = [f"{ref[-6:]}-{rng.randint(1, 400)}" for _ in range(rng.randint(1, 3))] if serial else None
        qty = len(set(serials)) if serial else rng.randint(1, 25)
        if serials:
            serials = sorted(set(serials))
        if kind == "receive":
            act(conn, shop.eng)
            conn.execute("select odl.odl_receive(%s, %s, %s, null, %s)", (po_line, qty, rng.choice(locations), serials))
        elif kind == "move":
            act(conn, shop.eng)
            source, target = rng.choice([("in_stock", "in_stock"), ("in_stock", "reserved"), ("reserved", "installed"),
                                         ("in_stock", "quarantine"), ("quarantine", "in_stock"),
                                         ("quarantine", "scrap")])
            conn.execute(
                "select odl.odl_move_stock(%s, %s, %s, %s, %s, %s, %s, null, %s)",
                (shop.project, ref, qty, rng.choice(locations), source, target, rng.choice(locations), serials),
            )
        elif kind == "return":
            act(conn, shop.sm)
            conn.execute("select odl.odl_open_return(%s, %s, 'defect', %s, 'in_stock', null, %s)",
                         (po_line, qty, rng.choice(locations), serials))
        elif kind == "ship_return":
            act(conn, shop.sm)
            rma = conn.execute(
                "select rma_id, status from odl.returns where status in ('requested', 'authorized') "
                "order by random() limit 1"
            ).fetchone()
            if rma is None:
                return None
            if rma[1] == "requested":
                act(conn, shop.pm)
                conn.execute("select odl.odl_set_return_status(%s, %s)",
                             (rma[0], rng.choice(["authorized", "authorized", "rejected"])))
            else:
                conn.execute("select odl.odl_set_return_status(%s, %s)",
                             (rma[0], rng.choice(["in_transit", "in_transit", "cancelled"])))
        elif kind == "cancel":
            act(conn, shop.sm)
            conn.execute("select odl.odl_set_po_status(%s, 'cancelled')", (order["po_id"],))
        return None

    started = time.monotonic()
    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(outcomes.values())
    succeeded = sum(n for (_, outcome), n in outcomes.items() if outcome == "ok")
    print(f"\n{total} operations by {WRITERS} writers in {elapsed:.1f} s ({total / elapsed:.0f}/s), "
          f"{succeeded} succeeded; outcomes {dict(sorted(outcomes.items()))}")
    assert unexpected == [], unexpected[:5]
    assert not any(outcome in ("40P01", "40001") for _, outcome in outcomes), "a deadlock reached a caller"
    assert total >= 2000, f"only {total} operations ran"
    for kind in ("issue", "receive", "move", "return"):
        assert outcomes[(kind, "ok")] > 0, kind
    for refusal in ("ODQ04", "ODQ05", "ODQ06", "ODQ07"):
        assert any(outcome == refusal for _, outcome in outcomes), f"no {refusal}: the test did not press"

    # The invariants, recomputed from the ledgers with independent SQL.
    violations = shop.superuser(
        """
        with params as (select %(t)s::text as t)
        -- ordered <= awarded, and ordered is what the PO lines order
        select 'ordered' as invariant, l.rfq_line_id as what
        from odl.rfq_lines as l, params
        where l.tenant_id = params.t and (
            l.ordered_qty > coalesce(l.awarded_qty, 0)
            or l.ordered_qty <> coalesce((
                select sum(case when o.status = 'cancelled' then least(p.received_qty, p.qty) else p.qty end)
                from odl.po_lines as p
                inner join odl.purchase_orders as o on p.tenant_id = o.tenant_id and p.po_id = o.po_id
                where p.tenant_id = l.tenant_id and p.rfq_line_id = l.rfq_line_id
            ), 0)
        )
        union all
        -- one awarded bid per line: every PO line orders from its line's award
        select 'award', p.po_line_id
        from odl.po_lines as p
        inner join odl.rfq_lines as l on p.tenant_id = l.tenant_id and p.rfq_line_id = l.rfq_line_id, params
        where p.tenant_id = params.t and p.bid_id is distinct from l.awarded_bid_id
        union all
        -- received <= ordered within the tolerance, and received is the receipts
        select 'received', p.po_line_id
        from odl.po_lines as p, params
        where p.tenant_id = params.t and (
            p.received_qty > p.qty * (1 + p.over_receipt_pct / 100)
            or p.received_qty <> coalesce((
                select sum(r.qty) from odl.receipts as r where r.tenant_id = p.tenant_id and r.po_line_id = p.po_line_id
            ), 0)
            or p.returned_qty > p.received_qty
            or p.returned_qty <> coalesce((
                select sum(r.qty) from odl.returns as r
                where r.tenant_id = p.tenant_id and r.po_line_id = p.po_line_id
                    and r.status not in ('rejected', 'cancelled')
            ), 0)
        )
        union all
        -- stock is never negative, and is what the moves left
        select 'stock', coalesce(b.location, m.location) || ' ' || coalesce(b.component_ref, m.component_ref)
        from (select * from odl.stock_balances, params where tenant_id = params.t) as b
        full join (
            select x.location, x.component_ref, x.lot, x.status, sum(x.qty) as qty
            from (
                select to_location as location, component_ref, lot, to_status as status, qty
                from odl.stock_moves, params where tenant_id = params.t and to_location is not null
                union all
                select from_location, component_ref, lot, from_status, -qty
                from odl.stock_moves, params where tenant_id = params.t and from_location is not null
            ) as x
            group by 1, 2, 3, 4
        ) as m using (location, component_ref, lot, status)
        where coalesce(b.qty, 0) <> coalesce(m.qty, 0) or b.qty < 0 or m.qty < 0
        union all
        -- a serial in one place at a time: its moves net to one place, the one recorded
        select 'serial', s.component_ref || ' ' || s.serial_no
        from (
            select component_ref, serial_no, location, status, sum(delta) as here
            from (
                select m.component_ref, x.serial_no, m.to_location as location, m.to_status as status, 1 as delta
                from odl.stock_moves as m cross join unnest(m.serials) as x (serial_no), params
                where m.tenant_id = params.t and m.to_location is not null
                union all
                select m.component_ref, x.serial_no, m.from_location, m.from_status, -1
                from odl.stock_moves as m cross join unnest(m.serials) as x (serial_no), params
                where m.tenant_id = params.t and m.from_location is not null
            ) as d
            group by 1, 2, 3, 4
        ) as s
        left join odl.serials as r
            on r.tenant_id = %(t)s and r.component_ref = s.component_ref and r.serial_no = s.serial_no
        where s.here not in (0, 1)
            or (s.here = 1) <> (r.location = s.location and r.status = s.status)
        union all
        -- serial-tracked stock counts exactly its serials
        select 'serial count', b.location || ' ' || b.component_ref
        from odl.stock_balances as b, params
        where b.tenant_id = params.t and b.component_ref like 'CMP:SMA:%%' and b.qty <> (
            select count(*) from odl.serials as s
            where s.tenant_id = b.tenant_id and s.component_ref = b.component_ref and s.location = b.location
                and s.status = b.status and s.project_id = b.project_id
        )
        """,
        {"t": shop.tenant},
    )
    assert violations == []
    # Each raced RFQ was awarded once, to one bid, whoever came first.
    for race, race_line, race_bids in races:
        state = shop.superuser(
            """
            select r.status, l.awarded_bid_id,
                (select count(*) from odl.bids as b where b.rfq_id = r.rfq_id and b.status = 'won'),
                (select count(*) from odl.audit_events as e
                 where e.tenant_id = r.tenant_id and e.action = 'rfq.awarded' and e.payload ->> 'rfq_id' = r.rfq_id)
            from odl.rfqs as r inner join odl.rfq_lines as l on r.tenant_id = l.tenant_id and r.rfq_id = l.rfq_id
            where r.rfq_id = %s
            """,
            (race,),
        )[0]
        if outcomes[("award", "ok")]:
            assert state[0] in ("awarded", "evaluating") and state[2] == state[3] == (state[0] == "awarded")
            assert (state[1] in race_bids) == (state[0] == "awarded")
    assert 0 < outcomes[("award", "ok")] <= len(races)
    stock, serials = shop.superuser(
        "select (select count(*) from odl.stock_moves where tenant_id = %(t)s), "
        "(select count(*) from odl.serials where tenant_id = %(t)s)", {"t": shop.tenant}
    )[0]
    assert stock > 100 and serials > 20
    shop.conn.execute("set role odl_admin")
    verified = shop.conn.execute("select odl.odl_audit_verify(%s)", (shop.tenant,)).fetchone()[0]
    shop.conn.execute("set role odl_app")
    assert verified["ok"], verified
