"""Golden prefill: each sample of samples/hl7v2 and samples/fhir has its expected Sanitaire and Grand Âge prefill
(values and provenance) beside it, ``<sample>.prefill.json``, computed from the sample's golden canonical file.

Regenerate after a deliberate change of the maps: ``AIGUILLAGE_REGENERATE_GOLDEN=1 pytest tests/mappings/prefill``,
then read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.prefill import Sample, golden_prefill, load_samples, sample_stem
from gateway.settings import PROJECT_ROOT

SAMPLES = [s for feed in load_samples(PROJECT_ROOT / "samples").values() for s in feed]
REGENERATE = os.environ.get("AIGUILLAGE_REGENERATE_GOLDEN") == "1"


def golden_path(sample: Sample) -> Path:
    return sample.path.with_name(f"{sample_stem(sample.path)}.prefill.json")


def test_both_feeds_have_samples() -> None:
    feeds = {s.path.parent.name for s in SAMPLES}
    assert feeds == {"hl7v2", "fhir"}


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s.path.parent.name}/{sample_stem(s.path)}" for s in SAMPLES])
def test_prefill_matches_the_golden_file(sample: Sample) -> None:
    got = golden_prefill(sample)
    path = golden_path(sample)
    if REGENERATE:
        path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert path.exists(), f"{path.name} is missing: regenerate with AIGUILLAGE_REGENERATE_GOLDEN=1"
    assert got == json.loads(path.read_text(encoding="utf-8"))


def test_rejected_messages_prefill_nothing() -> None:
    rejected = [s for s in SAMPLES if s.canonical is None]
    assert rejected, "the HL7 feed has rejected samples (neg__*)"
    for sample in rejected:
        assert golden_prefill(sample) == {"sanitaire": {}, "grand_age": {}}


def test_every_prefilled_value_names_its_source_message() -> None:
    for sample in SAMPLES:
        if sample.canonical is None:
            continue
        for module in golden_prefill(sample).values():
            for fields in module.values():
                for name, value in fields.items():
                    assert value["source"] == sample.canonical.source.value, (sample.path.name, name)
                    assert value["message_id"] == sample.canonical.message_id, (sample.path.name, name)
                    assert value["chemin"], (sample.path.name, name)
