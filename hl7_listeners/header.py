"""MSH-only header read: what the listener needs before the ACK, without parsing the message.

The field separator is MSH's fourth byte (MSH-1), the encoding characters MSH-2. Read: MSH-3/4 (sender, part of
the dedup key), MSH-5/6 (swapped into the ACK), MSH-7, MSH-9 (type^event^structure), MSH-10 (control id, dedup
key, MSA-2), MSH-11, MSH-12, MSH-15/16 (enhanced mode), MSH-18 (charset). The whole message is decoded once per
MSH-18 (strictly: undecodable bytes → AR), and PID-3 is scanned for the IPP (``PI``) as ``value^assigner``, the
pipeline's per-patient ordering key. Segments ended by ``\\n`` or ``\\r\\n`` are accepted and flagged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from orientation_core.inbox.model import InboxFlag

# MSH-18 (HL7 table 0211) → Python codec. PAM FR: 8859/15 or UNICODE UTF-8 per spec, 8859/1 in real feeds.
CHARSETS: dict[str, str] = {
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "ASCII": "ascii",
}


class Problem(enum.Enum):
    """Why a frame cannot be stored; each has its row in ``ack.RULES``."""

    NO_MSH = "no-msh"
    MISSING_CONTROL_ID = "missing-control-id"
    MISSING_MESSAGE_TYPE = "missing-message-type"
    UNKNOWN_CHARSET = "unknown-charset"
    UNDECODABLE = "undecodable"


@dataclass(slots=True)
class Header:
    field_sep: str = "|"
    encoding_chars: str = "^~\\&"
    sending_app: str = ""  # MSH-3
    sending_facility: str = ""  # MSH-4
    receiving_app: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    message_datetime: str = ""  # MSH-7
    message_type: str = ""  # MSH-9.1
    trigger_event: str = ""  # MSH-9.2
    message_structure: str = ""  # MSH-9.3
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11
    version: str = ""  # MSH-12 (whole field: 2.5^FRA^2.11)
    accept_ack_type: str = ""  # MSH-15
    app_ack_type: str = ""  # MSH-16
    charset: str = ""  # MSH-18 as received (first repetition)
    charset_used: str = ""  # MSH-18, or the configured default when MSH-18 is empty
    codec: str = "latin-1"
    patient_key: str | None = None
    flags: list[str] = field(default_factory=list)
    problem: Problem | None = None
    problem_detail: str = ""

    @property
    def enhanced(self) -> bool:
        """Enhanced acknowledgement mode when MSH-15 or MSH-16 is valued (else original mode)."""
        return bool(self.accept_ack_type or self.app_ack_type)

    @property
    def component_sep(self) -> str:
        return self.encoding_chars[:1] or "^"


_SINGLE_BYTE = frozenset({"latin-1", "iso8859-15"})  # every byte decodes: no need to validate the whole message
_LEADING = b"\r\n\x00 \t"


def read_header(frame: bytes, default_charset: str = "8859/1") -> Header:
    """Hot path (every frame, before the ACK): byte-level finds and one split of MSH; the body is decoded only
    when the charset can fail (UTF-8, ASCII) and PID-3 is read from the PID segment alone."""
    header = Header()
    start = 0
    if frame[:1] in (b"\r", b"\n", b"\x00", b" ", b"\t"):  # blank lines some senders put first
        start = len(frame) - len(frame.lstrip(_LEADING))
    if frame[start:start + 3] != b"MSH" or len(frame) < start + 8:
        header.problem = Problem.NO_MSH
        return header
    cr = frame.find(b"\r", start)
    lf = frame.find(b"\n", start)
    if lf >= 0:
        header.flags.append(InboxFlag.LF_SEGMENTS.value)
        seg_end = lf if cr < 0 or lf < cr else cr
    else:
        seg_end = cr if cr >= 0 else len(frame)
    # MSH is ASCII in practice; read it as latin-1 (never fails) to learn the charset, then decode per MSH-18.
    msh = frame[start:seg_end].decode("latin-1")
    if len(msh) < 8:  # not even MSH|^~\& before the first segment end
        header.problem = Problem.NO_MSH
        return header
    sep = msh[3]
    fields = msh.split(sep)
    if len(fields) < 18:
        fields += [""] * (18 - len(fields))
    header.field_sep = sep
    encoding_chars = fields[1] or "^~\\&"
    header.encoding_chars = encoding_chars
    comp = encoding_chars[0]
    rep = encoding_chars[1:2] or "~"
    charset = fields[17].split(rep)[0].strip()
    header.charset = charset
    if not charset:
        charset = default_charset
        header.flags.append(InboxFlag.DEFAULT_CHARSET.value)
    header.charset_used = charset
    codec = CHARSETS.get(charset.upper())
    decodable = True
    if codec is None:
        header.codec = CHARSETS.get(default_charset.upper(), "latin-1")
        header.problem, header.problem_detail = Problem.UNKNOWN_CHARSET, charset
        decodable = False
    else:
        header.codec = codec
        if codec not in _SINGLE_BYTE:
            try:
                frame.decode(codec)
            except UnicodeDecodeError as exc:
                header.problem, header.problem_detail = Problem.UNDECODABLE, f"{charset} @{exc.start}"
                decodable = False
        if decodable and codec != "latin-1" and not frame[start:seg_end].isascii():
            # re-read MSH in the declared charset (MSH-3/4 may be accented)
            fields = frame[start:seg_end].decode(codec).split(sep)
            if len(fields) < 18:
                fields += [""] * (18 - len(fields))
    # fields[n - 1] is MSH-n: MSH-1 is the separator itself
    header.sending_app = fields[2]
    header.sending_facility = fields[3]
    header.receiving_app = fields[4]
    header.receiving_facility = fields[5]
    header.message_datetime = fields[6]
    msg_type = fields[8].split(comp)
    header.message_type = msg_type[0]
    header.trigger_event = msg_type[1] if len(msg_type) > 1 else ""
    header.message_structure = msg_type[2] if len(msg_type) > 2 else ""
    header.control_id = fields[9]
    header.processing_id = fields[10]
    header.version = fields[11]
    header.accept_ack_type = fields[14].strip().upper()
    header.app_ack_type = fields[15].strip().upper()
    if header.problem is not None:
        return header
    if not header.control_id.strip():
        header.problem = Problem.MISSING_CONTROL_ID
    elif not header.message_type.strip():
        header.problem = Problem.MISSING_MESSAGE_TYPE
    elif decodable:
        header.patient_key = _pid_key(frame, sep, header)
    return header


def _pid_key(frame: bytes, sep: str, header: Header) -> str | None:
    marker = sep.encode("latin-1")
    at = frame.find(b"\rPID" + marker)
    if at < 0:
        at = frame.find(b"\nPID" + marker)
        if at < 0:
            return None
    end = frame.find(b"\r", at + 1)
    lf = frame.find(b"\n", at + 1)
    if end < 0 or 0 <= lf < end:
        end = lf if lf >= 0 else len(frame)
    fields = frame[at + 1:end].split(marker, 4)  # PID, PID-1, PID-2, PID-3, the rest: only PID-3 is decoded
    if len(fields) < 4 or not fields[3]:
        return None
    return ipp_key(fields[3].decode(header.codec), header.component_sep, header.encoding_chars)


def ipp_key(pid3: str, comp: str, encoding_chars: str) -> str | None:
    """PID-3's IPP (CX-5 = ``PI``) as ``CX-1^CX-4.1`` (assigning authority namespace, else its OID), or the first
    identifier of PID-3 when none is typed PI."""
    rep = encoding_chars[1:2] or "~"
    sub = encoding_chars[3:4] or "&"
    chosen: list[str] | None = None
    for cx in pid3.split(rep):
        parts = cx.split(comp)
        if not parts[0]:
            continue
        if len(parts) > 4 and parts[4] == "PI":
            chosen = parts
            break
        if chosen is None:
            chosen = parts
    if chosen is None:
        return None
    authority = chosen[3].split(sub) if len(chosen) > 3 else [""]
    assigner = authority[0] or (authority[1] if len(authority) > 1 else "")
    return f"{chosen[0]}^{assigner}"
