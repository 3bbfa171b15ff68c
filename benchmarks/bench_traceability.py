"""Traceability: the EPCIS questions at 1M events and 100k serials.

Two tenants in one database, loaded alike: a small one (1,000 serials,
about 10,000 events) and a large one (100,000 serials, about 1,000,000
events, spread over twelve monthly partitions of `odl.epcis_events`). Each
serial travels packed on a pallet of 100 (AggregationEvent ADD, the
pallet's shipping and receiving events naming its shipment, AggregationEvent
DELETE), then has its own events (installing, inspecting, repairing, ...).

Timed, through the API as `odl_app` with the tenant's context, a random
serial or shipment per call:

1. `odl_epcis_where(epc)`: where is serial X now;
2. `odl_epcis_trace(epc)`: how did it get there (its events and its
   pallet's while packed);
3. `odl_epcis_document(biz_transaction)`: a shipment's events as an EPCIS
   document;
4. `odl_epcis_document(epc => ...)`: a serial's events as an EPCIS document.

and across the procurement ledger (odl_trace_ functions, sources in
sql/110_traceability), over 100,000 serials received on 1,000 PO lines from
10 suppliers, in 100 lots, 95% installed, and a component index of 10,000
components of which half are named by a PO line:

5. `odl_trace_lot_installed(project, supplier, lot)`: every serial of lot L
   from supplier S installed in project P;
6. `odl_trace_where(component, serial)`: where is serial X now, from the
   ledger and from its last EPCIS event;
7. `odl_trace_history(component, serial)`: its full history, ledger and
   events;
8. `odl_trace_received_not_installed(project)`: what was received but not
   installed (a report: about 5,000 rows at 100k serials);
9. `odl_trace_approved_not_ordered(project)`: components approved but
   never ordered (a report: about 1,300 rows at 10,000 components).

The small tenant is the baseline: a ratio near 1 says the question costs
the same whatever the size of the table, as an index lookup should. The
events are loaded by SQL, not through capture (a million captures would take
the whole time box): their ids have the form of CBV hashes but hash the
serial and position. Capture itself is timed on its own (documents of 10
real events through `odl_capture_epcis()`), and the plans of the lookups
inside the functions are shown (index-only scans on the key tables, one
partition read per event through run-time pruning).
"""

from __future__ import annotations

import os
import random
import statistics
import uuid

import psycopg
from psycopg.types.json import Jsonb

from harness import Context, Section, Stopwatch, compare, one_cpu

TITLE = "Traceability (EPCIS)"

QUICK = os.environ.get("ODL_BENCH_QUICK") == "1"   # a smoke run: 10k serials, few rounds; no result
SIZES = {"small": 1_000, "large": 10_000 if QUICK else 100_000}   # serials per tenant
PALLET = 100                                 # serials per pallet and shipment
OWN_EVENTS = 10                              # events of each serial of its own
MONTHS = 12                                  # partitions the events' record_time spreads over
ROUNDS = 10 if QUICK else 200               # per question, after 10 warm-up rounds
CAPTURE_DOCS = 50                            # documents of 10 events through odl_capture_epcis()
SET_CONTEXT = "select odl.odl_set_context(%s, %s)"
STEPS = ("installing", "inspecting", "repairing", "holding", "inspecting", "installing", "storing", "picking",
         "loading", "removing")

QUESTIONS = {
    "where": ("where is serial X now: `odl_epcis_where(epc)`", "select * from odl.odl_epcis_where(%s)"),
    "trace": ("how did it get there: `odl_epcis_trace(epc)`", "select * from odl.odl_epcis_trace(%s)"),
    "shipment": ("a shipment as an EPCIS document: `odl_epcis_document(biz_transaction)`",
                 "select odl.odl_epcis_document(%s)"),
    "serial": ("a serial as an EPCIS document: `odl_epcis_document(epc => ...)`",
               "select odl.odl_epcis_document(epc => %s)"),
    "lot": ("every serial of lot L from supplier S installed in project P: `odl_trace_lot_installed()`",
            "select * from odl.odl_trace_lot_installed(%s, %s, %s)"),
    "trace_where": ("where is serial X now, ledger and events: `odl_trace_where()`",
                    "select * from odl.odl_trace_where(%s, %s)"),
    "trace_history": ("its full history, ledger and events: `odl_trace_history()`",
                      "select * from odl.odl_trace_history(%s, %s)"),
    "not_installed": ("received but not installed, of the project: `odl_trace_received_not_installed()`",
                      "select * from odl.odl_trace_received_not_installed(%s)"),
    "not_ordered": ("approved but never ordered, of the project: `odl_trace_approved_not_ordered()`",
                    "select * from odl.odl_trace_approved_not_ordered(%s)"),
}
# The two reports return thousands of rows: fewer rounds.
QUESTION_ROUNDS = {"not_installed": 40, "not_ordered": 40, "lot": 100, "trace_where": 100, "trace_history": 100}
if QUICK:
    QUESTION_ROUNDS = dict.fromkeys(QUESTION_ROUNDS, ROUNDS)
