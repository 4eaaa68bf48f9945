"""Bounded fuzzing of the tokenizer and the mappings with hypothesis: mutated real messages (bytes inserted,
deleted or replaced, separators and escape characters sprinkled, segments cut) never raise and never hang —
a bad message becomes issues, not an exception that would block the pipeline."""

from __future__ import annotations

import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.hl7v2 import map_message

SAMPLES = sorted((pathlib.Path(__file__).resolve().parents[3] / "samples" / "hl7v2").glob("*.hl7"))
RAWS = [p.read_bytes() for p in SAMPLES]
SPECIAL = [b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b'""', b"\\X", b"\\E\\", b"\x00", b"\xff", b"MSH|"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(RAWS)))
    for _ in range(draw(st.integers(1, 12))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "special", "truncate"]))
        if kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del raw[at:at + draw(st.integers(1, 20))]
        elif kind == "replace":
            raw[at] = draw(st.integers(0, 255))
        elif kind == "special":
            raw[at:at] = draw(st.sampled_from(SPECIAL))
        else:
            del raw[at:]
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_map_to_issues_never_to_an_exception(raw: bytes) -> None:
    mapped = map_message(raw)
    assert mapped.canonical.source.value == "hl7v2"
    if not mapped.ok:
        assert all(i.code and i.message for i in mapped.errors)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    map_message(raw)
    map_message(b"MSH|^~\\&|" + raw)
