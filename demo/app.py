#!/usr/bin/env python3
"""The demo's application: everything the demo does as an application
(create projects and documents, apply and propose patches, approve, read)
goes through the Python client, odl_client, as a real application would.
scripts/demo runs one story at a time between its psql parts:

    app.py load        tenants, users, projects, hierarchies and roles (once)
    app.py documents   versions, inverses, conflicts, dry runs, reverts (rolled back)
    app.py access      who may read, write, propose and approve (rolled back)
    app.py spec        a document as the ODL-SD spec writes it, a patch, the change feed
    app.py analyst     committed patches and change requests for the analyst views (once)
    app.py graph, ai, monetisation, search   the domain capabilities (demo/domain.py)

The libpq PG* variables name the database (scripts/demo sets them). The
application logs in as odl_app, the administrator as the superuser in role
odl_admin. Ids are looked up by the demo's names as the DBA: that is the
demo's scaffolding, not what an application does (it keeps its ids).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

TOP = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TOP / "client"), str(TOP / "plpython"), str(TOP)]

from fixtures import odlsd, odlsd_spec  # noqa: E402
from odl_client import (  # noqa: E402
    OdlAdmin,
    OdlConnection,
    OdlError,
    GateError,
    OdlSession,
    RightsError,
    SchemaError,
    VersionConflict,
)
from odl_db import canonical  # noqa: E402

APP_DSN = "user=odl_app"
ADMIN_DSN = "options='-c role=odl_admin'"


# -- printing -------------------------------------------------------------------

def say(text: str = "") -> None:
    print(text, flush=True)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows as psql prints them, roughly."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    say(" " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    say("-" + "-+-".join("-" * w for w in widths) + "-")
    for row in cells:
        say(" " + " | ".join(v.ljust(w) for v, w in zip(row, widths)))
    say(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    say()


@contextmanager
def refused(app: OdlConnection, *expected: type[OdlError]) -> Iterator[None]:
    """A call the database must refuse, in a savepoint so that the story
    goes on; prints the error as the application catches it."""
    try:
        with app.connection.transaction():
            yield
    except expected as error:
        say(f"   refused, {type(error).__name__} {error.sqlstate}: {error.message}")
        for label, text in (("detail", error.detail), ("hint", error.hint)):
            if text:
                say(f"   {label}: {text}")
        say()
    else:
        raise SystemExit("demo: the database accepted what it must refuse")


# -- names ----------------------------------------------------------------------

class Names:
    """The demo's ids by name, read as the DBA (the superuser sees every tenant)."""

    def __init__(self) -> None:
        self.db = psycopg.connect("", autocommit=True)

    def one(self, query: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(query, params).fetchone()
        return None if row is None else row[0]

    def tenant(self, name: str) -> str | None:
        return self.one("select tenant_id from odl.tenants where name = %s", (name,))

    def user(self, email: str) -> str | None:
        return self.one("select user_id from odl.users where email = %s", (email,))

    def project(self, name: str) -> str | None:
        return self.one("select project_id from odl.projects where name = %s", (name,))

    def node(self, name: str, level: str) -> str | None:
        return self.one("select node_id from odl.nodes where name = %s and level = %s", (name, level))

    def any_node(self) -> bool:
        return bool(self.one("select exists (select from odl.nodes)"))

    def spec_doc(self, project_id: str) -> str | None:
        """The document of documents.sql's story, whose hierarchy names levels by type."""
        return self.one(
            "select d.doc_id from odl.odl_documents as d where d.project_id = %s and d.doc_json -> 'hierarchy' ? 'type'"
            " order by d.created_at limit 1", (project_id,))

    def emails(self) -> dict[str, str]:
        return dict(self.db.execute("select user_id, email from odl.users").fetchall())

    def close(self) -> None:
        self.db.close()


# -- load ---------------------------------------------------------------------------

def load(names: Names) -> None:
    """Two tenants, their users and projects; then each tenant's hierarchy, its
    projects attached, and the roles its users hold there. Each part runs only
    when its data is missing."""
    app = OdlConnection.connect(APP_DSN)
    if names.tenant("Helios Solar") is None:
        with OdlAdmin.connect(ADMIN_DSN) as admin:
            helios = admin.create_tenant("Helios Solar", "EU")
            ana = admin.create_user(helios, "ana@helios.example", "engineer")
            ben = admin.create_user(helios, "ben@helios.example", "project_manager")
            borealis = admin.create_tenant("Borealis Storage", "US")
            cy = admin.create_user(borealis, "cy@borealis.example", "engineer")
        with app.transaction(helios, ana) as odl:
            odl.create_project("Sunfield PV 50 MW")
        # A project starts in the first phase unless its creator decides
        # phase changes, as ben, a project_manager, does.
        with app.transaction(helios, ben) as odl:
            odl.create_project("Harbour Rooftops", "construction", "confidential")
        with app.transaction(borealis, cy) as odl:
            odl.create_project("Prairie BESS 200 MWh", "design", "restricted")
        say("Loaded the demo data: 2 tenants, 3 users, 3 projects.")
    else:
        say("Demo data already loaded.")

    # Access: rights on documents come only from role assignments at nodes of
    # the hierarchy, and a project has the rights of the node it is attached
    # to. Each tenant gets an administrator (coarse role super_user), who
    # builds PORTFOLIO > SITE > PLANT, attaches the projects and assigns roles.
    if names.any_node():
        say("Access data already loaded.")
        app.close()
        return
    helios, borealis = names.tenant("Helios Solar"), names.tenant("Borealis Storage")
    with OdlAdmin.connect(ADMIN_DSN) as admin:
        def user(tenant: str, email: str, role: Any, mfa: bool = True) -> str:
            found = admin.find_user(tenant, email)
            return found.user_id if found else admin.create_user(tenant, email, role, mfa)

        ada = user(helios, "ada@helios.example", "super_user")
        eve = user(helios, "eve@helios.example", "expert")
        dara = user(helios, "dara@helios.example", "data_analyst", False)
        gus = user(helios, "gus@helios.example", "guest", False)
        dan = user(borealis, "dan@borealis.example", "super_user")
    ana, ben, cy = (names.user(e) for e in ("ana@helios.example", "ben@helios.example", "cy@borealis.example"))

    with app.transaction(helios, ada) as odl:
        iberia = odl.create_node(None, "PORTFOLIO", "Helios Iberia")
        sunfield_site = odl.create_node(iberia, "SITE", "Sunfield")
        sunfield_plant = odl.create_node(sunfield_site, "PLANT", "Sunfield PV")
        harbour_site = odl.create_node(iberia, "SITE", "Harbour")
        harbour_plant = odl.create_node(harbour_site, "PLANT", "Harbour Rooftops")
        odl.attach_project(names.project("Sunfield PV 50 MW"), sunfield_plant)
        odl.attach_project(names.project("Harbour Rooftops"), harbour_plant)
        # The administrator writes documents only through an assignment, like
        # anyone; super_user holds W on every section, which creating a whole
        # document needs.
        odl.assign_role(ada, iberia, "super_user")
        odl.assign_role(ben, iberia, "project_manager")
        odl.assign_role(ana, iberia, "engineer")
        odl.assign_role(eve, sunfield_site, "expert")
        odl.assign_role(dara, sunfield_site, "data_analyst")
        odl.assign_role(gus, sunfield_plant, "guest")
        # At Harbour Rooftops, ana is only a guest: the nearer assignment wins.
        odl.assign_role(ana, harbour_plant, "guest")
    with app.transaction(borealis, dan) as odl:
        borealis_us = odl.create_node(None, "PORTFOLIO", "Borealis US")
        prairie_site = odl.create_node(borealis_us, "SITE", "Prairie")
        prairie_plant = odl.create_node(prairie_site, "PLANT", "Prairie BESS")
        odl.attach_project(names.project("Prairie BESS 200 MWh"), prairie_plant)
        odl.assign_role(dan, borealis_us, "super_user")
        odl.assign_role(cy, borealis_us, "engineer")
    app.close()
    say("Loaded the access data: 2 hierarchies, 5 more users, 9 role assignments.")


# -- documents ------------------------------------------------------------------------

def documents(names: Names) -> None:
    helios, sunfield = names.tenant("Helios Solar"), names.project("Sunfield PV 50 MW")
    ada, ana, ben = (names.user(f"{n}@helios.example") for n in ("ada", "ana", "ben"))
    say()
    say("== ODL-SD documents, through the Python client: changed only by patches, every version kept.")
    say("(One transaction, rolled back at the end, so the demo leaves its data as it found it;")
    say(" in it users act in turn with OdlConnection.act_as(). Who may do what: the access story.)")
    with OdlConnection.connect(APP_DSN) as app, app.connection.transaction(force_rollback=True):
        say("-- ada (super_user, W on every section) creates a 12 KB document for Sunfield PV 50 MW: version 1")
        odl = app.act_as(helios, ada)
        doc = odl.create_document(sunfield, odlsd.generate(12_000, 3))
        head = odl.head(doc)
        table(["version", "doc_hash", "schema_version"], [(head.version, head.doc_hash, head.schema_version)])

        say("-- ana (engineer) patches it. Patch 1: an inverter is installed and a note added;")
        say("   the result carries the exact inverse")
        odl = app.act_as(helios, ana)
        first = odl.apply_patch(
            doc,
            [{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "installed"},
             {"op": "add", "path": "/meta/note", "value": "inverter on site"}],
            1, intent="inverter delivered", evidence_uris=["https://evidence.example/delivery-note-17.pdf"],
        )
        table(["version", "doc_hash", "inverse_patch", "outcome"],
              [(first.version, first.doc_hash, first.inverse_patch, first.outcome)])

        say("-- patch 2, written against version 2:")
        second = odl.apply_patch(doc, [{"op": "replace", "path": "/meta/note", "value": "inverter commissioned"}], 2)
        table(["version", "doc_hash"], [(second.version, second.doc_hash)])

        say("-- a writer still holding version 2 is refused; the error carries the current version as a number:")
        try:
            with app.connection.transaction():
                odl.apply_patch(doc, [{"op": "remove", "path": "/meta/note"}], 2)
        except VersionConflict as conflict:
            say(f"   VersionConflict {conflict.sqlstate}: expected_version={conflict.expected_version}, "
                f"current_version={conflict.current_version}")
            say()

        say("-- a schema-invalid patch is refused, naming the pointer; nothing changes:")
        with refused(app, SchemaError):
            odl.apply_patch(doc, [{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "on_fire"}], 3)

        say("-- a dry run returns the would-be document and writes nothing:")
        dry = odl.apply_patch(doc, [{"op": "replace", "path": "/meta/note", "value": "dry"}], 3, dry_run=True)
        table(["version", "inverse_patch", "would_be_note", "still_version"],
              [(dry.version, dry.inverse_patch, (dry.document or {})["meta"]["note"], odl.head(doc).version)])

        say("-- revert to version 1, recorded as a patch like any other:")
        reverted = odl.revert(doc, 1, 3)
        table(["version", "doc_hash"], [(reverted.version, reverted.doc_hash)])

        say("-- the history; version 4 has version 1's hash:")
        history = odl.history(doc)
        table(["version", "doc_hash", "intent", "operations", "evidence_uris"],
              [(h.version, h.doc_hash, h.intent, h.operations, h.evidence_uris) for h in history])

        say("-- any past version reads back exactly (read by ben, a project manager, who may read every section):")
        odl = app.act_as(helios, ben)
        past = odl.get_document(doc, 2)
        hashes = {h.version: h.doc_hash for h in history}
        table(["redacted", "note_in_version_2", "hash_matches"],
              [(past.redacted, past.document["meta"]["note"], canonical.content_hash(past.document) == hashes[2])])


# -- access ------------------------------------------------------------------------------

def access(names: Names) -> None:
    helios = names.tenant("Helios Solar")
    sunfield, harbour = names.project("Sunfield PV 50 MW"), names.project("Harbour Rooftops")
    ada, ana, eve, dara, gus = (names.user(f"{n}@helios.example") for n in ("ada", "ana", "eve", "dara", "gus"))
    emails = names.emails()
    helios_users = sorted((e, u) for u, e in emails.items() if e.endswith("@helios.example"))
    say("-- what that gives them on some sections of Sunfield PV 50 MW (effective_rights):")
    say("   R read, W write, P propose, A approve, X execute, S support")
    with OdlConnection.connect(APP_DSN) as app, app.connection.transaction(force_rollback=True):
        odl = app.act_as(helios, ada)
        sections = ("instances", "libraries", "analysis", "finance", "governance")
        table(["email", *sections],
              [(email, *(odl.effective_rights(user, sunfield, s) for s in sections)) for email, user in helios_users])

        say("-- ada (super_user at the portfolio) creates a document")
        doc = odl.create_document(sunfield, odlsd.generate(12_000, 3))
        head = odl.head(doc)
        table(["version", "doc_hash"], [(head.version, head.doc_hash)])

        say("-- ana (engineer) installs an inverter: W on instances and meta, so the patch is applied")
        odl = app.act_as(helios, ana)
        result = odl.apply_patch(
            doc, [{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "installed"},
                  {"op": "add", "path": "/meta/note", "value": "inverter B001-INV01 installed"}],
            1, intent="inverter installed")
        table(["version", "outcome", "change_id"], [(result.version, result.outcome, result.change_id)])

        say("-- ana marks the inverter model received in the library, where an engineer only proposes:")
        say("   the change is held for an approver and the document stays at version 2")
        result = odl.apply_patch(
            doc, [{"op": "replace", "path": "/libraries/components/3/status", "value": "received"}], 2,
            intent="inverters received")
        table(["version", "outcome", "change_id"], [(result.version, result.outcome, result.change_id)])
        pending = [c for c in odl.change_requests(sunfield) if c.doc_id == doc]
        table(["change_id", "author", "sections", "reason", "status"],
              [(c.change_id, emails[c.author_id], c.sections, c.reason, c.status) for c in pending])
        library_change = pending[0].change_id

        say("-- ana cannot approve her own change:")
        with refused(app, RightsError):
            odl.approve(library_change)

        say("-- eve (expert: an approver with A on libraries) approves it; it is merged as version 3:")
        odl = app.act_as(helios, eve)
        merged = odl.approve(library_change, comment="delivery note checked")
        table(["status", "version"], [(merged.status, merged.version)])
        component = odl.get_document(doc).document["libraries"]["components"][3]
        table(["component", "status"], [(component["part_number"], component["status"])])

        say("-- phase gates. In design, dara (data analyst) updates the energy yield: applied")
        odl = app.act_as(helios, dara)
        result = odl.apply_patch(doc, [{"op": "replace", "path": "/analysis/0/p50_mwh", "value": 97500}], 3)
        table(["version", "outcome"], [(result.version, result.outcome)])

        say("-- ana asks to move Sunfield PV 50 MW to procurement, eve approves, and the phase moves:")
        phase_change = app.act_as(helios, ana).set_phase(sunfield, "procurement")
        odl = app.act_as(helios, eve)
        table(["status", "phase"], [(odl.approve(phase_change).status,
                                     odl.explain_access(eve, sunfield, "analysis")["phase"])])

        say("-- in procurement the analysis section is locked: dara's next update is refused (ODG01)")
        odl = app.act_as(helios, dara)
        with refused(app, GateError):
            odl.apply_patch(doc, [{"op": "replace", "path": "/analysis/0/p50_mwh", "value": 97000}], 4)

        say("-- gus (guest) reads the document: what he may not read is removed, and listed in redacted")
        odl = app.act_as(helios, gus)
        read = odl.get_document(doc)
        table(["redacted", "keys_left"], [(read.redacted, len(read.document))])

        say("-- and a guest writes nothing:")
        with refused(app, RightsError):
            odl.apply_patch(doc, [{"op": "remove", "path": "/meta/note"}], 4)

        say("-- why: ana is an engineer at the portfolio but a guest at the Harbour Rooftops plant,")
        say("   and the nearest assignment wins. Her rights on instances:")
        odl = app.act_as(helios, ada)
        table(["at_sunfield", "at_harbour"], [(odl.effective_rights(ana, sunfield, "instances"),
                                               odl.effective_rights(ana, harbour, "instances"))])

        say("-- explain_access(ana, Harbour Rooftops, instances): her assignments on the path, and why each counts")
        why = odl.explain_access(ana, harbour, "instances")
        nodes = {n["node_id"]: n for n in why["path"]}
        table(["level", "node", "role", "status", "rights"],
              [(nodes[a["node_id"]]["level"], nodes[a["node_id"]]["name"], a["role"], a["status"], a["rights"])
               for a in why["assignments"]])

        say("-- explain_access(dara, Sunfield PV 50 MW, analysis): her rights, and the gate of the phase")
        why = odl.explain_access(dara, sunfield, "analysis")
        table(["phase", "rights", "phase_gates"], [(why["phase"], why["rights"], why["phase_gates"])])


# -- the spec document --------------------------------------------------------------------

def spec(names: Names) -> None:
    helios, sunfield = names.tenant("Helios Solar"), names.project("Sunfield PV 50 MW")
    ada = names.user("ada@helios.example")
    document = odlsd_spec.generate(30_000, 5)
    say()
    say("== ODL-SD as the spec writes it: hierarchy by type, components keyed by name, voltage_v.")
    with OdlConnection.connect(APP_DSN) as app:
        with app.transaction(helios, ada) as odl:
            say("-- validate_document() judges a document without storing it. The spec is silent on")
            say("   whether a type_ref resolves, so one that does not is a warning, never a refusal:")
            unresolved = {**document, "instances": [{**document["instances"][0], "type_ref": "no_such_component"},
                                                    *document["instances"][1:]]}
            table(["severity", "pointer", "message"],
                  [(f.severity, f.pointer, f.message) for f in odl.validate_document(unresolved)])
            say("-- a document with a member that is no section is refused by the schema, naming the pointer")
            table(["severity", "pointer", "message"],
                  [(f.severity, f.pointer, f.message) for f in odl.validate_document({**document, "catalogue": {}})
                   if f.severity == "error"])

        spec_doc = names.spec_doc(sunfield)
        if spec_doc is None:
            say("-- ada creates it (once): stored exactly as written, with its RFC 8785 hash")
            with app.transaction(helios, ada) as odl:
                spec_doc = odl.create_document(sunfield, document)

        say()
        say("== A patch: the writer works from the backend's cached copy of the document.")
        with app.transaction(helios, ada) as odl:
            version = odl.head(spec_doc).version
            result = odl.apply_patch(spec_doc, [
                {"op": "replace", "path": "/instances/0/lifecycle_status",
                 "value": "installed" if version % 2 == 0 else "commissioned"},
                {"op": "add", "path": "/instances/-",
                 "value": {"id": f"demo-meter-{version}", "type_ref": "revenue_meter", "lifecycle_status": "planned",
                           "location": {"lat": 38.7150, "lon": -9.1390}}},
            ], version)
            table(["version", "outcome", "doc_hash"], [(result.version, result.outcome, result.doc_hash)])

        say("-- the change feed: each version, the pointers it changed, and a position to resume from")
        with app.transaction(helios, ada) as odl:
            feed = [c for c in odl.changes_since(None, 10_000) if c.doc_id == spec_doc][-3:]
            table(["version", "changed_pointers", "position"],
                  [(c.version, c.changed_pointers, c.position) for c in reversed(feed)])


# -- the analyst views' data ------------------------------------------------------------------

def analyst(names: Names) -> None:
    """A few committed patches and change requests on the spec document, then
    an auditor (last, so that a run that stopped half way loads again)."""
    helios, sunfield = names.tenant("Helios Solar"), names.project("Sunfield PV 50 MW")
    if names.user("ines@helios.example") is not None:
        return
    ada, ana, eve, dara = (names.user(f"{n}@helios.example") for n in ("ada", "ana", "eve", "dara"))
    spec_doc = names.spec_doc(sunfield)
    assert spec_doc is not None, "app.py spec creates the spec document first"

    def patch(odl: OdlSession, operations: list[Any], intent: str) -> str | None:
        return odl.apply_patch(spec_doc, operations, odl.head(spec_doc).version, intent=intent).change_id

    with OdlConnection.connect(APP_DSN) as app:
        # ada revises the equipment capex: finance needs an approver, so it waits.
        with app.transaction(helios, ada) as odl:
            patch(odl, [{"op": "replace", "path": "/finance/capex/equipment", "value": 30_900_000}],
                  "equipment capex after the tender")
        with app.transaction(helios, ana) as odl:
            patch(odl, [{"op": "replace", "path": "/instances/3/lifecycle_status", "value": "commissioned"}],
                  "inverter B01-INV01 recommissioned after repair")
            # An engineer only proposes library changes; eve, an expert, merges this one.
            stow_change = patch(odl, [{"op": "replace", "value": 16,
                                       "path": "/libraries/components/tracker_row_2p/attributes/mechanical/wind_stow_ms"}],
                                "lower tracker stow speed after the storm review")
            odl.set_phase(sunfield, "procurement")
        with app.transaction(helios, eve) as odl:
            assert stow_change is not None
            odl.approve(stow_change, comment="storm review read")
        with app.transaction(helios, dara) as odl:
            patch(odl, [{"op": "replace", "path": "/analysis/0/outputs/p50_mwh", "value": 97_500}],
                  "energy yield re-run with 2025 soiling data")
        with OdlAdmin.connect(ADMIN_DSN) as admin:
            ines = admin.create_user(helios, "ines@helios.example", "auditor_legal", False)
        with app.transaction(helios, ada) as odl:
            odl.assign_role(ines, names.node("Sunfield", "SITE"), "auditor_legal")
    say("Loaded the analyst data: an auditor, 3 patches, 3 change requests (one merged).")


# demo/domain.py imports the helpers above from this module, run as a script.
sys.modules.setdefault("app", sys.modules[__name__])
import domain  # noqa: E402

STORIES = {"load": load, "documents": documents, "access": access, "spec": spec, "analyst": analyst,
           "graph": domain.graph, "ai": domain.ai, "monetisation": domain.monetisation, "search": domain.search}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in STORIES:
        raise SystemExit(f"usage: app.py {{{','.join(STORIES)}}}")
    names = Names()
    try:
        STORIES[argv[1]](names)
    finally:
        names.close()


if __name__ == "__main__":
    main(sys.argv)