COMPONENT = "CMP:BENCH:INV:400W:A"           # the serials' component; its GTIN names them in the events
SUPPLIERS = 10                               # pallet p comes from supplier p % SUPPLIERS
LOT = 1_000                                  # serials per lot
COMPONENTS_PER_SERIAL = 10                   # component index rows: serials / 10

# Everything about one tenant's events from the serial numbers, in SQL:
# serial s is 'urn:..sgtin..' || s, normalised as capture normalises it;
# pallet p = s / PALLET, its shipment 'urn:example:desadv:<tenant>:<p>'.
LOAD = """
create temporary table bench_events on commit drop as
with pallets as (
    select p, 'https://id.gs1.org/00/0' || lpad(p::text, 16, '0') || '0' as sscc,
        'urn:example:desadv:' || %(tag)s || ':' || p as shipment
    from generate_series(0, %(serials)s / %(pallet)s - 1) as p
),
pallet_events as (
    select
        p.p, k, p.sscc, p.shipment,
        timestamptz '2025-01-01' + make_interval(days => p.p %% 300, hours => k * 6) as event_time,
        case k when 0 then 'AggregationEvent' when 3 then 'AggregationEvent' else 'ObjectEvent' end as event_type,
        case k when 0 then 'ADD' when 3 then 'DELETE' else 'OBSERVE' end as action,
        case k when 0 then 'packing' when 1 then 'shipping' when 2 then 'receiving' else 'unpacking' end as step
    from pallets as p
    cross join generate_series(0, 3) as k
),
serial_events as (
    select
        s, k,
        timestamptz '2025-01-01' + make_interval(days => (s / %(pallet)s) %% 300 + 2 + k * 3, hours => s %% 24)
            as event_time
    from generate_series(0, %(serials)s - 1) as s
    cross join generate_series(1, %(own)s) as k
)
select
    'ni:///sha-256;' || encode(sha256(convert_to(%(tag)s || ':pallet:' || e.p || ':' || e.k, 'UTF8')), 'hex')
        || '?ver=CBV2.0' as event_id,
    e.event_type, e.action, e.step, e.event_time, e.sscc as epc, 'pallet' as kind, e.p as pallet,
    e.shipment, null::bigint as s
from pallet_events as e
union all
select
    'ni:///sha-256;' || encode(sha256(convert_to(%(tag)s || ':serial:' || e.s || ':' || e.k, 'UTF8')), 'hex')
        || '?ver=CBV2.0',
    'ObjectEvent', 'OBSERVE', (array['installing', 'inspecting', 'repairing', 'holding', 'inspecting',
        'installing', 'storing', 'picking', 'loading', 'removing'])[1 + (e.k - 1) %% 10],
    e.event_time, 'https://id.gs1.org/01/04012345111118/21/' || %(tag)s || e.s, 'serial', e.s / %(pallet)s,
    null, e.s
from serial_events as e;

insert into odl.epcis_event_ids (tenant_id, event_id, project_id, event_type, event_time, record_time)
select %(tenant)s, b.event_id, %(project)s, b.event_type, b.event_time,
    date_trunc('month', now()) - make_interval(months => (abs(hashtext(b.event_id)) %% %(months)s))
        + make_interval(secs => abs(hashtext(b.event_id || 'r')) %% 2000000)
from bench_events as b;

insert into odl.epcis_events (
    tenant_id, event_id, record_time, project_id, event_type, event_time, action, biz_step, disposition,
    read_point, biz_location, event, context, captured_by
)
select
    %(tenant)s, b.event_id, i.record_time, %(project)s, b.event_type, b.event_time, b.action,
    'https://ref.gs1.org/cbv/BizStep-' || b.step, null, null,
    'https://id.gs1.org/414/40123450' || lpad(((coalesce(b.s, b.pallet)) %% 1000)::text, 4, '0') || '0',
    jsonb_build_object(
        'type', b.event_type, 'eventID', b.event_id,
        'eventTime', to_char(b.event_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'eventTimeZoneOffset', '+00:00', 'action', b.action, 'bizStep', b.step,
        'recordTime', to_char(i.record_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'bizLocation', jsonb_build_object('id',
            'https://id.gs1.org/414/40123450' || lpad(((coalesce(b.s, b.pallet)) %% 1000)::text, 4, '0') || '0')
    )
    || case
        when b.event_type = 'AggregationEvent' then jsonb_build_object(
            'parentID', b.epc,
            'childEPCs', (
                select jsonb_agg('https://id.gs1.org/01/04012345111118/21/' || %(tag)s || c)
                from generate_series(b.pallet * %(pallet)s, b.pallet * %(pallet)s + %(pallet)s - 1) as c
            ))
        else jsonb_build_object('epcList', jsonb_build_array(b.epc))
    end
    || case when b.shipment is not null and b.event_type = 'ObjectEvent' then jsonb_build_object(
        'bizTransactionList', jsonb_build_array(jsonb_build_object('bizTransaction', b.shipment, 'type', 'desadv')))
        else '{}' end,
    '{}', null
from bench_events as b
inner join odl.epcis_event_ids as i on i.tenant_id = %(tenant)s and i.event_id = b.event_id;

insert into odl.epcis_event_epcs (tenant_id, epc, event_time, event_id, role)
select %(tenant)s, b.epc, b.event_time, b.event_id,
    case when b.event_type = 'AggregationEvent' then 'parent' else 'epc' end
from bench_events as b
union all
select %(tenant)s, 'https://id.gs1.org/01/04012345111118/21/' || %(tag)s || c, b.event_time, b.event_id, 'child'
from bench_events as b
cross join generate_series(b.pallet * %(pallet)s, b.pallet * %(pallet)s + %(pallet)s - 1) as c
where b.event_type = 'AggregationEvent';

insert into odl.epcis_event_biz_transactions (tenant_id, biz_transaction, event_time, event_id, type)
select %(tenant)s, b.shipment, b.event_time, b.event_id, 'https://ref.gs1.org/cbv/BTT-desadv'
from bench_events as b
where b.shipment is not null and b.event_type = 'ObjectEvent';
"""


