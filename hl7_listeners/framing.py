"""MLLP framing (HL7 v2 MLLP: ``0x0B`` message ``0x1C 0x0D``) tolerant of what real senders do.

``FrameReader.feed(data)`` takes the bytes of one read and returns the events they complete:

* ``Frame`` — the bytes between ``0x0B`` and ``0x1C``, exactly as received (several per read, or one over many
  reads; the scan resumes where it stopped, so a frame of several MB split in 64 KiB reads is scanned once);
* ``Oversize`` — a frame grew past ``max_frame_bytes``: reported at once with its first bytes (to read MSH-10
  for the NAK), the rest is skipped up to its end block, and the connection goes on;
* ``Stray`` — bytes outside any frame (NULs, CR/LF, keep-alive junk) or a frame abandoned by a new ``0x0B``.

``0x1C`` ends a frame; the ``0x0D`` that should follow is consumed when it comes, and tolerated when it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = 0x0B
END_BLOCK = 0x1C
CR = 0x0D
_SB = b"\x0b"
_EB = b"\x1c"
OVERSIZE_HEAD_BYTES = 64 * 1024  # enough for any MSH segment


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Oversize:
    head: bytes
    limit: int


@dataclass(frozen=True, slots=True)
class Stray:
    size: int
    only_filler: bool  # NULs / whitespace only: expected between frames of some senders, logged at debug level


Event = Frame | Oversize | Stray
_FILLER = frozenset(b"\x00\r\n\t ")


def frame(message: bytes) -> bytes:
    """Wrap one message in an MLLP block."""
    return _SB + message + b"\x1c\r"


class FrameReader:
    def __init__(self, max_frame_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._scan = 0  # bytes of the current frame already searched for the end block
        self._discarding = False  # inside an oversize frame: drop up to its end block
        self._after_end = False  # the previous byte was an end block: a CR here belongs to it

    @property
    def partial(self) -> int:
        """Bytes of an unfinished frame (what a half-closed or dropped connection loses)."""
        return len(self._buf) if self._in_frame else 0

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if not self._buf and not self._in_frame and not self._discarding:
            data = self._whole_frames(data, events)
            if not data:
                return events
        buf = self._buf
        buf += data
        while buf:
            if self._after_end:
                self._after_end = False
                if buf[0] == CR:
                    del buf[:1]
                    continue
            if not self._in_frame:
                start = buf.find(_SB)
                if start < 0:
                    events.append(Stray(len(buf), _FILLER.issuperset(buf)))
                    buf.clear()
                    break
                if start:
                    events.append(Stray(start, _FILLER.issuperset(buf[:start])))
                del buf[:start + 1]
                self._in_frame, self._scan = True, 0
                continue
            end = buf.find(_EB, self._scan)
            if self._discarding:  # up to the oversize frame's end block, or a new start block if it never ends
                restart = buf.find(_SB, 0, end if end >= 0 else len(buf))
                if restart >= 0:
                    del buf[:restart + 1]
                    self._discarding, self._scan = False, 0
                    continue
                if end < 0:
                    buf.clear()
                    break
                del buf[:end + 1]
                self._in_frame = self._discarding = False
                self._after_end = True
                continue
            restart = buf.find(_SB, self._scan, end if end >= 0 else len(buf))
            if restart >= 0:  # a new start block before the end: the sender gave up on the previous frame
                events.append(Stray(restart + 1, False))
                del buf[:restart + 1]
                self._scan = 0
                continue
            if end < 0:
                if len(buf) > self.max_frame_bytes:
                    events.append(Oversize(bytes(buf[:OVERSIZE_HEAD_BYTES]), self.max_frame_bytes))
                    buf.clear()
                    self._discarding = True
                else:
                    self._scan = len(buf)
                break
            if end > self.max_frame_bytes:
                events.append(Oversize(bytes(buf[:OVERSIZE_HEAD_BYTES]), self.max_frame_bytes))
            else:
                events.append(Frame(bytes(buf[:end])))
            del buf[:end + 1]
            self._in_frame = False
            self._after_end = True
        return events

    def _whole_frames(self, data: bytes, events: list[Event]) -> bytes:
        """Fast path of ``feed`` (nothing buffered, the read starts at a frame): the frames complete in ``data``
        are sliced out of it directly (one copy each, no bytearray appends and deletes); returns what is left for
        the general scan (a partial, oversize or abandoned frame, stray bytes)."""
        pos, size = 0, len(data)
        if self._after_end:
            if not size:
                return data
            self._after_end = False
            if data[0] == CR:
                pos = 1
        limit = self.max_frame_bytes
        while pos < size and data[pos] == START_BLOCK:
            end = data.find(_EB, pos + 1)
            if end < 0 or end - pos - 1 > limit or data.find(_SB, pos + 1, end) >= 0:
                break  # unfinished, too large or abandoned: the general scan handles it
            events.append(Frame(data[pos + 1:end]))
            pos = end + 1
            if pos == size:
                self._after_end = True  # the end block's CR may come with the next read
            elif data[pos] == CR:
                pos += 1
        return data[pos:] if pos else data
