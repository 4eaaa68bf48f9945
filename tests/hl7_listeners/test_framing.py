"""Framing edge cases, byte for byte (the loopback tests cover the same cases end to end)."""

from __future__ import annotations

from hl7_listeners.framing import Frame, FrameReader, Oversize, Stray

SB, EB = b"\x0b", b"\x1c\r"


def frames(events: list[object]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Frame)]


def test_frame_split_byte_by_byte_and_merged() -> None:
    reader = FrameReader()
    stream = SB + b"MSH|1" + EB + SB + b"MSH|2" + EB
    events: list[object] = []
    for i in range(len(stream)):
        events += reader.feed(stream[i:i + 1])
    assert frames(events) == [b"MSH|1", b"MSH|2"]
    assert frames(reader.feed(stream * 3)) == [b"MSH|1", b"MSH|2"] * 3
    assert reader.partial == 0


def test_stray_bytes_are_reported_and_filler_told_apart() -> None:
    events = FrameReader().feed(b"\x00\x00\r\n" + SB + b"MSH|1" + EB + b"junk" + SB + b"MSH|2" + EB)
    assert frames(events) == [b"MSH|1", b"MSH|2"]
    assert [(e.size, e.only_filler) for e in events if isinstance(e, Stray)] == [(4, True), (4, False)]


def test_end_block_without_cr_and_abandoned_frame() -> None:
    events = FrameReader().feed(SB + b"MSH|1\x1c" + SB + b"MSH|half" + SB + b"MSH|2" + EB)
    assert frames(events) == [b"MSH|1", b"MSH|2"]


def test_oversize_frame_is_skipped_up_to_its_end_or_to_the_next_start_block() -> None:
    reader = FrameReader(max_frame_bytes=100)
    events = reader.feed(SB + b"MSH|big" + b"x" * 200)
    assert isinstance(events[0], Oversize) and events[0].head.startswith(b"MSH|big")
    assert frames(reader.feed(b"y" * 500 + EB + SB + b"MSH|ok" + EB)) == [b"MSH|ok"]
    # an oversize frame that never ends: the next start block begins a new frame
    events = reader.feed(SB + b"z" * 300)
    assert isinstance(events[0], Oversize)
    assert frames(reader.feed(b"z" * 50 + SB + b"MSH|next" + EB)) == [b"MSH|next"]