# The procurement ledger of the same serials, by SQL as the superuser with
# triggers (and so foreign keys) off: serial s came on pallet p = s / PALLET,
# received on PO line p from supplier p % SUPPLIERS, in lot s / LOT; it was
# reserved and installed in groups of ten unless s % 100 >= 95 (in stock or
# reserved). A component index of serials / 10 components, statuses in the
# machine's order, every other one named by a PO line.
LOAD_PROCUREMENT = """
set local session_replication_role = replica;
insert into odl.suppliers (tenant_id, supplier_id, name, status, created_by)
select %(tenant)s, 'SUP-' || upper(%(tag)s) || lpad(k::text, 2, '0'), 'Supplier ' || k, 'approved', %(user)s
from generate_series(0, %(suppliers)s - 1) as k;
insert into odl.purchase_orders (tenant_id, po_id, project_id, rfq_id, supplier_id, currency, status, issued_by)
select %(tenant)s, 'PO-' || %(tag)s || '-' || lpad(p::text, 6, '0'), %(project)s, 'RFQ-BENCH',
    'SUP-' || upper(%(tag)s) || lpad((p %% %(suppliers)s)::text, 2, '0'), 'EUR', 'closed', %(user)s
from generate_series(0, %(serials)s / %(pallet)s - 1) as p;
insert into odl.po_lines (tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, uom,
    tracking_level, qty, unit_price, received_qty)
select %(tenant)s, 'PO-' || %(tag)s || '-' || lpad(p::text, 6, '0'), 'POL-' || %(tag)s || '-' || lpad(p::text, 6, '0'),
    'SUP-' || upper(%(tag)s) || lpad((p %% %(suppliers)s)::text, 2, '0'), 'RFL-BENCH', 'BID-BENCH', %(component)s,
    'pcs', 'serial', %(pallet)s, 100, %(pallet)s
from generate_series(0, %(serials)s / %(pallet)s - 1) as p;
insert into odl.receipts (tenant_id, receipt_id, po_id, po_line_id, qty, location, lot, serials, received_by)
select %(tenant)s, 'RCV-' || %(tag)s || '-' || p, 'PO-' || %(tag)s || '-' || lpad(p::text, 6, '0'),
    'POL-' || %(tag)s || '-' || lpad(p::text, 6, '0'), %(pallet)s, 'DEPOT-1', 'LOT-' || (p * %(pallet)s / %(lot)s),
    (
        select array_agg(%(tag)s || s order by s)
        from generate_series(p * %(pallet)s, p * %(pallet)s + %(pallet)s - 1) as s
    ),
    %(user)s
from generate_series(0, %(serials)s / %(pallet)s - 1) as p;
create temporary table bench_serials on commit drop as
select s, %(tag)s || s as serial_no, 'LOT-' || (s / %(lot)s) as lot,
    case when s %% 100 < 95 then 'installed' when s %% 100 < 98 then 'in_stock' else 'reserved' end as status
from generate_series(0, %(serials)s - 1) as s;
insert into odl.serials (tenant_id, component_ref, serial_no, project_id, location, lot, status, po_line_id)
select %(tenant)s, %(component)s, b.serial_no, %(project)s,
    case when b.status = 'installed' then 'SITE-' || (b.s %% 10) else 'DEPOT-1' end, b.lot, b.status,
    'POL-' || %(tag)s || '-' || lpad((b.s / %(pallet)s)::text, 6, '0')
from bench_serials as b;
insert into odl.stock_moves (tenant_id, move_id, project_id, component_ref, lot, qty, from_location, from_status,
    to_location, to_status, serials, receipt_id, moved_by)
select %(tenant)s, 'MOV-' || r.receipt_id, %(project)s, %(component)s, r.lot, r.qty, null, '', 'DEPOT-1', 'in_stock',
    r.serials, r.receipt_id, %(user)s
from odl.receipts as r
where r.tenant_id = %(tenant)s
union all
select %(tenant)s, 'MOV-' || %(tag)s || '-' || m.step || '-' || g.grp, %(project)s, %(component)s, g.lot, g.n,
    'DEPOT-1', m.from_status, case when m.step = 'install' then null else 'DEPOT-1' end, m.to_status, g.serials,
    null, %(user)s
from (values ('reserve', 'in_stock', 'reserved'), ('install', 'reserved', 'installed'))
    as m (step, from_status, to_status)
cross join lateral (
    select b.s / 10 as grp, min(b.lot) as lot, count(*) as n, array_agg(b.serial_no order by b.s) as serials
    from bench_serials as b
    where b.status = 'installed' or (m.step = 'reserve' and b.status = 'reserved')
    group by b.s / 10
) as g;
insert into odl.stock_move_serials (tenant_id, component_ref, serial_no, moved_at, move_id)
select m.tenant_id, m.component_ref, x.serial_no, m.moved_at, m.move_id
from odl.stock_moves as m
cross join lateral unnest(m.serials) as x (serial_no)
where m.tenant_id = %(tenant)s;
insert into odl.stock_balances (tenant_id, project_id, location, component_ref, lot, status, qty)
select %(tenant)s, %(project)s, 'DEPOT-1', %(component)s, b.lot, b.status, count(*)
from bench_serials as b
where b.status <> 'installed'
group by b.lot, b.status;
insert into odl.component_index (tenant_id, doc_id, component_key, project_id, entry, occurrences, component_id,
    brand, part_number, rating_w, status, tracking_level)
select %(tenant)s, %(doc)s, 'K' || i, %(project)s, 'K' || i, 1, 'CMP:BENCH:P' || i || ':400W:A', 'BRAND' || (i %% 50),
    'P' || i, 400, st.status, 'serial'
from generate_series(0, %(serials)s / %(components_per_serial)s - 1) as i
inner join odl.component_statuses as st on st.position = 1 + i %% 19;
insert into odl.po_lines (tenant_id, po_id, po_line_id, supplier_id, rfq_line_id, bid_id, component_ref, uom, qty,
    unit_price)
select %(tenant)s, 'PO-' || %(tag)s || '-' || lpad((i %% (%(serials)s / %(pallet)s))::text, 6, '0'),
    'POL-' || %(tag)s || '-C' || lpad(i::text, 6, '0'),
    'SUP-' || upper(%(tag)s) || lpad(((i %% (%(serials)s / %(pallet)s)) %% %(suppliers)s)::text, 2, '0'),
    'RFL-BENCH', 'BID-BENCH', case when i %% 4 = 0 then 'CMP:BENCH:P' || i || ':400W:A' else 'P' || i end, 'pcs', 1, 1
from generate_series(0, %(serials)s / %(components_per_serial)s - 1, 2) as i;
"""

