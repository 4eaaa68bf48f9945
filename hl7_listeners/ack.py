"""The ACK table: every answer the listener gives, in one place.

Each ``Reason`` maps to an outcome letter (A accept, E error — resend later, R reject — do not resend as is),
an HL7 table 0357 error code (ERR-3), a severity (ERR-4), an ERR-2 location and a French / English text (ERR-8).
The acknowledgement code is ``A`` + letter in original mode (AA/AE/AR) and ``C`` + letter in enhanced mode
(CA/CE/CR, the commit ACK), enhanced mode being MSH-15 or MSH-16 valued. In enhanced mode MSH-15 says whether a
commit ACK is sent at all: AL always (also when MSH-15 is empty), NE never, ER only for E/R, SU only for A.

The ACK's MSH swaps sender and receiver (MSH-3/4 ← inbound MSH-5/6, MSH-5/6 ← inbound MSH-3/4), MSH-9 =
``ACK^<event>^ACK``, MSH-11 / MSH-12 / MSH-18 copied from the message, MSA-2 = inbound MSH-10.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import time
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from hl7_listeners.header import Header, Problem, read_header
from orientation_core.inbox.model import Verdict

PARIS = ZoneInfo("Europe/Paris")  # HL7 timestamps carry French local time, with their offset

# HL7 table 0357, the codes this listener uses (ERR-3 = code^text^HL70357)
HL7_0357 = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "207": "Application internal error",
}


class Reason(enum.Enum):
    STORED = "stored"
    STORE_DOWN = "store-down"
    NO_MSH = "no-msh"
    MISSING_CONTROL_ID = "missing-control-id"
    MISSING_MESSAGE_TYPE = "missing-message-type"
    UNKNOWN_CHARSET = "unknown-charset"
    UNDECODABLE = "undecodable"
    TOO_LARGE = "too-large"
    PROCESSED = "processed"  # "ACK after processing" mode: the pipeline's verdict decides
    PROCESSING_TIMEOUT = "processing-timeout"
    INTERNAL_ERROR = "internal-error"


@dataclass(frozen=True)
class Rule:
    outcome: str  # A, E or R
    code: str  # HL7 table 0357
    location: str  # ERR-2: segment^sequence^field
    fr: str
    en: str

    @property
    def severity(self) -> str:  # ERR-4 (HL7 table 0516)
        return "I" if self.outcome == "A" else "E"


RULES: dict[Reason, Rule] = {
    Reason.STORED: Rule("A", "0", "", "", ""),
    Reason.PROCESSED: Rule("A", "0", "", "", ""),
    Reason.STORE_DOWN: Rule("E", "207", "", "Stockage momentanément indisponible, renvoyez le message",
                            "Message store unavailable, resend later"),
    Reason.PROCESSING_TIMEOUT: Rule("E", "207", "", "Traitement non terminé à temps, renvoyez le message",
                                    "Processing did not finish in time, resend later"),
    Reason.INTERNAL_ERROR: Rule("E", "207", "", "Erreur interne du récepteur, renvoyez le message",
                                "Receiver internal error, resend later"),
    Reason.NO_MSH: Rule("R", "100", "MSH^1", "Le message ne commence pas par un segment MSH lisible",
                        "The message does not start with a readable MSH segment"),
    Reason.MISSING_CONTROL_ID: Rule("R", "101", "MSH^1^10", "Identifiant du message (MSH-10) absent",
                                    "Message control ID (MSH-10) missing"),
    Reason.MISSING_MESSAGE_TYPE: Rule("R", "101", "MSH^1^9", "Type de message (MSH-9) absent",
                                      "Message type (MSH-9) missing"),
    Reason.UNKNOWN_CHARSET: Rule("R", "103", "MSH^1^18", "Jeu de caractères (MSH-18) non pris en charge",
                                 "Unsupported character set (MSH-18)"),
    Reason.UNDECODABLE: Rule("R", "102", "MSH^1^18",
                             "Octets invalides pour le jeu de caractères déclaré (MSH-18)",
                             "Bytes invalid in the declared character set (MSH-18)"),
    Reason.TOO_LARGE: Rule("R", "207", "", "Message trop volumineux pour ce récepteur",
                           "Message larger than this receiver accepts"),
}

PROBLEM_REASONS: dict[Problem, Reason] = {
    Problem.NO_MSH: Reason.NO_MSH,
    Problem.MISSING_CONTROL_ID: Reason.MISSING_CONTROL_ID,
    Problem.MISSING_MESSAGE_TYPE: Reason.MISSING_MESSAGE_TYPE,
    Problem.UNKNOWN_CHARSET: Reason.UNKNOWN_CHARSET,
    Problem.UNDECODABLE: Reason.UNDECODABLE,
}


def ack_code(header: Header, outcome: str) -> str:
    return ("C" if header.enhanced else "A") + outcome


def ack_wanted(header: Header, outcome: str) -> bool:
    """MSH-15 (enhanced mode only): AL/empty always, NE never, ER on error or reject, SU on success."""
    if not header.enhanced:
        return True
    mode = header.accept_ack_type
    if mode == "NE":
        return False
    if mode == "ER":
        return outcome != "A"
    if mode == "SU":
        return outcome == "A"
    return True


class _Ids:
    """ACK control ids (the ACK's own MSH-10): milliseconds of the epoch + a 3-digit counter, ≤ 20 characters."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{time.time_ns() // 1_000_000}{next(self._counter) % 1000:03d}"


_ids = _Ids()
_stamp_cache: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """MSH-7 of the ACK: Europe/Paris local time with its offset (cached for the current second)."""
    global _stamp_cache
    now = int(time.time())
    if _stamp_cache[0] != now:
        local = dt.datetime.fromtimestamp(now, tz=dt.UTC).astimezone(PARIS)
        _stamp_cache = (now, local.strftime("%Y%m%d%H%M%S%z"))
    return _stamp_cache[1]


def _clean(text: str, header: Header) -> str:
    """ERR-8 text: the message's delimiters cannot appear in a field value (they would split it)."""
    for char in header.field_sep + header.encoding_chars:
        text = text.replace(char, " ")
    return text


_MSH_CACHE: dict[tuple[str, ...], tuple[str, str]] = {}


def _msh_parts(header: Header, own_app: str, own_facility: str) -> tuple[str, str]:
    """The ACK's MSH around MSH-7..10: what depends only on the feed (senders, version, charset), built once per
    feed: MSH-3/4 ← MSH-5/6 (or our own name), MSH-5/6 ← MSH-3/4, MSH-11/12 copied, MSH-15/16 NE in enhanced
    mode (an ACK is not acknowledged), MSH-18 copied."""
    key = (header.field_sep, header.encoding_chars, header.receiving_app or own_app,
           header.receiving_facility or own_facility, header.sending_app, header.sending_facility,
           header.processing_id or "P", header.version or "2.5", "NE" if header.enhanced else "", header.charset)
    parts = _MSH_CACHE.get(key)
    if parts is None:
        fs, enc, app, facility, to_app, to_facility, processing, version, never, charset = key
        head = fs.join(["MSH", enc, app, facility, to_app, to_facility, ""])
        tail = fs + fs.join([processing, version])
        if never or charset:
            tail += fs + fs.join(["", "", never, never, "", charset])
        parts = (head, tail)
        if len(_MSH_CACHE) > 4096:  # many distinct feeds or hostile input: keep the cache bounded
            _MSH_CACHE.clear()
        _MSH_CACHE[key] = parts
    return parts


_ACK_A_CACHE: dict[tuple[str, ...], tuple[bytes, bytes, bytes, str]] = {}


def _accept_parts(header: Header, code: str, own_app: str, own_facility: str) -> tuple[bytes, bytes, bytes, str]:
    """The positive ACK (no ERR) as encoded bytes around its three per-message values (MSH-7, MSH-10, MSA-2),
    built once per feed, event and code: the hot path then joins eight bytes objects instead of formatting and
    encoding the whole ACK for every message."""
    key = (header.field_sep, header.encoding_chars, header.receiving_app, header.receiving_facility,
           header.sending_app, header.sending_facility, header.processing_id, header.version, header.charset,
           header.codec, header.trigger_event, code, own_app, own_facility)
    parts = _ACK_A_CACHE.get(key)
    if parts is None:
        fs, comp, codec = header.field_sep, header.component_sep, header.codec
        head, tail = _msh_parts(header, own_app, own_facility)
        parts = (head.encode(codec, errors="replace"),
                 f"{fs}{fs}ACK{comp}{header.trigger_event}{comp}ACK{fs}".encode(codec, errors="replace"),
                 f"{tail}\rMSA{fs}{code}{fs}".encode(codec, errors="replace"), codec)
        if len(_ACK_A_CACHE) > 4096:  # many distinct feeds or hostile input: keep the cache bounded
            _ACK_A_CACHE.clear()
        _ACK_A_CACHE[key] = parts
    return parts


_stamp_bytes: tuple[str, bytes] = ("", b"")


def build_ack(header: Header, reason: Reason, *, verdict: Verdict | None = None, own_app: str = "AIGUILLAGE",
              own_facility: str = "", detail: str = "") -> bytes:
    """The ACK message for ``header`` (bytes in the message's charset, no MLLP block), or ``b""`` when MSH-15
    says none is to be sent."""
    global _stamp_bytes
    rule = RULES[reason]
    outcome, code, location = rule.outcome, rule.code, rule.location
    fr, en = rule.fr, rule.en
    if verdict is not None and not verdict.ok:
        outcome = "R" if verdict.rejected else "E"
        code, location = verdict.code or "207", verdict.location
        fr, en = verdict.reason_fr or "Message refusé", verdict.reason_en or "Message refused"
    if not ack_wanted(header, outcome):
        return b""
    if outcome == "A":  # the hot path: every stored message
        head, event, tail, codec = _accept_parts(header, ack_code(header, "A"), own_app, own_facility)
        stamp = _timestamp()
        if _stamp_bytes[0] != stamp:
            _stamp_bytes = (stamp, stamp.encode("ascii"))
        return b"".join((head, _stamp_bytes[1], event, _ids.next().encode("ascii"), tail,
                         header.control_id.encode(codec, errors="replace"), b"\r"))
    fs = header.field_sep
    comp = header.component_sep
    msh_head, msh_tail = _msh_parts(header, own_app, own_facility)
    segments = [f"{msh_head}{_timestamp()}{fs}{fs}ACK{comp}{header.trigger_event}{comp}ACK{fs}{_ids.next()}"
                f"{msh_tail}",
                f"MSA{fs}{ack_code(header, outcome)}{fs}{header.control_id}"]
    text = f"{fr} / {en}" + (f" ({detail})" if detail else "")
    segments.append(fs.join(["ERR", "", location, f"{code}{comp}{HL7_0357.get(code, '')}{comp}HL70357",
                             rule.severity if verdict is None else "E", "", "", "", _clean(text, header)]))
    return ("\r".join(segments) + "\r").encode(header.codec, errors="replace")


def application_ack(raw: bytes, verdict: Verdict, *, default_charset: str = "8859/1",
                    own_app: str = "AIGUILLAGE", own_facility: str = "") -> bytes:
    """The application ACK of a stored message in enhanced mode (sent later, when the sender asked for it in
    MSH-16): AA/AE/AR — not the commit codes — or ``b""`` when MSH-16 (AL, NE, ER, SU) says none is wanted.
    In original mode it is the ordinary ACK with the verdict."""
    header = read_header(raw, default_charset)
    outcome = "A" if verdict.ok else ("R" if verdict.rejected else "E")
    wanted = {"NE": False, "ER": outcome != "A", "SU": outcome == "A"}.get(header.app_ack_type, True)
    if not wanted:
        return b""
    original = replace(header, accept_ack_type="", app_ack_type="")  # AA/AE/AR, sent whatever MSH-15 said
    return build_ack(original, Reason.PROCESSED, verdict=verdict, own_app=own_app, own_facility=own_facility)
