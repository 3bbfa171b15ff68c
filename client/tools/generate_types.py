#!/usr/bin/env python3
"""Writes client/odl_client/document_types.py from the ODL-SD JSON Schema
(schemas/odl-sd-4.1.schema.json) and the access policy (policy/access.json).

    python3 client/tools/generate_types.py          # write the module
    python3 client/tools/generate_types.py --check  # exit 1 if it is out of date

Each object with properties becomes a TypedDict (required members are
Required[...]), each enum a Literal alias, and SCHEMA_ENUMS / POLICY_ENUMS map
where each enum came from to its alias, so tests compare them with the sources
and the database. Objects the schema leaves open may carry more members than
their TypedDict names.
"""

from __future__ import annotations

import json
import keyword
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parents[2]
SCHEMA = TOP / "schemas" / "odl-sd-4.1.schema.json"
POLICY = TOP / "policy" / "access.json"
OUTPUT = TOP / "client" / "odl_client" / "document_types.py"

ROOT_NAME = "OdlDocument"
SIMPLE = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
# Enums of the policy (policy/access.json), loaded into the odl.rbac_* and
# level tables by the change policy_load: key -> (alias, how to read the values).
POLICY_LISTS: dict[str, tuple[str, Callable[[Any], Iterable[str]]]] = {
    "phases": ("ProjectPhase", list),
    "classification_levels": ("ClassificationLevel", list),
    "sections": ("SectionName", dict.keys),
    "roles": ("Role", dict.keys),
    "actions": ("Action", dict.keys),
    "rights": ("Right", dict.keys),
}


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("$", "").split("_") if part)


def literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"