DOCUMENT = {
    "$schema": "https://odl-sd.org/schemas/v4.1/document.json", "schema_version": "4.1",
    "meta": {"project": "Traceability", "domain": "PV", "scale": "UTILITY"},
    "hierarchy": {"type": "PORTFOLIO", "id": "PF-1"},
    "libraries": {"components": {"INV": {"category": "power_electronics", "component_management": {
        "status": "ordered",
        "component_identity": {"component_id": COMPONENT, "brand": "BENCH", "part_number": "INV", "rating_w": 400,
                               "name": "BENCH_INV_400W",
                               "classification": {"unspsc": "26111700", "gtin": "04012345111118"}},
        "source_documents": {"datasheet": {"type": "datasheet", "url": "https://docs.example.com/inv.pdf"}},
        "tracking_policy": {"level": "serial"},
        "supplier_chain": {"suppliers": [{"id": "SUP-001", "name": "Acme", "status": "approved"}],
                           "commercials": {"base_cost": 100, "margins": {"total_margin_pct": 12.5,
                                                                         "currency": "EUR", "net_price": 112.5}}},
        "approvals": {"requested": True, "records": [{"role": "expert", "outcome": "approved"}]},
    }}}},
    "instances": [],
}


class Tenant:
    """A tenant whose user is an engineer (W on instances) at the node of one project."""

    def __init__(self, ctx: Context, tag: str):
        self.tag = tag
        with ctx.connect(user="postgres", autocommit=True) as admin:
            admin.execute("set role odl_admin")
            self.tenant = admin.execute("select odl.odl_create_tenant(%s, 'EU')", (f"trace-{tag}",)).fetchone()[0]
            tenant_admin = admin.execute(
                "select odl.odl_create_user(%s, %s, 'super_user')", (self.tenant, f"admin-{tag}@example.com")
            ).fetchone()[0]
            self.user = admin.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (self.tenant, f"bench-{tag}@example.com")
            ).fetchone()[0]
        self.app = ctx.connect(user="odl_app")
        self.app.execute(SET_CONTEXT, (self.tenant, self.user))
        self.project = self.app.execute("select odl.odl_create_project(%s)", (f"trace-{tag}",)).fetchone()[0]
        self.app.commit()
        self.app.execute(SET_CONTEXT, (self.tenant, tenant_admin))
        (node,) = self.app.execute("select odl.odl_create_node(null, 'PORTFOLIO', %s)", (tag,)).fetchone()
        self.app.execute("select odl.odl_attach_project(%s, %s)", (self.project, node))
        self.app.execute("select odl.odl_assign_role(%s, %s, 'engineer')", (self.user, node))
        self.app.execute("select odl.odl_assign_role(%s, %s, 'super_user')", (tenant_admin, node))
        self.doc = self.app.execute("select odl.odl_create_document(%s, %s)",
                                    (self.project, Jsonb(DOCUMENT))).fetchone()[0]
        self.app.commit()

    def load(self, su: psycopg.Connection, serials: int) -> None:
        psycopg.ClientCursor(su).execute(LOAD, {"tag": self.tag, "serials": serials, "pallet": PALLET, "own": OWN_EVENTS,
                          "tenant": self.tenant, "project": self.project, "months": MONTHS})
        su.commit()
        psycopg.ClientCursor(su).execute(LOAD_PROCUREMENT, {
            "tag": self.tag, "serials": serials, "pallet": PALLET, "tenant": self.tenant, "project": self.project,
            "user": self.user, "suppliers": SUPPLIERS, "lot": LOT, "component": COMPONENT, "doc": self.doc,
            "components_per_serial": COMPONENTS_PER_SERIAL})
        su.commit()

    def key(self, question: str, rng: random.Random, serials: int) -> tuple:
        if question == "shipment":
            return (f"urn:example:desadv:{self.tag}:{rng.randrange(serials // PALLET)}",)
        if question == "lot":
            lot = rng.randrange(serials // LOT)
            supplier = rng.randrange(SUPPLIERS)
            return (self.project, f"SUP-{self.tag.upper()}{supplier:02d}", f"LOT-{lot}")
        if question in ("trace_where", "trace_history"):
            return (COMPONENT, f"{self.tag}{rng.randrange(serials)}")
        if question in ("not_installed", "not_ordered"):
            return (self.project,)
        return (f"urn:epc:id:sgtin:4012345.011111.{self.tag}{rng.randrange(serials)}",)

    def ask(self, sql: str, key: tuple) -> tuple[float, int]:
        cur = self.app.cursor()
        cur.execute(SET_CONTEXT, (self.tenant, self.user), prepare=True)
        with Stopwatch() as sw:
            rows = cur.execute(sql, key, prepare=True).fetchall()
        self.app.commit()
        return sw.seconds, len(rows)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def without_init_plans(lines: list[str]) -> list[str]:
    """The plan without the InitPlans of the RLS policies (the context
    lookup, once per query), which would bury the scans."""
    kept, skip_deeper_than = [], None
    for line in lines:
        depth = len(line) - len(line.lstrip())
        if skip_deeper_than is not None and depth > skip_deeper_than:
            continue
        skip_deeper_than = None
        if line.lstrip().startswith("InitPlan"):
            skip_deeper_than = depth
            continue
        kept.append(line)
    return kept


def plans(su: psycopg.Connection, tenant: Tenant) -> str:
    """EXPLAIN ANALYZE of the lookups the functions make, as odl_owner (the
    functions' owner) under the tenant's context, so RLS applies."""
    su.execute("set role odl_owner")
    su.execute("select odl.set_session_context(%s, %s)", (tenant.tenant, tenant.user))
    epc = f"https://id.gs1.org/01/04012345111118/21/{tenant.tag}4242"
    shipment = f"urn:example:desadv:{tenant.tag}:42"
    statements = {
        "the events of a serial (odl.epcis_event_epcs)": (
            "select x.event_time, x.event_id, x.role from odl.epcis_event_epcs as x"
            " where x.tenant_id = %s and x.epc = %s", (tenant.tenant, epc)),
        "the events of a shipment (odl.epcis_event_biz_transactions)": (
            "select b.event_id from odl.epcis_event_biz_transactions as b"
            " where b.tenant_id = %s and b.biz_transaction = %s", (tenant.tenant, shipment)),
        "their rows in the partitioned odl.epcis_events": (
            "select e.event_type, e.action, e.biz_location from odl.epcis_event_epcs as x"
            " inner join odl.epcis_event_ids as i on i.tenant_id = x.tenant_id and i.event_id = x.event_id"
            " inner join odl.epcis_events as e on e.tenant_id = i.tenant_id and e.event_id = i.event_id"
            " and e.record_time = i.record_time where x.tenant_id = %s and x.epc = %s", (tenant.tenant, epc)),
        "serials of a lot from a supplier installed in a project (odl.analyst_serials, as odl_trace_lot_installed)": (
            "select s.component_ref, s.serial_no, s.location, s.po_id from odl.analyst_serials as s"
            " where s.project_id = %s and s.lot = 'LOT-42' and s.status = 'installed' and s.supplier_id = %s",
            (tenant.project, f"SUP-{tenant.tag.upper()}03")),
        "where a serial is (odl.analyst_serials, as odl_trace_where)": (
            "select s.status, s.location, s.supplier_id from odl.analyst_serials as s"
            " where s.component_ref = %s and s.serial_no = %s", (COMPONENT, f"{tenant.tag}4242")),
        "a serial's stock moves (odl_trace_history)": (
            "select m.move_id, m.moved_at from odl.stock_move_serials as x"
            " inner join odl.stock_moves as m on m.tenant_id = x.tenant_id and m.move_id = x.move_id"
            " where x.component_ref = %s and x.serial_no = %s", (COMPONENT, f"{tenant.tag}4242")),
        "received but not installed (odl.analyst_received_not_installed)": (
            "select count(*) from odl.analyst_received_not_installed as v where v.project_id = %s", (tenant.project,)),
        "approved but never ordered (odl.analyst_approved_not_ordered)": (
            "select count(*) from odl.analyst_approved_not_ordered as v where v.project_id = %s", (tenant.project,)),
    }
    out = []
    for label, (sql, params) in statements.items():
        rows = su.execute("explain (analyze, costs off, timing off, summary off) " + sql, params).fetchall()
        out.append(f"{label}:\n\n```\n" + "\n".join(without_init_plans([r[0] for r in rows])) + "\n```")
    su.rollback()
    return "\n\n".join(out)


def capture_rate(tenant: Tenant, seed: int) -> tuple[float, float, float]:
    """Documents of ten real events through odl_capture_epcis(): events per
    second, and p50 / p95 ms per document."""
    rng = random.Random(seed)
    seconds = []
    cur = tenant.app.cursor()
    for d in range(CAPTURE_DOCS):
        events = [{
            "type": "ObjectEvent", "eventTime": f"2026-02-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
            "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "receiving",
            "epcList": [f"urn:epc:id:sgtin:4012345.011111.cap{d}x{i}x{uuid.uuid4().hex[:6]}"],
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00012.0"},
            "bizTransactionList": [{"bizTransaction": f"urn:example:desadv:cap:{d}", "type": "desadv"}],
        } for i in range(10)]
        doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
               "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-02-01T00:00:00Z",
               "epcisBody": {"eventList": events}}
        cur.execute(SET_CONTEXT, (tenant.tenant, tenant.user), prepare=True)
        with Stopwatch() as sw:
            cur.execute("select odl.odl_capture_epcis(%s, %s)", (tenant.project, Jsonb(doc)), prepare=True)
            tenant.app.commit()
        seconds.append(sw.seconds)
    return 10 * len(seconds) / sum(seconds), statistics.median(seconds) * 1e3, p95(seconds) * 1e3


