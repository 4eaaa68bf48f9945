"""Framing edge cases, byte for byte (the loopback tests cover the same cases end to end)."""

from __future__ import annotations

from collections.abc import Sequence

from hl7_listeners.framing import Frame, FrameReader, Oversize, Stray

SB, EB = b"\x0b", b"\x1c\r"


def frames(events: Sequence[object]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Frame)]


def test_frame_split_byte_by_byte_and_merged() -> None:
    reader = FrameReader()
    stream = SB + b"MSH|1" + EB + SB + b"MSH|2" + EB
    events: list[Frame | Oversize | Stray] = []
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


def test_any_split_of_a_stream_gives_the_events_of_one_read() -> None:
    # whole frames, a frame whose end block's CR comes alone, NULs, an abandoned frame, an end block without CR,
    # a frame split anywhere: the fast path (frames sliced out of the read) and the buffered scan must agree
    stream = (SB + b"MSH|1" + EB + SB + b"MSH|2" + b"\x1c" + b"\r" + b"\x00\x00" + SB + b"MSH|lost" + SB
              + b"MSH|3\x1c" + SB + b"MSH|4" + EB + b"\r\n" + SB + b"MSH|5" + EB)
    def seen(events: Sequence[object]) -> tuple[list[bytes], int]:  # stray bytes split over reads come in pieces
        return frames(events), sum(e.size for e in events if isinstance(e, Stray))

    expected = seen(FrameReader().feed(stream))
    assert expected == ([b"MSH|1", b"MSH|2", b"MSH|3", b"MSH|4", b"MSH|5"], 2 + len(b"MSH|lost") + 1 + 2)
    for cut in range(1, len(stream)):
        for second_cut in (cut, min(cut + 7, len(stream))):
            reader = FrameReader()
            events = reader.feed(stream[:cut]) + reader.feed(stream[cut:second_cut]) + reader.feed(stream[second_cut:])
            assert seen(events) == expected, (cut, second_cut)
            assert reader.partial == 0


def test_frames_of_one_read_then_a_frame_completed_by_the_next() -> None:
    reader = FrameReader(max_frame_bytes=50)
    events = reader.feed(SB + b"MSH|1" + EB + SB + b"MSH|2" + EB + SB + b"MSH|3 begins")
    assert frames(events) == [b"MSH|1", b"MSH|2"] and reader.partial == len(b"MSH|3 begins")
    assert frames(reader.feed(b" and ends" + EB + SB + b"MSH|4" + EB)) == [b"MSH|3 begins and ends", b"MSH|4"]
    events = reader.feed(SB + b"MSH|big" + b"x" * 60 + EB + SB + b"MSH|5" + EB)  # oversize inside one read
    assert isinstance(events[0], Oversize) and frames(events) == [b"MSH|5"]
