"""Every sample under samples/hl7v2/ maps to its golden file ``<name>.expected.json``.

The golden file holds the expected outcome (``accepted`` / ``rejected``), the issues (code, severity, location)
and the canonical result as JSON. To regenerate after an intended change, review the diff afterwards:

    AIGUILLAGE_REGEN_GOLDEN=1 .venv/bin/pytest tests/mappings/hl7v2/test_samples_golden.py -p no:cacheprovider

A bug fix adds a sample pair here.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import pytest

from mappings.hl7v2 import map_message

SAMPLES = pathlib.Path(__file__).resolve().parents[3] / "samples" / "hl7v2"
FILES = sorted(SAMPLES.rglob("*.hl7"))


def golden_of(raw: bytes) -> dict[str, Any]:
    mapped = map_message(raw)
    canonical = mapped.canonical.model_dump(mode="json", exclude_defaults=True, exclude={"issues"})
    return {
        "outcome": "accepted" if mapped.ok else "rejected",
        "issues": [{"severity": i.severity, "code": i.code, "location": i.location}
                   for i in mapped.canonical.issues],
        "canonical": canonical,
    }


def test_there_is_a_sample_for_every_event_and_negative_case() -> None:
    events = {f.name.split("__")[0] for f in FILES}
    wanted = {f"adt_{e.lower()}" for e in ("A28", "A31", "A47", "A40", "A05", "A38", "A01", "A11", "A04", "A06",
                                          "A07", "A02", "A12", "A03", "A13", "A21", "A52", "A22", "A53", "A54",
                                          "A55", "Z99")}
    assert wanted <= events
    negatives = {f.stem for f in FILES if f.name.startswith("neg__")}
    assert {"neg__missing_msh10", "neg__wrong_zbe", "neg__invalid_ins_key", "neg__unknown_event",
            "neg__ins_without_vali"} <= negatives


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_sample_matches_golden(path: pathlib.Path) -> None:
    golden_path = path.with_suffix(".expected.json")
    got = golden_of(path.read_bytes())
    if os.environ.get("AIGUILLAGE_REGEN_GOLDEN") == "1":
        golden_path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert golden_path.exists(), f"golden file missing: {golden_path.name} (AIGUILLAGE_REGEN_GOLDEN=1)"
    expected = json.loads(golden_path.read_text(encoding="utf-8"))
    assert got == expected