def run(ctx: Context) -> Section:
    su = ctx.connect(user="postgres")
    tenants = {label: Tenant(ctx, label[0]) for label in SIZES}
    facts = {}
    with Stopwatch() as sw:
        # Past months' partitions, so that record_time spreads as it would
        # after a year of capture; odl.epcis_maintenance() adopts them.
        months = su.execute(
            "select array_agg(date_trunc('month', now()) - make_interval(months => m))"
            " from generate_series(1, %s) as m", (MONTHS - 1,)).fetchone()[0]
        su.execute("select partman.create_partition_time('odl.epcis_events', %s)", (months,))
        su.commit()
        su.execute("call odl.epcis_maintenance()")
        su.commit()
        for label, tenant in tenants.items():
            ctx.log(f"loading {SIZES[label]:,} serials ({label})")
            tenant.load(su, SIZES[label])
        su.autocommit = True
        su.execute("vacuum analyze odl.epcis_events, odl.epcis_event_ids, odl.epcis_event_epcs,"
                   " odl.epcis_event_biz_transactions, odl.serials, odl.po_lines, odl.purchase_orders,"
                   " odl.stock_moves, odl.stock_move_serials, odl.receipts, odl.stock_balances,"
                   " odl.component_index, odl.suppliers")
    facts["load"] = f"{sw.seconds:.0f} s"
    counts = {}
    for label, tenant in tenants.items():
        counts[label] = su.execute(
            "select (select count(*) from odl.epcis_events where tenant_id = %(t)s),"
            " (select count(*) from odl.epcis_event_epcs where tenant_id = %(t)s),"
            " (select count(distinct tableoid) from odl.epcis_events where tenant_id = %(t)s)",
            {"t": tenant.tenant}).fetchone()
    su.autocommit = False
    facts["events"] = ", ".join(f"{label}: {c[0]:,} events, {c[1]:,} EPC keys, {c[2]} partitions"
                                for label, c in counts.items())
    facts["table sizes"] = su.execute(
        "select string_agg(format('%s %s', c, pg_size_pretty(pg_total_relation_size(c))), ', ')"
        " from unnest(array['odl.epcis_event_epcs', 'odl.epcis_event_ids', 'odl.epcis_event_biz_transactions']"
        "::regclass[]) as c").fetchone()[0] + ", odl.epcis_events " + su.execute(
        "select pg_size_pretty(sum(pg_total_relation_size(i.inhrelid))) from pg_inherits as i"
        " where i.inhparent = 'odl.epcis_events'::regclass").fetchone()[0]
    su.commit()

    rng = random.Random(ctx.seed)
    results: dict[str, dict[str, list[float]]] = {q: {"small": [], "large": []} for q in QUESTIONS}
    sizes: dict[str, list[int]] = {q: [] for q in QUESTIONS}
    with one_cpu(tenants["small"].app, tenants["large"].app) as pinning:
        for question, (_, sql) in QUESTIONS.items():
            rounds = QUESTION_ROUNDS.get(question, ROUNDS)
            ctx.log(f"{question}: {rounds} rounds")
            for r in range(rounds + 10):
                order = ("small", "large") if r % 2 else ("large", "small")
                for label in order:
                    seconds, rows = tenants[label].ask(sql, tenants[label].key(question, rng, SIZES[label]))
                    if r >= 10:
                        results[question][label].append(seconds * 1e3)
                        if label == "large":
                            sizes[question].append(rows)
        rate, capture_p50, capture_p95 = capture_rate(tenants["large"], ctx.seed)
    facts["capture"] = (f"{rate:.0f} events/s through `odl_capture_epcis()` in documents of 10 events "
                        f"(p50 {capture_p50:.1f} ms, p95 {capture_p95:.1f} ms per document), next to 1M events")
    explained = plans(su, tenants["large"])
    for tenant in tenants.values():
        tenant.app.close()
    su.close()

    rows = []
    p95s = []
    for question, (text, _) in QUESTIONS.items():
        small, large = results[question]["small"], results[question]["large"]
        rows.append(compare(f"{text}, 100k serials vs 1k serials", "ms/call", small, large, None, ctx.seed))
        p95s.append(f"{question}: p95 {p95(large):.2f} ms at 100k serials ({p95(small):.2f} ms at 1k)")
    return Section(
        compared="The EPCIS traceability questions at 100,000 serials and about 1,000,000 events against the same "
        "questions at 1,000 serials and about 10,000 events, through the API: how their cost grows with the "
        "table.",
        method="\n".join([
            f"- Two tenants, loaded alike by SQL: each serial packed on a pallet of {PALLET} (AggregationEvent ADD, "
            "the pallet shipped and received under its shipment's bizTransaction, AggregationEvent DELETE), then "
            f"{OWN_EVENTS} events of its own; record_time spread over {MONTHS} monthly partitions. Event ids have "
            "the form of CBV hashes (hashes of serial and position, not of the events).",
            f"- Per question {ROUNDS} rounds after 10 warm-up rounds; each round asks both tenants about a random "
            "serial or shipment, in alternating order, as `odl_app` with the tenant's context, one transaction per "
            "call (context, call, commit; only the call timed). Ratios are medians of per-round ratios with a 95% "
            "bootstrap interval.",
            f"- {pinning} (see harness.one_cpu).",
        ]),
        rows=rows,
        notes="p95: " + "; ".join(p95s) + f". Rows returned at 100k serials (median): "
        + ", ".join(f"{q} {statistics.median(s):.0f}" for q, s in sizes.items())
        + ".\n\nPlans at 100k serials (EXPLAIN ANALYZE as odl_owner under the tenant's context):\n\n" + explained,
        facts=facts,
        baseline_name="1k serials",
        candidate_name="100k serials",
    )

