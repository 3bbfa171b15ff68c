"""The float-heavy fixture the document benchmark measures
(fixtures/odlsd_floats.py), without a database: its documents are valid
with no finding at all, and every number keeps the spelling it was given."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from odl_db.integrity import findings
from odl_db.validation import schema_errors

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP))
from fixtures import odlsd_floats  # noqa: E402

SCHEMA = json.loads((TOP / "schemas/odl-sd-4.1.schema.json").read_text())


@pytest.mark.parametrize(("size", "seed"), [(10_000, 0), (60_000, 3), (1_000_000, 7)])
def test_generated_documents_are_valid_without_warnings(size, seed):
    doc = odlsd_floats.generate(size, seed)
    assert schema_errors(doc, SCHEMA, {}) == []
    assert findings(doc) == []


@pytest.mark.parametrize("size", [10_000, 100_000, 1_000_000])
def test_generated_documents_have_the_requested_size(size):
    actual = len(odlsd_floats.dumps(odlsd_floats.generate(size, seed=1)).encode())
    assert size <= actual <= size + 1_000


def test_numbers_keep_their_spelling_through_dumps_and_loads():
    text = odlsd_floats.dumps(odlsd_floats.generate(200_000, seed=2))
    assert odlsd_floats.dumps(odlsd_floats.loads(text)) == text
    numbers = set(re.findall(r"(?<=[:\[,])-?[0-9][0-9.Ee+-]*(?=[,\]}])", text))
    assert {"2.50", "100.0", "120.0", "0.00005", "1E-7", "-0.00290"} <= numbers
    assert any(re.fullmatch(r"[0-9.]+E-[0-9]+", n) and n != "1E-7" for n in numbers)  # leakage currents
    assert any(re.fullmatch(r"-?[0-9]+\.[0-9]*0", n) for n in numbers - {"2.50", "100.0", "120.0"})
    latitudes = re.findall(r'"lat":(-?[0-9.]+)', text)
    assert latitudes and all(len(lat.partition(".")[2]) == 7 for lat in latitudes)


def test_every_connection_joins_ports_of_its_instances_types():
    doc = odlsd_floats.generate(300_000, seed=4)
    ports = {c["id"]: {p["id"] for p in c["ports"]} for c in doc["libraries"]["components"]}
    type_of = {inst["id"]: inst["type_ref"] for inst in doc["instances"]}
    assert len(type_of) == len(doc["instances"])
    for connection in doc["connections"]:
        for end in ("from", "to"):
            assert connection[end]["port_id"] in ports[type_of[connection[end]["instance_id"]]]


def test_generation_is_deterministic_per_seed():
    assert odlsd_floats.dumps(odlsd_floats.generate(40_000, seed=3)) == odlsd_floats.dumps(
        odlsd_floats.generate(40_000, seed=3)
    )
    assert odlsd_floats.generate(40_000, seed=3) != odlsd_floats.generate(40_000, seed=4)


def test_sizes_outside_the_supported_range_are_refused():
    with pytest.raises(ValueError, match="between"):
        odlsd_floats.generate(5_000)
