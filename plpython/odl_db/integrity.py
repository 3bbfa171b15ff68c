"""The rules of an ODL-SD document that its JSON Schema cannot express.

Errors refuse a document; they are the rules the format states:
`schema_version` is supported, instance ids are unique, every connection
end names an instance of the document (unless the document declares that
its instances live outside it), and a hierarchy node that gives both `type`
(the spec's name of its level) and `level` (odl-db's earlier one) gives the
same level twice.

Warnings never refuse; they cover what the spec leaves open: a `type_ref`,
`parent_ref`, sub-element `type_ref` or hierarchy id that names nothing in
the document (it may name something in another document), a child node
whose level is not below its parent's, repeated connection, component or
node ids, and a connection's `port_id` that no port of its instance has.

Shapes the schema refuses are skipped here. One pass over each list and a
dict lookup per reference keep this O(document): the writer runs it on
every write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from odl_db.canonical import canonical_json

__all__ = ["ERROR", "LEVELS", "SUPPORTED_VERSIONS", "WARNING", "findings", "integrity_errors", "instances_external"]

ERROR = "error"
WARNING = "warning"
SUPPORTED_VERSIONS = frozenset({"4.1"})
LEVELS = ("PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}

Error = tuple[str, str]  # (RFC 6901 pointer, message)
Finding = tuple[str, str, str]  # (pointer, severity, message)


def integrity_errors(doc: Any, supported_versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[Error]:
    """The errors alone, as (pointer, message), sorted by pointer: what
    refuses a write."""
    return [(pointer, message) for pointer, _, message in _Check(doc, supported_versions, False).run()]


def findings(doc: Any, supported_versions: Iterable[str] = SUPPORTED_VERSIONS) -> list[Finding]:
    """Errors and warnings, as (pointer, severity, message), sorted by pointer."""
    return _Check(doc, supported_versions, True).run()


def instances_external(doc: dict) -> bool:
    """Whether the document declares that instances live outside it:
    external references enabled or partitioning present (the spec's nested
    form), enabled by the authors' flat flags, or an odl-db `external_refs`
    entry pointing into /instances."""
    dm = doc.get("data_management")
    if not isinstance(dm, dict):
        return False
    strategies = dm.get("scalability_strategies")
    if isinstance(strategies, dict):
        references = strategies.get("external_references")
        if isinstance(references, dict) and references.get("enabled") is True:
            return True
        if strategies.get("partitioning") is not None:
            return True
    if dm.get("external_refs_enabled") is True or dm.get("partitioning_enabled") is True:
        return True
    refs = dm.get("external_refs")
    for ref in refs if isinstance(refs, list) else ():
        pointer = ref.get("pointer") if isinstance(ref, dict) else None
        if isinstance(pointer, str) and (pointer == "/instances" or pointer.startswith("/instances/")):
            return True
    return False


def _token(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _order(finding: Finding) -> tuple:
    # Array indexes sort as numbers, so /instances/2 comes before /instances/10.
    tokens = finding[0].split("/")[1:] if finding[0] else []
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens), finding[2]


def _is_group(value: dict) -> bool:
    # As the schema reads a map of components: a value without category
    # whose own values have it groups components.
    return "category" not in value and any(isinstance(v, dict) and "category" in v for v in value.values())


class _Check:
    def __init__(self, doc: Any, supported_versions: Iterable[str], warnings: bool) -> None:
        self.doc = doc
        self.supported = sorted(supported_versions)
        self.warnings = warnings
        self.found: list[Finding] = []
        self.nodes: dict[str, str] = {}  # node id -> its pointer
        self.components: dict[str, Any] = {}  # component name or id -> the component
        self.instances: dict[str, int] = {}  # instance id -> index of its first occurrence
        self.instance_set: set | None = None  # the instance ids, when proved unique without the dict
        self.type_ports: dict[str, frozenset] = {}  # component name or id -> its port ids

    def error(self, pointer: str, message: str) -> None:
        self.found.append((pointer, ERROR, message))

    def warn(self, pointer: str, message: str) -> None:
        self.found.append((pointer, WARNING, message))

    def run(self) -> list[Finding]:
        doc = self.doc
        if not isinstance(doc, dict):
            return [("", ERROR, "document must be an object")]
        self.version()
        self.hierarchy()
        if self.warnings:
            self.libraries()
        self.instance_ids()
        self.connections()
        return sorted(self.found, key=_order)

    def version(self) -> None:
        if "schema_version" not in self.doc:
            self.error("", "missing schema_version")
        elif self.doc["schema_version"] not in self.supported:
            known = f" (supported: {', '.join(self.supported)})" if self.supported else ""
            self.error(
                "/schema_version",
                f"unsupported schema version {canonical_json(self.doc['schema_version'])}{known}",
            )

    # --- hierarchy -------------------------------------------------------------

    def hierarchy(self) -> None:
        top = self.doc.get("hierarchy")
        if not isinstance(top, dict):
            return
        references: list[tuple[str, str, str]] = []  # (pointer, id, what names it)
        # Explicitly stacked: a document may nest nodes deeper than Python recurses.
        # The enclosing node's id: None at the top, False when it has none.
        stack: list[tuple[dict, str, str | bool | None, str | None]] = [(top, "/hierarchy", None, None)]
        while stack:
            node, pointer, parent, parent_level = stack.pop()
            level = self.node_level(node, pointer)
            ident = node.get("id")
            if self.warnings:
                if isinstance(ident, str):
                    if ident in self.nodes:
                        self.warn(f"{pointer}/id", f"duplicate node id {canonical_json(ident)} (first at {self.nodes[ident]}/id)")
                    else:
                        self.nodes[ident] = pointer
                if level in _RANK and parent_level in _RANK and _RANK[level] <= _RANK[parent_level]:
                    member = "type" if "type" in node else "level"
                    self.warn(
                        f"{pointer}/{member}",
                        f"level {canonical_json(level)} is not below its parent's level {canonical_json(parent_level)}",
                    )
                parent_id = node.get("parent_id")
                if isinstance(parent_id, str):
                    if parent is None:
                        references.append((f"{pointer}/parent_id", parent_id, "parent node"))
                    elif isinstance(parent, str) and parent_id != parent:
                        self.warn(
                            f"{pointer}/parent_id",
                            f"parent_id {canonical_json(parent_id)} is not the enclosing node {canonical_json(parent)}",
                        )
            children = node.get("children")
            if not isinstance(children, list):
                continue
            for i in range(len(children) - 1, -1, -1):
                child = children[i]
                if isinstance(child, dict):
                    stack.append((child, f"{pointer}/children/{i}", ident if isinstance(ident, str) else False, level))
                elif isinstance(child, str) and self.warnings:
                    references.append((f"{pointer}/children/{i}", child, "child node"))
        for pointer, ident, what in references:
            if ident not in self.nodes:
                self.warn(pointer, f"{what} {canonical_json(ident)} is not in this document")

    def node_level(self, node: dict, pointer: str) -> str | None:
        kind, level = node.get("type"), node.get("level")
        if isinstance(kind, str) and isinstance(level, str) and kind != level:
            self.error(f"{pointer}/level", f"level {canonical_json(level)} disagrees with type {canonical_json(kind)}")
        return kind if isinstance(kind, str) else level if isinstance(level, str) else None

    # --- libraries ---------------------------------------------------------------

    def libraries(self) -> None:
        libraries = self.doc.get("libraries")
        components = libraries.get("components") if isinstance(libraries, dict) else None
        listed: list[tuple[str, Any]] = []  # (pointer, component)
        if isinstance(components, dict):
            for name, value in components.items():
                if not isinstance(value, dict):
                    continue
                pointer = f"/libraries/components/{_token(name)}"
                if _is_group(value):
                    for member, component in value.items():
                        if isinstance(component, dict):
                            self.component_name(member, component, f"{pointer}/{_token(member)}")
                            listed.append((f"{pointer}/{_token(member)}", component))
                else:
                    self.component_name(name, value, pointer)
                    listed.append((pointer, value))
        elif isinstance(components, list):
            for i, component in enumerate(components):
                if isinstance(component, dict):
                    self.component_name(component.get("id"), component, f"/libraries/components/{i}/id")
                    listed.append((f"/libraries/components/{i}", component))
        for pointer, component in listed:
            # Other identities a type_ref may use: the supplement's and a library file's.
            management = component.get("component_management")
            identity = management.get("component_identity") if isinstance(management, dict) else None
            if isinstance(identity, dict):
                self.component_name(
                    identity.get("component_id"), component,
                    f"{pointer}/component_management/component_identity/component_id",
                )
            metadata = component.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("id"), str):
                self.components.setdefault(metadata["id"], component)
        for pointer, component in listed:
            elements = component.get("sub_elements")
            for i, element in enumerate(elements if isinstance(elements, list) else ()):
                ref = element.get("type_ref") if isinstance(element, dict) else None
                if isinstance(ref, str) and ref not in self.components:
                    self.warn(
                        f"{pointer}/sub_elements/{i}/type_ref",
                        f"component {canonical_json(ref)} is not in this document's library",
                    )

    def component_name(self, name: Any, component: dict, pointer: str) -> None:
        if not isinstance(name, str):
            return
        held = self.components.get(name)
        if held is None:
            self.components[name] = component
        elif held is not component:
            self.warn(pointer, f"duplicate component id {canonical_json(name)}")

    # --- instances and connections ----------------------------------------------------

    def instance_ids(self) -> None:
        instances = self.doc.get("instances")
        if not isinstance(instances, list):
            return
        if not self.warnings:
            # The writer's path: set operations in C prove the common case,
            # unique ids; anything else takes the loop below.
            try:
                ids = [instance["id"] for instance in instances]
                unique = set(ids)
            except (TypeError, KeyError):
                unique = None
            if unique is not None and len(unique) == len(ids):
                self.instance_set = unique
                return
        seen = self.instances
        for i, instance in enumerate(instances):
            ident = instance.get("id") if isinstance(instance, dict) else None
            if not isinstance(ident, str):
                continue
            if ident in seen:
                self.error(
                    f"/instances/{i}/id",
                    f"duplicate instance id {canonical_json(ident)} (first at /instances/{seen[ident]}/id)",
                )
            else:
                seen[ident] = i
        if not self.warnings:
            return
        components, nodes = self.components, self.nodes
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                continue
            ref = instance.get("type_ref")
            if isinstance(ref, str) and ref not in components:
                self.warn(f"/instances/{i}/type_ref", f"component {canonical_json(ref)} is not in this document's library")
            parent = instance.get("parent_ref")
            if isinstance(parent, str) and parent not in nodes and parent not in seen:
                self.warn(f"/instances/{i}/parent_ref", f"{canonical_json(parent)} names no node or instance of this document")

    def connections(self) -> None:
        connections = self.doc.get("connections")
        if not isinstance(connections, list):
            return
        external = instances_external(self.doc)
        if not self.warnings:
            if external:
                return
            if self.instance_set is not None:
                try:
                    ends = {connection["from"]["instance_id"] for connection in connections}
                    ends.update([connection["to"]["instance_id"] for connection in connections])
                except (TypeError, KeyError):
                    ends = None
                if ends is not None and ends <= self.instance_set:
                    return
                # Some end is unknown: find it with the index below.
                self.instances = {instance["id"]: i for i, instance in enumerate(self.doc["instances"])}
        instances, warnings = self.instances, self.warnings
        ports: dict[int, frozenset | None] = {}
        ids: dict[str, int] = {}
        for i, connection in enumerate(connections):
            if not isinstance(connection, dict):
                continue
            if warnings:
                ident = connection.get("id")
                if isinstance(ident, str):
                    if ident in ids:
                        self.warn(
                            f"/connections/{i}/id",
                            f"duplicate connection id {canonical_json(ident)} (first at /connections/{ids[ident]}/id)",
                        )
                    else:
                        ids[ident] = i
            for end in ("from", "to"):
                target = connection.get(end)
                if not isinstance(target, dict):
                    continue
                ident = target.get("instance_id")
                if not isinstance(ident, str):
                    continue
                index = instances.get(ident)
                if index is None:
                    if not external:
                        self.error(f"/connections/{i}/{end}/instance_id", f"unknown instance {canonical_json(ident)}")
                    continue
                port = target.get("port_id")
                if warnings and isinstance(port, str):
                    if index not in ports:
                        ports[index] = self.ports_of(self.doc["instances"][index])
                    known = ports[index]
                    if known is not None and port not in known:
                        self.warn(
                            f"/connections/{i}/{end}/port_id",
                            f"instance {canonical_json(ident)} has no port {canonical_json(port)}",
                        )

    def ports_of(self, instance: dict) -> frozenset | None:
        """The port ids of the instance's component and its own; None when
        neither is known, so nothing can be said."""
        ref = instance.get("type_ref")
        component = self.components.get(ref) if isinstance(ref, str) else None
        own = instance.get("ports")
        if not isinstance(own, list):
            # The spec's case: the component's ports, found once per component.
            if not isinstance(component, dict):
                return None
            if ref not in self.type_ports:
                self.type_ports[ref] = _port_ids(component.get("ports"), None)
            return self.type_ports[ref]
        return _port_ids(own, component.get("ports") if isinstance(component, dict) else None)


def _port_ids(*lists: Any) -> frozenset:
    return frozenset(
        port["id"] for ports in lists if isinstance(ports, list)
        for port in ports if isinstance(port, dict) and isinstance(port.get("id"), str)
    )
