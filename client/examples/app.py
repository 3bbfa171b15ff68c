#!/usr/bin/env python3
"""An application on odl-db: a tenant, its administrator and two engineers, a project, a document,
a patch, a version conflict handled by re-reading and retrying, the history.

    ODL_ADMIN_DSN="dbname=odl user=admin_login" ODL_APP_DSN="dbname=odl user=app_login" python3 app.py

ODL_ADMIN_DSN logs in as a member of odl_admin, ODL_APP_DSN as a member of
odl_app (default: the libpq PG* variables for both). When the database is in
token mode, ODL_AUTH_DSN logs in as the login service (a member of odl_auth),
which issues each user's context token; here it stands in for the service
that authenticated the users.
"""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack

from odl_client import OdlAdmin, OdlAuth, OdlPool, PatchOperation, VersionConflict
from odl_client.document_types import OdlDocument


def new_document(name: str) -> OdlDocument:
    return {
        "$schema": "https://odl-sd.org/schemas/v4.1/document.json",
        "schema_version": "4.1",
        "meta": {"project": name, "domain": "PV", "scale": "UTILITY"},
        "hierarchy": {"id": "PF-1", "type": "PORTFOLIO", "name": name, "children": []},
        "instances": [],
    }


def add_inverter(number: int) -> list[PatchOperation]:
    return [{
        "op": "add", "path": "/instances/-",
        "value": {"id": f"INV-{number}", "type_ref": "inverter", "lifecycle_status": "planned"},
    }]


def main() -> None:
    tag = uuid.uuid4().hex[:6]
    with OdlAdmin.connect(os.environ.get("ODL_ADMIN_DSN", "")) as admin:
        tenant = admin.create_tenant(f"example-{tag}", "EU")
        boss = admin.create_user(tenant, f"boss-{tag}@example.com", "super_user")
        engineer = admin.create_user(tenant, f"eng-{tag}@example.com", "expert")
        colleague = admin.create_user(tenant, f"col-{tag}@example.com", "expert")
    print(f"tenant {tenant}: administrator {boss}, engineers {engineer} and {colleague}")

    with ExitStack() as stack:
        tokens = None
        if os.environ.get("ODL_AUTH_DSN"):
            tokens = stack.enter_context(OdlAuth.connect(os.environ["ODL_AUTH_DSN"])).token_source()
        pool = stack.enter_context(OdlPool(os.environ.get("ODL_APP_DSN", ""), max_size=2, tokens=tokens))
        # The tenant's administrator makes a portfolio and gives the engineers a role there.
        with pool.transaction(tenant, boss) as odl:
            node = odl.create_node(None, "PORTFOLIO", "Example portfolio")
            odl.assign_role(engineer, node, "expert")
            odl.assign_role(colleague, node, "expert")
            project = odl.create_project("Example solar farm")
            odl.attach_project(project, node)
        print(f"project {project} under node {node}")

        with pool.transaction(tenant, engineer) as odl:
            doc_id = odl.create_document(project, new_document("Example solar farm"))
            first = odl.apply_patch(doc_id, add_inverter(1), 1, intent="first inverter")
        print(f"document {doc_id}: version {first.version} {first.doc_hash}")

        # Read a version, then someone else writes before this writer does.
        with pool.transaction(tenant, engineer) as odl:
            seen = odl.get_document(doc_id).version
        with pool.transaction(tenant, colleague) as odl:
            odl.apply_patch(doc_id, add_inverter(2), seen, intent="a colleague's inverter")

        # Writers retry the whole transaction on a conflict, from the version the error names.
        expected = seen
        for _ in range(3):
            try:
                with pool.transaction(tenant, engineer) as odl:
                    result = odl.apply_patch(doc_id, add_inverter(3), expected, intent="third inverter")
                break
            except VersionConflict as conflict:
                print(f"version conflict: expected {conflict.expected_version}, current {conflict.current_version}")
                assert conflict.current_version is not None
                expected = conflict.current_version
        else:
            raise SystemExit("gave up after three conflicts")
        print(f"patched to version {result.version}")

        with pool.transaction(tenant, engineer) as odl:
            history = odl.history(doc_id)
            current = odl.get_document(doc_id)
        for entry in history:
            print(f"  v{entry.version} {entry.created_by} {entry.intent or '(created)'}")
        print("history:", ", ".join(str(entry.version) for entry in history))
        print("instances:", ", ".join(i["id"] for i in current.document["instances"]))


if __name__ == "__main__":
    main()