class Generator:
    def __init__(self, schema: dict[str, Any], policy: dict[str, Any]):
        self.schema = schema
        self.policy = policy
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.def_names = {name: pascal(name) for name in self.defs}
        self.aliases: dict[str, str] = {}  # name -> right-hand side
        self.classes: dict[str, tuple[str | None, list[tuple[str, str, bool]]]] = {}
        self.deps: dict[str, set[str]] = {}
        self.enums: dict[str, str] = {}  # schema pointer -> alias
        self.refs: set[str] = set()  # classes named by the annotations of the class being read

    # -- types ---------------------------------------------------------------
    def ref_name(self, ref: str) -> str:
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or ref[len(prefix):] not in self.defs:
            raise SystemExit(f"generate_types: unsupported $ref {ref}")
        return self.def_names[ref[len(prefix):]]

    def annotation(self, node: Any, name: str, pointer: str) -> str:
        """The annotation for a schema node; names new aliases and classes after `name`."""
        if not isinstance(node, dict):
            return "Any"
        if "$ref" in node:
            return self.named(self.ref_name(node["$ref"]))
        if "const" in node:
            return literal([node["const"]])
        if "enum" in node:
            self.alias(name, literal(node["enum"]))
            self.enums[pointer] = name
            return name
        for combinator in ("anyOf", "oneOf"):
            if combinator in node:
                parts = [
                    self.annotation(sub, f"{name}{i}", f"{pointer}/{combinator}/{i}")
                    for i, sub in enumerate(node[combinator])
                ]
                return " | ".join(dict.fromkeys(parts))
        types = node.get("type")
        if isinstance(types, list):
            return " | ".join(self.annotation({**node, "type": t}, name, pointer) for t in types)
        if types in SIMPLE:
            return SIMPLE[types]
        if types == "array":
            if "items" in node:
                return f"list[{self.annotation(node['items'], name, pointer + '/items')}]"
            return "list[Any]"
        if types == "object":
            # "if it is an object, then it is X" (hierarchy children: ids or nodes)
            if node.get("if") == {"type": "object"} and "$ref" in node.get("then", {}):
                return self.named(self.ref_name(node["then"]["$ref"]))
            if "properties" in node:
                self.object_class(node, name, pointer)
                return self.named(name)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and not {"if", "then", "else"} & extra.keys():
                return f"dict[str, {self.annotation(extra, name + 'Value', pointer + '/additionalProperties')}]"
            return "dict[str, Any]"
        return "Any"

    def alias(self, name: str, rhs: str) -> None:
        if name in self.aliases or name in self.classes:
            raise SystemExit(f"generate_types: two types would be named {name}")
        self.aliases[name] = rhs

    def named(self, name: str) -> str:
        self.refs.add(name)
        return name

    def object_class(self, node: dict[str, Any], name: str, pointer: str) -> None:
        if name in self.classes:
            raise SystemExit(f"generate_types: two types would be named {name}")
        required = set(node.get("required", []))
        members = []
        outer, self.refs = self.refs, set()
        for key, sub in node["properties"].items():
            hint = self.annotation(sub, name + pascal(key), f"{pointer}/properties/{key}")
            members.append((key, hint, key in required))
        self.classes[name] = (node.get("description"), members)
        self.deps[name], self.refs = self.refs - {name}, outer

    def run(self) -> None:
        for def_name, node in self.defs.items():
            name = self.def_names[def_name]
            pointer = f"/$defs/{def_name}"
            if node.get("type") == "object" and "properties" in node:
                self.object_class(node, name, pointer)
            else:
                hint = self.annotation(node, name, pointer)
                if hint != name:
                    self.alias(name, hint)
        self.object_class(self.schema, ROOT_NAME, "")
        schema_levels = self.defs["hierarchy_level"]["enum"]
        if self.policy["hierarchy_levels"] != schema_levels:
            raise SystemExit("generate_types: policy hierarchy_levels differ from the schema's hierarchy_level")

    # -- output --------------------------------------------------------------
    def ordered_classes(self) -> list[str]:
        done: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done or name in path or name not in self.classes:
                return
            for dep in sorted(self.deps.get(name, ())):
                visit(dep, path + (name,))
            done.append(name)

        for name in self.classes:
            visit(name, ())
        return done

    def render_class(self, name: str) -> str:
        description, members = self.classes[name]
        fields = [(key, f"Required[{hint}]" if req else hint) for key, hint, req in members]
        if all(key.isidentifier() and not keyword.iskeyword(key) for key, _ in fields):
            lines = [f"class {name}(TypedDict, total=False):"]
            if description:
                lines.append(f"    {json.dumps(description)}")
            lines += [f"    {key}: {hint}" for key, hint in fields] or ["    pass"]
            return "\n".join(lines)
        lines = [f"{name} = TypedDict(", f"    {json.dumps(name)},", "    {"]
        lines += [f"        {json.dumps(key)}: {hint}," for key, hint in fields]
        lines += ["    },", "    total=False,", ")"]
        if description:
            lines.append(f"{name}.__doc__ = {json.dumps(description)}")
        return "\n".join(lines)

    def render(self) -> str:
        self.run()
        out = [
            '"""ODL-SD 4.1 document types and the policy\'s enums.',
            "",
            "GENERATED by client/tools/generate_types.py from schemas/odl-sd-4.1.schema.json",
            "and policy/access.json: do not edit; run the generator instead.",
            '"""',
            "",
            "# ruff: noqa",
            "from __future__ import annotations",
            "",
            "from typing import Any, Literal, Required, TypedDict",
            "",
            f"SCHEMA_ID = {json.dumps(self.schema['$id'])}",
            "",
            "# Aliases: the schema's enums and its non-object definitions.",
        ]
        out += [f"{name} = {rhs}" for name, rhs in self.aliases.items()]
        out += ["", "# The policy's enums (policy/access.json)."]
        policy_aliases = {}
        for key, (alias, read) in POLICY_LISTS.items():
            if alias in self.aliases or alias in self.classes:
                raise SystemExit(f"generate_types: two types would be named {alias}")
            out.append(f"{alias} = {literal(list(read(self.policy[key])))}")
            policy_aliases[key] = alias
        out += ["", ""]
        out.append("\n\n\n".join(self.render_class(name) for name in self.ordered_classes()))
        out += ["", "", "# Where each enum comes from: a JSON pointer into the schema, a key of the policy."]
        out.append("SCHEMA_ENUMS: dict[str, Any] = {")
        out += [f"    {json.dumps(pointer)}: {alias}," for pointer, alias in self.enums.items()]
        out.append("}")
        out.append("POLICY_ENUMS: dict[str, Any] = {")
        out += [f"    {json.dumps(key)}: {alias}," for key, alias in policy_aliases.items()]
        out.append("}")
        return "\n".join(out) + "\n"


def render() -> str:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    return Generator(schema, policy).render()


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(TOP)} is out of date: run client/tools/generate_types.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
