"""Fuzz (hypothesis, bounded): streams of real frames, mutated frames, stray bytes, cut at random read
boundaries. The listener never crashes or hangs, and every well-formed frame in the stream still gets its ACK."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hl7_listeners.client import MllpClient, ack_summary
from hl7_listeners.framing import Frame, FrameReader
from hl7_listeners.header import read_header

SB, EB = b"\x0b", b"\x1c\r"
_ids = itertools.count()


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """A real frame's payload with byte flips, insertions (MLLP control bytes included), deletions, a cut, or a
    long repetition (oversize)."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "control", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 20))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "control":
            data[at:at] = draw(st.sampled_from([b"\x0b", b"\x1c", b"\x1c\r", b"\x00", b"\n", b"|", b"^"]))
        elif kind == "repeat":
            data[at:at] = bytes(data[at:at + 50]) * 300  # past the test listener's 8 KiB frame limit
    return bytes(data)


Part = tuple[str, str, bytes]  # ("good", charset, separator) or ("raw", "", bytes)


@st.composite
def streams(draw: st.DrawFn, adt: Any) -> tuple[list[Part], list[float]]:
    """Parts of a stream (well-formed frames are built by the test with fresh control ids, so that each example
    stores new rows) and where the stream is cut into writes (fractions of its length)."""
    parts: list[Part] = []
    for i in range(draw(st.integers(1, 6))):
        choice = draw(st.sampled_from(["good", "mutated", "stray"]))
        if choice == "good":
            charset = draw(st.sampled_from(["8859/1", "UNICODE UTF-8", ""]))
            parts.append(("good", charset, draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))))
        elif choice == "mutated":
            body = draw(mutated(adt(f"M{i}").encode("latin-1")))
            # a mutated frame may lose its end block: the next good frame's start block takes over
            parts.append(("raw", "", SB + body + draw(st.sampled_from([EB, b"\x1c", b""]))))
        else:
            parts.append(("raw", "", draw(st.binary(max_size=40).map(lambda b: b.replace(b"\x0b", b"")))))
    cuts = draw(st.lists(st.floats(0, 1), max_size=8))
    return parts, cuts


def build(parts: list[Part], cuts: list[float], adt: Any) -> tuple[list[bytes], list[str]]:
    pieces: list[bytes] = []
    good: list[str] = []
    for kind, charset, data in parts:
        if kind == "good":
            cid = f"G{next(_ids)}"
            good.append(cid)
            text = adt(cid, charset=charset, sep=data.decode())
            pieces.append(SB + text.encode("utf-8" if charset == "UNICODE UTF-8" else "latin-1") + EB)
        else:
            pieces.append(data)
    stream = b"".join(pieces)
    points = sorted({int(c * len(stream)) for c in cuts})
    return [stream[a:b] for a, b in itertools.pairwise([0, *points, len(stream)]) if b > a], good


def test_reader_and_header_never_raise_on_random_bytes() -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=200), max_size=10),
           st.lists(st.binary(max_size=60).map(lambda b: b"MSH" + b), max_size=5))
    def check(chunks: list[bytes], headers: list[bytes]) -> None:
        reader = FrameReader(max_frame_bytes=1024)
        for chunk in chunks:
            for event in reader.feed(chunk):
                if isinstance(event, Frame):
                    read_header(event.payload)
        for frame in headers:  # short or broken MSH segments (b"MSH\r" once killed a connection)
            read_header(frame)
            read_header(frame + b"\rPID|||1^^^X^PI\r", "UNICODE UTF-8")

    check()


def test_listener_survives_mutated_streams_and_acks_every_good_frame(sqlite_url: str, listener: Any,
                                                                      adt: Any) -> None:
    running = listener(sqlite_url, max_frame_bytes=8192)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(streams(adt))
    def check(case: tuple[list[Part], list[float]]) -> None:
        chunks, good = build(*case, adt)
        sentinel = f"END{next(_ids)}"
        with MllpClient("127.0.0.1", running.port, timeout=10).connect() as client:
            for chunk in chunks:
                client.send_raw(chunk)
            # whatever came before, a well-formed frame after a fresh start block is read and acknowledged
            client.send_raw(SB + adt(sentinel).encode("latin-1") + EB)
            seen: dict[str, str] = {}
            while sentinel not in seen:  # a hang shows as the client's 10 s timeout
                code, control, _ = ack_summary(client.read_ack())
                seen.setdefault(control, code)
        assert seen[sentinel] == "AA"
        assert {cid: seen.get(cid) for cid in good} == dict.fromkeys(good, "AA")

    check()
    with running.client() as client:  # and the listener is still there for the next sender
        assert ack_summary(client.send(adt("AFTER").encode("latin-1")))[:2] == ("AA", "AFTER")
