"""EPCIS 2.0 events: capture with the CBV 2.0 event hash as id, refusals
with their SQLSTATE and JSON pointer, error declarations, export as an
EPCISDocument, and where a serial is and how it got there.

The event hash is checked three ways, independently of the SQL code: five
pre-hash strings worked out by hand from the algorithm's rules (CBV 2.0,
"EPCIS Event Hash ID"), their SHA-256 written down as fixed values, and a
small Python reimplementation of the rules (`prehash` below) that
hypothesis compares with the database on generated events.

Exported documents are checked against tests/python/data/epcis-2.0-document.schema.json,
odl-db's own JSON Schema 2020-12 of the EPCIS 2.0 structure (GS1's schema is
not copied), by the python jsonschema package and by the database's
jsonschema_validation_errors()."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from conftest import TenantAccess, server_conninfo

SCHEMA = json.loads((Path(__file__).parent / "data" / "epcis-2.0-document.schema.json").read_text())
EX = {"ex": "https://ns.example.com/epcis/"}
NS = "{https://ns.example.com/epcis/}"

# ---------------------------------------------------------------------------
# Test vectors: the events as JSON text (numbers keep their written form),
# the pre-hash strings worked out by hand, and their SHA-256.

VECTORS = {
    "minimal": """{"type": "ObjectEvent", "eventTime": "2026-01-02T03:04:05Z", "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.1"], "action": "OBSERVE"}""",
    # Time rounded to the millisecond in UTC; an EPC URN and a Digital Link
    # on a brand's domain with a query string; 2.50 written as 2.5; bare CBV
    # words; SGLN/PGLN to Digital Links with check digits; transactions with
    # their types, sorted; ILMD and nested extensions, sorted; eventID and
    # recordTime left out of the hash.
    "object_full": """{"action": "ADD", "type": "ObjectEvent",
        "eventID": "urn:uuid:6f0b3c3e-0000-4000-8000-000000000001", "recordTime": "2026-03-04T10:01:00Z",
        "eventTime": "2026-03-04T11:00:30.1235+01:00", "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.987",
                    "https://brand.example.com/01/4012345111118/21/986?linkType=gs1:pip"],
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.LOT-7", "quantity": 2.50, "uom": "KGM"}],
        "bizStep": "receiving", "disposition": "in_progress",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.987"},
        "bizLocation": {"id": "urn:epc:id:sgln:4012345.00012.0"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-1"},
            {"bizTransaction": "https://example.com/desadv/SHP-000123", "type": "desadv"}],
        "sourceList": [{"source": "urn:epc:id:pgln:4012345.00001", "type": "owning_party"}],
        "destinationList": [{"destination": "urn:epc:id:sgln:4098765.00000.0", "type": "location"}],
        "ilmd": {"ex:lot": " L7 "},
        "ex:rating": {"ex:watts": 450.0, "ex:class": "A"},
        "ex:note": "hello"}""",
    # A negative offset; SSCC check digit; URN vocabulary; children sorted
    # as strings (10 before 2).
    "aggregation": """{"type": "AggregationEvent", "eventTime": "2026-03-05T08:00:00.000-05:00",
        "eventTimeZoneOffset": "-05:00", "parentID": "urn:epc:id:sscc:4012345.0000000042",
        "childEPCs": ["urn:epc:id:sgtin:4012345.011111.2", "urn:epc:id:sgtin:4012345.011111.10"],
        "action": "ADD", "bizStep": "urn:epcglobal:cbv:bizstep:packing",
        "disposition": "urn:epcglobal:cbv:disp:in_progress",
        "readPoint": {"id": "https://id.gs1.org/414/4012345000115"}}""",
    # Inputs and outputs, an EPC pattern, GIAI, a CURIE, persistent
    # dispositions (set before unset, each sorted).
    "transformation": """{"type": "TransformationEvent", "eventTime": "2026-03-06T00:00:00Z",
        "eventTimeZoneOffset": "+00:00", "inputEPCList": ["urn:epc:id:sgtin:4012345.011111.5"],
        "inputQuantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.011111.*", "quantity": 3}],
        "outputEPCList": ["urn:epc:id:giai:4012345.ASSET9"], "transformationID": "urn:example:tf:1",
        "bizStep": "cbv:BizStep-assembling",
        "persistentDisposition": {"unset": ["in_progress"], "set": ["conformant", "active"]}}""",
    # Sensor metadata in field order, reports sorted, sensor types as gs1 terms.
    "sensor": """{"type": "ObjectEvent", "eventTime": "2026-03-07T12:00:00Z", "eventTimeZoneOffset": "+02:00",
        "epcList": ["https://id.gs1.org/00/040123450000000429"], "action": "OBSERVE", "bizStep": "transporting",
        "sensorElementList": [{
            "sensorMetadata": {"time": "2026-03-07T13:59:00+02:00", "deviceID": "urn:epc:id:giai:4012345.LOGGER1"},
            "sensorReport": [{"type": "Temperature", "value": 26.0, "uom": "CEL"},
                             {"type": "gs1:RelativeHumidity", "value": 40.5, "uom": "A93"}]}]}""",
}

PREHASH = {
    "minimal": (
        "eventType=ObjectEvent"
        "eventTime=2026-01-02T03:04:05.000Z"
        "eventTimeZoneOffset=+00:00"
        "epcListepc=https://id.gs1.org/01/04012345111118/21/1"
        "action=OBSERVE"
    ),
    "object_full": (
        "eventType=ObjectEvent"
        "eventTime=2026-03-04T10:00:30.124Z"
        "eventTimeZoneOffset=+01:00"
        "epcList"
        "epc=https://id.gs1.org/01/04012345111118/21/986"
        "epc=https://id.gs1.org/01/04012345111118/21/987"
        "quantityList"
        "quantityElementepcClass=https://id.gs1.org/01/04012345111118/10/LOT-7quantity=2.5uom=KGM"
        "action=ADD"
        "bizStep=https://ref.gs1.org/cbv/BizStep-receiving"
        "disposition=https://ref.gs1.org/cbv/Disp-in_progress"
        "readPointid=https://id.gs1.org/414/4012345000115/254/987"
        "bizLocationid=https://id.gs1.org/414/4012345000122"
        "bizTransactionList"
        "bizTransaction=https://example.com/desadv/SHP-000123type=https://ref.gs1.org/cbv/BTT-desadv"
        "bizTransaction=urn:epcglobal:cbv:bt:4012345000009:PO-1type=https://ref.gs1.org/cbv/BTT-po"
        "sourceListsource=https://id.gs1.org/417/4012345000016type=https://ref.gs1.org/cbv/SDT-owning_party"
        "destinationListdestination=https://id.gs1.org/414/4098765000003type=https://ref.gs1.org/cbv/SDT-location"
        f"ilmd{NS}lot=L7"
        f"{NS}note=hello"
        f"{NS}rating{NS}class=A{NS}watts=450"
    ),
    "aggregation": (
        "eventType=AggregationEvent"
        "eventTime=2026-03-05T13:00:00.000Z"
        "eventTimeZoneOffset=-05:00"
        "parentID=https://id.gs1.org/00/040123450000000429"
        "childEPCs"
        "epc=https://id.gs1.org/01/04012345111118/21/10"
        "epc=https://id.gs1.org/01/04012345111118/21/2"
        "action=ADD"
        "bizStep=https://ref.gs1.org/cbv/BizStep-packing"
        "disposition=https://ref.gs1.org/cbv/Disp-in_progress"
        "readPointid=https://id.gs1.org/414/4012345000115"
    ),
    "transformation": (
        "eventType=TransformationEvent"
        "eventTime=2026-03-06T00:00:00.000Z"
        "eventTimeZoneOffset=+00:00"
        "inputEPCListepc=https://id.gs1.org/01/04012345111118/21/5"
        "inputQuantityListquantityElementepcClass=https://id.gs1.org/01/04012345111118quantity=3"
        "outputEPCListepc=https://id.gs1.org/8004/4012345ASSET9"
        "transformationID=urn:example:tf:1"
        "bizStep=https://ref.gs1.org/cbv/BizStep-assembling"
        "persistentDisposition"
        "set=https://ref.gs1.org/cbv/Disp-active"
        "set=https://ref.gs1.org/cbv/Disp-conformant"
        "unset=https://ref.gs1.org/cbv/Disp-in_progress"
    ),
    "sensor": (
        "eventType=ObjectEvent"
        "eventTime=2026-03-07T12:00:00.000Z"
        "eventTimeZoneOffset=+02:00"
        "epcListepc=https://id.gs1.org/00/040123450000000429"
        "action=OBSERVE"
        "bizStep=https://ref.gs1.org/cbv/BizStep-transporting"
        "sensorElementList"
        "sensorElement"
        "sensorMetadatatime=2026-03-07T11:59:00.000ZdeviceID=https://id.gs1.org/8004/4012345LOGGER1"
        "sensorReporttype=https://gs1.org/voc/RelativeHumidityvalue=40.5uom=A93"
        "sensorReporttype=https://gs1.org/voc/Temperaturevalue=26uom=CEL"
    ),
}

HASHES = {
    "minimal": "27ddf537169393b4b5f8a40f245c36235d7612dbca404f95fddfb0aafbb4cf46",
    "object_full": "c194ac34b91256a95f861923179b00c53438eea4182a9ac5163391e3739a36fe",
    "aggregation": "234ebf7d095fb9368e506afdc0f35e97dc7d4d5e5e9851968f9faaaff16760d4",
    "transformation": "e45492853a642d4239735b8a3f57a44b5fe17b797e71e64d7f3f92a056aafc08",
    "sensor": "49c015af4e4adf3e3289f0d5f679f99e113f7cd6339b659e4bacee24a658c872",
}

# ---------------------------------------------------------------------------
# An independent reimplementation of the pre-hash rules, for the events the
# property test generates (no sensors, ILMD or extensions: the vectors
# cover those).

CBV = "https://ref.gs1.org/cbv/"


def check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def digital_link(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"urn:epc:id:sgtin:(\d+)\.(\d+)\.(.+)", value)
    if m:
        body = m[2][0] + m[1] + m[2][1:]
        return f"https://id.gs1.org/01/{body}{check_digit(body)}/21/{m[3]}"
    m = re.fullmatch(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)", value)
    if m:
        body = m[2][0] + m[1] + m[2][1:]
        return f"https://id.gs1.org/01/{body}{check_digit(body)}/10/{m[3]}"
    m = re.fullmatch(r"urn:epc:id:sscc:(\d+)\.(\d+)", value)
    if m:
        body = m[2][0] + m[1] + m[2][1:]
        return f"https://id.gs1.org/00/{body}{check_digit(body)}"
    m = re.fullmatch(r"urn:epc:id:sgln:(\d+)\.(\d*)\.(.*)", value)
    if m:
        body = m[1] + m[2]
        return f"https://id.gs1.org/414/{body}{check_digit(body)}" + ("" if m[3] in ("", "0") else f"/254/{m[3]}")
    m = re.fullmatch(r"https?://[^/?#]+(?:/[^?#]*?)?/01/(\d+)/21/([^/?#]+).*", value)
    if m:
        return f"https://id.gs1.org/01/{m[1].zfill(14)}/21/{m[2]}"
    return value


def vocab(value: str, kind: str) -> str:
    value = value.strip()
    if ":" not in value:
        return f"{CBV}{kind}-{value}"
    m = re.fullmatch(r"urn:epcglobal:cbv:(bizstep|disp|btt|sdt):(.+)", value)
    if m:
        return f"{CBV}{ {'bizstep': 'BizStep', 'disp': 'Disp', 'btt': 'BTT', 'sdt': 'SDT'}[m[1]]}-{m[2]}"
    if value.startswith("cbv:"):
        return CBV + value[4:]
    return value


def utc_ms(value: str) -> str:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    moment = (moment + timedelta(microseconds=500)).replace(microsecond=0) + timedelta(
        milliseconds=((moment + timedelta(microseconds=500)).microsecond // 1000)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def number(value) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def prehash(event: dict) -> str:
    out = [f"eventType={event['type']}", f"eventTime={utc_ms(event['eventTime'])}",
           f"eventTimeZoneOffset={event['eventTimeZoneOffset']}"]
    for name in ("epcList", "parentID", "inputEPCList", "childEPCs", "quantityList", "childQuantityList",
                 "inputQuantityList", "outputEPCList", "outputQuantityList"):
        if name not in event:
            continue
        if name == "parentID":
            out.append("parentID=" + digital_link(event[name]))
        elif name.endswith("uantityList"):
            items = []
            for q in event[name]:
                s = "quantityElementepcClass=" + digital_link(q["epcClass"])
                if "quantity" in q:
                    s += "quantity=" + number(q["quantity"])
                if "uom" in q:
                    s += "uom=" + q["uom"]
                items.append(s)
            out.append(name + "".join(sorted(items)))
        else:
            out.append(name + "".join(sorted("epc=" + digital_link(e) for e in event[name])))
    if "action" in event:
        out.append("action=" + event["action"])
    if "bizStep" in event:
        out.append("bizStep=" + vocab(event["bizStep"], "BizStep"))
    if "disposition" in event:
        out.append("disposition=" + vocab(event["disposition"], "Disp"))
    for name in ("readPoint", "bizLocation"):
        if name in event:
            out.append(f"{name}id=" + digital_link(event[name]["id"]))
    for name, key, kind in (("bizTransactionList", "bizTransaction", "BTT"), ("sourceList", "source", "SDT"),
                            ("destinationList", "destination", "SDT")):
        if name in event:
            items = []
            for t in event[name]:
                s = f"{key}={digital_link(t[key])}"
                if "type" in t:
                    s += "type=" + vocab(t["type"], kind)
                items.append(s)
            out.append(name + "".join(sorted(items)))
    return "".join(out)


def event_hash(event: dict) -> str:
    return "ni:///sha-256;" + hashlib.sha256(prehash(event).encode()).hexdigest() + "?ver=CBV2.0"


# ---------------------------------------------------------------------------
# A tenant with an engineer (W on instances), a project, and a second
# tenant to prove isolation. Every call is one transaction under a context.


class World:
    def __init__(self, dbname: str):
        self.dbname = dbname
        self.access = self.new_access()
        self.engineer = self.access.user_id
        self.access.assign("engineer")
        self.nobody = self.access.create_user("engineer")
        self.project = self.new_project(self.access)
        self.other = self.new_access()
        self.other.assign("engineer")
        self.other_project = self.new_project(self.other)
        self.conns: dict[str, psycopg.Connection] = {}

    def new_access(self) -> TenantAccess:
        with psycopg.connect(server_conninfo(dbname=self.dbname)) as admin:
            admin.execute("set role odl_admin")
            tenant_id = admin.execute(
                "select odl.odl_create_tenant(%s, 'EU')", (f"epcis-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
            user_id = admin.execute(
                "select odl.odl_create_user(%s, %s, 'engineer')", (tenant_id, f"{uuid.uuid4().hex[:6]}@example.com")
            ).fetchone()[0]
        return TenantAccess(self.dbname, (tenant_id, user_id))

    @staticmethod
    def new_project(access: TenantAccess) -> str:
        with access.session(access.admin_id) as conn:
            project = conn.execute("select odl.odl_create_project(%s)", (f"P-{uuid.uuid4().hex[:6]}",)).fetchone()[0]
        access.attach(project)
        return project

    def call(self, user: str, query: str, params=(), access: TenantAccess | None = None) -> list[tuple]:
        access = access or self.access
        conn = self.conns.get(user)
        if conn is None:
            conn = self.conns[user] = psycopg.connect(server_conninfo(dbname=self.dbname, user="odl_app"))
        with conn.transaction():
            conn.execute("select odl.odl_set_context(%s, %s)", (access.tenant_id, user))
            return conn.execute(query, params).fetchall()

    def capture(self, doc, user: str | None = None, project: str | None = None, access=None) -> list[str]:
        return self.call(
            user or self.engineer, "select odl.odl_capture_epcis(%s, %s)",
            (project or self.project, Jsonb(doc)), access,
        )[0][0]

    def refusal(self, doc, **kwargs) -> psycopg.Error:
        with pytest.raises(psycopg.Error) as raised:
            self.capture(doc, **kwargs)
        return raised.value

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


@pytest.fixture(scope="module")
def world(dbname):
    w = World(dbname)
    yield w
    w.close()


def document(*events, context=None) -> dict:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"] + ([context] if context else []),
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T00:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def serial(tag: str = "") -> str:
    return f"urn:epc:id:sgtin:4012345.011111.{tag}{uuid.uuid4().hex[:10]}"


def object_event(epcs, when="2026-03-01T10:00:00Z", step="receiving", location=None, **extra) -> dict:
    event = {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+00:00", "epcList": list(epcs),
             "action": "OBSERVE", "bizStep": step}
    if location:
        event["bizLocation"] = {"id": location}
    event.update(extra)
    return event


def errors_in_database(conn: psycopg.Connection, doc: dict) -> list[str]:
    return conn.execute(
        "select public.jsonschema_validation_errors(%s::json, %s::json)", (json.dumps(SCHEMA), json.dumps(doc))
    ).fetchone()[0]


# ---------------------------------------------------------------------------
# The event hash.


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_event_ids_reproduce_the_hand_worked_cbv_hashes(conn, name):
    prehash_sql, hash_sql = conn.execute(
        "select odl.epcis_prehash(%s::jsonb, %s), odl.odl_epcis_event_hash(%s::jsonb, %s)",
        (VECTORS[name], Jsonb(EX), VECTORS[name], Jsonb(EX)),
    ).fetchone()
    assert prehash_sql == PREHASH[name]
    assert hashlib.sha256(PREHASH[name].encode()).hexdigest() == HASHES[name]
    assert hash_sql == f"ni:///sha-256;{HASHES[name]}?ver=CBV2.0"


@pytest.mark.parametrize("name", ["minimal", "aggregation"])
def test_the_python_reimplementation_agrees_with_the_hand_worked_vectors(name):
    assert prehash(json.loads(VECTORS[name], parse_float=Decimal)) == PREHASH[name]


epc_values = st.integers(min_value=0, max_value=10**6).map(str)
steps = st.sampled_from(["shipping", "receiving", "installing", "inspecting"])


@st.composite
def events(draw) -> dict:
    seconds = draw(st.integers(min_value=0, max_value=10**8))
    offset = draw(st.sampled_from(["+00:00", "+01:00", "-05:00", "+05:30"]))
    sign = 1 if offset[0] == "+" else -1
    zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:])))
    moment = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(
        seconds=seconds, milliseconds=draw(st.integers(min_value=0, max_value=999)))
    event = {
        "type": draw(st.sampled_from(["ObjectEvent", "AggregationEvent"])),
        "eventTime": moment.astimezone(zone).isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": offset,
        "action": draw(st.sampled_from(["ADD", "OBSERVE", "DELETE"])),
        "bizStep": draw(steps),
    }
    items = [f"urn:epc:id:sgtin:4012345.011111.{s}" for s in draw(st.lists(epc_values, min_size=1, max_size=4, unique=True))]
    if event["type"] == "ObjectEvent":
        event["epcList"] = items
        if draw(st.booleans()):
            event["quantityList"] = [{"epcClass": "urn:epc:class:lgtin:4012345.011111.L1",
                                      "quantity": draw(st.integers(min_value=0, max_value=500)), "uom": "KGM"}]
    else:
        event["parentID"] = f"urn:epc:id:sscc:4012345.{draw(st.integers(min_value=10**9, max_value=10**10 - 1))}"
        event["childEPCs"] = items
    if draw(st.booleans()):
        event["disposition"] = draw(st.sampled_from(["in_transit", "in_progress", "active"]))
    if draw(st.booleans()):
        event["bizLocation"] = {"id": "urn:epc:id:sgln:4012345.00012.0"}
    if draw(st.booleans()):
        event["bizTransactionList"] = [
            {"bizTransaction": f"urn:example:po:{draw(epc_values)}", "type": "po"},
            {"bizTransaction": f"urn:example:desadv:{draw(epc_values)}", "type": "desadv"},
        ]
    return event


def reserialised(event: dict, data) -> dict:
    """The same event written differently: members and lists in another
    order, the time in another offset, EPCs as Digital Links on another
    domain, vocabulary as URNs or CURIEs."""
    other = copy.deepcopy(event)
    for name in ("epcList", "childEPCs", "bizTransactionList"):
        if name in other:
            other[name] = data.draw(st.permutations(other[name]))
    if "epcList" in other:
        other["epcList"] = [
            re.sub(r"urn:epc:id:sgtin:4012345\.011111\.(\d+)",
                   r"https://example.org/brand/01/4012345111118/21/\1?lang=en", e) if data.draw(st.booleans()) else e
            for e in other["epcList"]
        ]
    moment = datetime.fromisoformat(other["eventTime"])
    other["eventTime"] = moment.astimezone(timezone(timedelta(hours=data.draw(st.integers(-11, 13))))).isoformat()
    other["bizStep"] = data.draw(st.sampled_from([
        other["bizStep"], f"urn:epcglobal:cbv:bizstep:{other['bizStep']}", f"cbv:BizStep-{other['bizStep']}"]))
    keys = data.draw(st.permutations(list(other)))
    return {k: other[k] for k in keys}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events(), data=st.data())
def test_the_hash_is_the_same_for_every_serialisation_and_matches_the_reimplementation(conn, event, data):
    expected = event_hash(event)
    again = reserialised(event, data)
    found = conn.execute(
        "select odl.odl_epcis_event_hash(%s), odl.odl_epcis_event_hash(%s)", (Jsonb(event), Jsonb(again))
    ).fetchone()
    assert found == (expected, expected)


@pytest.mark.parametrize("change", [
    ("eventTime", "2026-01-02T03:04:05.001Z"), ("eventTimeZoneOffset", "+01:00"), ("action", "ADD"),
    ("epcList", ["urn:epc:id:sgtin:4012345.011111.2"]), ("bizStep", "shipping"), ("ex:x", "1"),
])
def test_any_change_of_a_hashed_field_changes_the_hash(conn, change):
    original = json.loads(VECTORS["minimal"])
    changed = {**original, change[0]: change[1]}
    first, second = conn.execute(
        "select odl.odl_epcis_event_hash(%s, %s), odl.odl_epcis_event_hash(%s, %s)",
        (Jsonb(original), Jsonb(EX), Jsonb(changed), Jsonb(EX)),
    ).fetchone()
    assert first != second


# ---------------------------------------------------------------------------
# Capture.


def count_events(conn, tenant_id: str) -> int:
    return conn.execute("select count(*) from odl.epcis_events where tenant_id = %s", (tenant_id,)).fetchone()[0]


def test_capture_stores_each_event_under_its_hash_in_this_months_partition(world, conn):
    epcs = [serial(), serial()]
    shipped = object_event(epcs, step="shipping", bizTransactionList=[{"bizTransaction": "urn:example:po:1"}])
    vector = {**json.loads(VECTORS["object_full"]), "eventTime": f"2026-03-04T11:00:{uuid.uuid4().int % 60:02d}+01:00"}
    vector.pop("eventID")
    ids = world.capture(document(shipped, vector, context=EX))
    assert ids == [event_hash(shipped), conn.execute(
        "select odl.odl_epcis_event_hash(%s, %s)", (Jsonb(vector), Jsonb(EX))).fetchone()[0]]
    rows = conn.execute(
        "select e.event_id, e.tableoid::regclass::text, e.event ->> 'eventID', e.biz_step, e.event ->> 'recordTime'"
        " from odl.epcis_events as e where e.event_id = any(%s) order by e.event_time", (ids,)
    ).fetchall()
    month = datetime.now(timezone.utc).strftime("p%Y_%m")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (ids[0], f"odl.epcis_events_{month}", ids[0], "https://ref.gs1.org/cbv/BizStep-shipping"),
        (ids[1], f"odl.epcis_events_{month}", ids[1], "https://ref.gs1.org/cbv/BizStep-receiving"),
    ]
    keys = conn.execute(
        "select epc, role from odl.epcis_event_epcs where event_id = %s order by epc", (ids[0],)).fetchall()
    assert keys == sorted((conn.execute("select odl.epcis_uri(%s, '{}')", (e,)).fetchone()[0], "epc") for e in epcs)


def test_a_second_capture_of_an_event_is_refused_and_the_document_leaves_nothing(world, conn):
    first = object_event([serial()])
    world.capture(document(first))
    before = count_events(conn, world.access.tenant_id)
    error = world.refusal(document(object_event([serial()]), first))
    assert error.sqlstate == "ODE03"
    assert error.diag.message_primary == "event was captured already"
    assert error.diag.message_detail == f"pointer /epcisBody/eventList/1, event_id {event_hash(first)}"
    assert count_events(conn, world.access.tenant_id) == before


def test_the_same_event_in_another_tenant_is_its_own(world):
    event = object_event([serial()])
    assert world.capture(event) == world.capture(event, access=world.other, user=world.other.user_id,
                                                 project=world.other_project)


MALFORMED = [
    ("a type that is no event", lambda e: e.update(type="Event"), "/type"),
    ("no eventTime", lambda e: e.pop("eventTime"), "/eventTime"),
    ("a time without zone", lambda e: e.update(eventTime="2026-03-01T10:00:00"), "/eventTime"),
    ("an impossible date", lambda e: e.update(eventTime="2026-02-30T10:00:00Z"), "/eventTime"),
    ("no eventTimeZoneOffset", lambda e: e.pop("eventTimeZoneOffset"), "/eventTimeZoneOffset"),
    ("an unknown action", lambda e: e.update(action="MOVE"), "/action"),
    ("an EPC that is no URI", lambda e: e["epcList"].append("not a uri"), "/epcList/1"),
    ("a quantity below zero", lambda e: e.update(quantityList=[{"epcClass": "urn:x:c", "quantity": -1}]),
     "/quantityList/0/quantity"),
    ("a uom without quantity", lambda e: e.update(quantityList=[{"epcClass": "urn:x:c", "uom": "KGM"}]),
     "/quantityList/0/quantity"),
    ("a member of another type", lambda e: e.update(childEPCs=[]), "/childEPCs"),
    ("an unprefixed member", lambda e: e.update(colour="red"), "/colour"),
    ("a prefix the context lacks", lambda e: e.update({"zz:colour": "red"}), "/zz:colour"),
    ("a read point without id", lambda e: e.update(readPoint={}), "/readPoint/id"),
    ("a source without type", lambda e: e.update(sourceList=[{"source": "urn:x:s"}]), "/sourceList/0/type"),
    ("no EPCs at all", lambda e: e.pop("epcList"), "/epcList"),
    ("a declaration without time", lambda e: e.update(errorDeclaration={}), "/errorDeclaration/declarationTime"),
]


@pytest.mark.parametrize("name, mutate, pointer", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_event_is_refused_with_the_pointer_of_its_fault(world, conn, name, mutate, pointer):
    bad = object_event([serial()])
    mutate(bad)
    before = count_events(conn, world.access.tenant_id)
    error = world.refusal(document(object_event([serial()]), bad, context=EX))
    assert error.sqlstate == "ODE01", error.diag.message_primary
    assert error.diag.message_primary.startswith("invalid EPCIS event: ")
    assert error.diag.message_detail == f"pointer /epcisBody/eventList/1{pointer}"
    assert count_events(conn, world.access.tenant_id) == before


def test_a_single_event_is_refused_with_a_pointer_from_its_root(world):
    error = world.refusal({"type": "AggregationEvent", "eventTime": "2026-03-01T10:00:00Z",
                           "eventTimeZoneOffset": "+00:00", "action": "ADD", "childEPCs": [serial()]})
    assert (error.sqlstate, error.diag.message_detail) == ("ODE01", "pointer /parentID")


def test_an_event_id_that_is_not_the_event_hash_is_refused(world):
    event = object_event([serial()], eventID="urn:uuid:2b5f1d7e-0000-4000-8000-000000000000")
    error = world.refusal(event)
    assert error.sqlstate == "ODE02"
    assert event_hash({k: v for k, v in event.items() if k != "eventID"}) in error.diag.message_detail
    event["eventID"] = event_hash({k: v for k, v in event.items() if k != "eventID"})
    assert world.capture(event) == [event["eventID"]]


def test_capture_needs_write_on_instances_and_is_audited(world, conn):
    error = world.refusal(object_event([serial()]), user=world.nobody)
    assert (error.sqlstate, error.diag.message_primary) == (
        "ODR01", "permission denied: capturing EPCIS events needs W on instances")
    ids = world.capture(document(object_event([serial()]), object_event([serial()])))
    payload = conn.execute(
        "select payload::jsonb from odl.audit_events where tenant_id = %s and action = 'epcis.captured'"
        " order by seq desc limit 1", (world.access.tenant_id,)).fetchone()[0]
    assert payload == {"events": 2, "error_declarations": 0, "first_event_id": ids[0],
                       "event_ids_sha256": hashlib.sha256(" ".join(ids).encode()).hexdigest()}


# ---------------------------------------------------------------------------
# Error declarations, traceability and export.

SITE = "urn:epc:id:sgln:4012345.00099.0"
DEPOT = "urn:epc:id:sgln:4012345.00012.0"


def test_an_error_declaration_is_accepted_under_the_same_id_and_linked_to_its_corrections(world, conn):
    unit = serial()
    wrong = object_event([unit], when="2026-03-02T10:00:00Z", step="receiving", location=DEPOT)
    (wrong_id,) = world.capture(wrong)
    right = object_event([unit], when="2026-03-02T10:00:00Z", step="receiving", location=SITE)
    declared = {**wrong, "errorDeclaration": {
        "declarationTime": "2026-03-02T12:00:00Z", "reason": "incorrect_data",
        "correctiveEventIDs": [event_hash(right)]}}
    assert world.capture(document(right, declared)) == [event_hash(right), wrong_id]

    trace = world.call(world.engineer, "select event_id, declared, corrective_event_ids"
                       " from odl.odl_epcis_trace(%s)", (unit,))
    assert sorted(trace) == sorted([(wrong_id, True, [event_hash(right)]), (event_hash(right), False, [])])
    where = world.call(world.engineer, "select biz_location, event_id from odl.odl_epcis_where(%s)", (unit,))
    assert where == [("https://id.gs1.org/414/4012345000993", event_hash(right))]
    reason = conn.execute("select reason from odl.epcis_error_declarations where event_id = %s",
                          (wrong_id,)).fetchone()[0]
    assert reason == "https://ref.gs1.org/cbv/ER-incorrect_data"

    again = world.refusal(declared)
    assert (again.sqlstate, again.diag.message_detail) == ("ODE05", f"pointer , event_id {wrong_id}")
    never = world.refusal({**object_event([serial()]), "errorDeclaration": {"declarationTime": "2026-03-02T12:00:00Z"}})
    assert never.sqlstate == "ODE04"

    exported = world.call(world.engineer, "select odl.odl_epcis_document(epc => %s)", (unit,))[0][0]
    assert [e["eventID"] for e in exported["epcisBody"]["eventList"]] == sorted([wrong_id, event_hash(right)])
    first = next(e for e in exported["epcisBody"]["eventList"] if e["eventID"] == wrong_id)
    assert first["errorDeclaration"]["correctiveEventIDs"] == [event_hash(right)]


def test_where_a_serial_is_follows_its_pallet_until_it_is_unpacked(world, conn):
    unit, pallet = serial("U"), f"urn:epc:id:sscc:4012345.{uuid.uuid4().int % 10**10:010d}"
    po = f"urn:example:po:{uuid.uuid4().hex[:8]}"
    ship = f"urn:example:desadv:{uuid.uuid4().hex[:8]}"
    pack = {"type": "AggregationEvent", "eventTime": "2026-03-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
            "parentID": pallet, "childEPCs": [unit], "action": "ADD", "bizStep": "packing",
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"}}
    depart = object_event([pallet], when="2026-03-01T09:00:00Z", step="shipping", disposition="in_transit",
                          bizTransactionList=[{"bizTransaction": po, "type": "po"},
                                              {"bizTransaction": ship, "type": "desadv"}])
    arrive = object_event([pallet], when="2026-03-03T09:00:00Z", step="receiving", location=SITE,
                          bizTransactionList=[{"bizTransaction": ship, "type": "desadv"}])
    world.capture(document(pack, depart, arrive))

    where = world.call(world.engineer, "select biz_location, biz_step, via from odl.odl_epcis_where(%s)", (unit,))
    assert where == [("https://id.gs1.org/414/4012345000993", "https://ref.gs1.org/cbv/BizStep-receiving",
                      conn.execute("select odl.epcis_uri(%s, '{}')", (pallet,)).fetchone()[0])]

    unpack = {**pack, "eventTime": "2026-03-04T08:00:00Z", "action": "DELETE", "bizStep": "unpacking",
              "bizLocation": {"id": SITE}}
    install = object_event([unit], when="2026-03-05T08:00:00Z", step="installing", location=SITE,
                           disposition="active")
    later = object_event([pallet], when="2026-03-06T08:00:00Z", step="shipping", location=DEPOT)
    world.capture(document(unpack, install, later))
    steps = world.call(world.engineer, "select biz_step, via is not null from odl.odl_epcis_trace(%s)", (unit,))
    assert [(s.rsplit("-", 1)[1], v) for s, v in steps] == [
        ("packing", False), ("shipping", True), ("receiving", True), ("unpacking", False), ("installing", False)]
    assert world.call(world.engineer, "select biz_step, disposition from odl.odl_epcis_where(%s)", (unit,)) == [
        ("https://ref.gs1.org/cbv/BizStep-installing", "https://ref.gs1.org/cbv/Disp-active")]
    # Asked for as a Digital Link, the serial is the same.
    link = conn.execute("select odl.epcis_uri(%s, '{}')", (unit,)).fetchone()[0]
    assert world.call(world.engineer, "select count(*) from odl.odl_epcis_trace(%s)", (link,)) == [(5,)]

    shipment = world.call(world.engineer, "select odl.odl_epcis_document(%s)", (ship,))[0][0]
    assert [e["bizStep"] for e in shipment["epcisBody"]["eventList"]] == ["shipping", "receiving"]


def test_exported_documents_are_valid_epcis_and_recapture_under_the_same_ids(world, conn):
    shipment = f"urn:example:desadv:{uuid.uuid4().hex[:8]}"
    transaction = [{"bizTransaction": shipment, "type": "desadv"}]
    pallet = f"urn:epc:id:sscc:4012345.{uuid.uuid4().int % 10**10:010d}"
    full = json.loads(VECTORS["object_full"])
    full.pop("eventID")
    full["bizTransactionList"] = transaction
    full["epcList"] = [serial()]
    events_sent = [
        full,
        {"type": "AggregationEvent", "eventTime": "2026-03-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
         "parentID": pallet, "childEPCs": [serial()], "action": "ADD", "bizStep": "packing",
         "bizTransactionList": transaction},
        {"type": "TransactionEvent", "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
         "epcList": [pallet], "action": "ADD", "bizTransactionList": transaction},
        {**json.loads(VECTORS["transformation"]), "bizTransactionList": transaction,
         "inputEPCList": [serial()]},
        {"type": "AssociationEvent", "eventTime": "2026-03-01T10:00:00Z", "eventTimeZoneOffset": "+00:00",
         "parentID": "urn:epc:id:grai:4012345.55555.1", "childEPCs": [serial()], "action": "ADD",
         "bizTransactionList": transaction},
        {**json.loads(VECTORS["sensor"]), "epcList": [pallet], "bizTransactionList": transaction},
    ]
    ids = world.capture(document(*events_sent, context=EX))
    exported = world.call(world.engineer, "select odl.odl_epcis_document(%s)", (shipment,))[0][0]
    jsonschema.Draft202012Validator(SCHEMA).validate(exported)
    assert errors_in_database(conn, exported) == []
    assert sorted(e["eventID"] for e in exported["epcisBody"]["eventList"]) == sorted(ids)
    assert {e["type"] for e in exported["epcisBody"]["eventList"]} == {
        "ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"}
    assert exported["@context"][1] == EX

    # The export is a capture document: another tenant gets the same ids.
    again = world.capture(exported, access=world.other, user=world.other.user_id, project=world.other_project)
    assert sorted(again) == sorted(ids)

    by_serial = world.call(world.engineer, "select odl.odl_epcis_document(epc => %s)", (pallet,))[0][0]
    jsonschema.Draft202012Validator(SCHEMA).validate(by_serial)
    assert len(by_serial["epcisBody"]["eventList"]) == 3


@pytest.mark.parametrize("breakage", [
    lambda d: d["epcisBody"]["eventList"][0].pop("eventTimeZoneOffset"),
    lambda d: d["epcisBody"]["eventList"][0].update(parentID="urn:x:y"),
    lambda d: d["epcisBody"]["eventList"][0].update(action="MOVE"),
    lambda d: d["epcisBody"]["eventList"][0].update(colour="red"),
    lambda d: d.update(schemaVersion="1.2"),
])
def test_the_structure_schema_refuses_what_epcis_refuses(conn, breakage):
    doc = document({**json.loads(VECTORS["minimal"]), "eventID": f"ni:///sha-256;{HASHES['minimal']}?ver=CBV2.0",
                    "recordTime": "2026-03-01T00:00:00.000Z"})
    assert errors_in_database(conn, doc) == []
    breakage(doc)
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(doc)
    assert errors_in_database(conn, doc) != []


def test_readers_see_only_their_tenants_events(world):
    unit = serial()
    world.capture(object_event([unit], location=SITE))
    assert len(world.call(world.engineer, "select * from odl.odl_epcis_trace(%s)", (unit,))) == 1
    assert world.call(world.other.user_id, "select * from odl.odl_epcis_trace(%s)", (unit,), world.other) == []
    assert world.call(world.nobody, "select * from odl.odl_epcis_trace(%s)", (unit,)) == []
    assert world.call(world.other.user_id, "select biz_location from odl.odl_epcis_where(%s)", (unit,),
                      world.other) == [(None,)]
    doc = world.call(world.nobody, "select odl.odl_epcis_document(epc => %s)", (unit,))[0][0]
    assert doc["epcisBody"]["eventList"] == []


def test_commissioned_maps_to_acceptance_not_to_cbv_commissioning(world, conn):
    assert world.call(world.engineer, "select * from odl.odl_epcis_status_step('commissioned')") == [
        ("inspecting", "conformant")]
    assert world.call(world.engineer, "select * from odl.odl_epcis_status_step('shipped')") == [
        ("shipping", "in_transit")]
    assert conn.execute("select count(*) from odl.epcis_status_steps where biz_step = 'commissioning'").fetchone() == (0,)


def test_the_readme_shows_the_status_mapping_of_the_database(conn):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("**ODL-SD statuses and CBV steps**", 1)[1].split("\n\n**", 1)[0]
    rows = set(re.findall(r"^\| (\w+) \| (\w+) \| (\w+) \|$", section, re.M)) - {("ODL", "CBV", "CBV")}
    assert rows == set(conn.execute("select status, biz_step, disposition from odl.epcis_status_steps").fetchall())


def test_export_needs_exactly_one_key(world):
    with pytest.raises(psycopg.Error) as raised:
        world.call(world.engineer, "select odl.odl_epcis_document()")
    assert raised.value.sqlstate == "22023"
