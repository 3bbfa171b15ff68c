"""The README's SQLSTATE table is the database's odl.error_codes."""

import re

from conftest import TOP


def readme_error_codes() -> set[tuple[str, str, str]]:
    rows = re.findall(r"^\| (OD[0-9A-Z]{3}) \| (\w+) \| (.+?) \|$", (TOP / "README.md").read_text(), re.M)
    return set(rows)


def test_readme_lists_every_error_code(conn):
    deployed = set(conn.execute("select sqlstate, name, meaning from odl.error_codes").fetchall())
    assert deployed
    assert readme_error_codes() == deployed
