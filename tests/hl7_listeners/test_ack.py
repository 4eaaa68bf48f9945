"""The ACK table, field by field (the loopback tests check the same ACKs as a sender receives them)."""

from __future__ import annotations

from typing import Any

from hl7_listeners.ack import Reason, application_ack, build_ack
from hl7_listeners.client import ack_summary
from hl7_listeners.header import read_header
from orientation_core.inbox.model import Verdict


def segments(ack: bytes, codec: str = "latin-1") -> list[list[str]]:
    return [s.split("|") for s in ack.decode(codec).split("\r") if s]


def test_original_mode_codes_and_err_fields(adt: Any) -> None:
    header = read_header(adt("A1").encode("latin-1"))
    assert ack_summary(build_ack(header, Reason.STORED))[:2] == ("AA", "A1")
    _msh, msa, err = segments(build_ack(header, Reason.STORE_DOWN))
    assert msa == ["MSA", "AE", "A1"]
    assert err[2] == "" and err[3] == "207^Application internal error^HL70357" and err[4] == "E"
    assert err[8] == "Stockage momentanément indisponible, renvoyez le message / Message store unavailable, resend later"


def test_enhanced_mode_commit_codes(adt: Any) -> None:
    header = read_header(adt("E1", accept_ack="AL", app_ack="AL").encode("latin-1"))
    assert ack_summary(build_ack(header, Reason.STORED))[0] == "CA"
    assert ack_summary(build_ack(header, Reason.STORE_DOWN))[0] == "CE"
    verdict = Verdict(ok=False, rejected=True, code="101", location="PID^1^3", reason_fr="IPP absent", reason_en="No IPP")
    assert ack_summary(build_ack(header, Reason.PROCESSED, verdict=verdict))[0] == "CR"


def test_application_ack_follows_msh16(adt: Any) -> None:
    ok, refused = Verdict(ok=True), Verdict(ok=False, rejected=True, code="103", location="ZBE^1^4",
                                             reason_fr="Action inconnue", reason_en="Unknown action")
    always = adt("P1", accept_ack="AL", app_ack="AL").encode("latin-1")
    assert ack_summary(application_ack(always, ok))[:2] == ("AA", "P1")  # application codes, not CA
    _msh, msa, err = segments(application_ack(always, refused))
    assert msa[1] == "AR" and err[2] == "ZBE^1^4" and err[3].startswith("103^Table value not found")
    assert application_ack(adt("P2", accept_ack="AL", app_ack="NE").encode("latin-1"), ok) == b""
    errors_only = adt("P3", accept_ack="AL", app_ack="ER").encode("latin-1")
    assert application_ack(errors_only, ok) == b"" and ack_summary(application_ack(errors_only, refused))[0] == "AR"
    success_only = adt("P4", accept_ack="AL", app_ack="SU").encode("latin-1")
    assert application_ack(success_only, refused) == b"" and ack_summary(application_ack(success_only, ok))[0] == "AA"


def test_ack_is_encoded_in_the_message_charset_and_delimiters_are_cleaned(adt: Any) -> None:
    header = read_header(adt("U1", charset="UNICODE UTF-8").encode("utf-8"))
    verdict = Verdict(ok=False, reason_fr="Séjour | inconnu ^ ici", reason_en="Unknown stay")
    ack = build_ack(header, Reason.PROCESSED, verdict=verdict)
    msh, _msa, err = segments(ack, "utf-8")
    assert msh[17] == "UNICODE UTF-8" and err[8] == "Séjour   inconnu   ici / Unknown stay" and len(err) == 9


def test_positive_acks_of_several_feeds_each_carry_their_own_fields(adt: Any) -> None:
    # the positive ACK is assembled from bytes prepared once per feed: interleaved feeds must not mix them
    first = read_header(adt("F1", sender="DPI_A", facility="CHU_A").encode("latin-1"))
    second = read_header(adt("F2", sender="DPI_B", facility="Hôpital Nord", event="A02",
                             charset="UNICODE UTF-8").encode("utf-8"))
    enhanced = read_header(adt("F3", sender="DPI_A", facility="CHU_A", accept_ack="AL").encode("latin-1"))
    for _ in range(2):
        msh1, msa1 = segments(build_ack(first, Reason.STORED))
        msh2, msa2 = segments(build_ack(second, Reason.STORED), "utf-8")
        msh3, msa3 = segments(build_ack(enhanced, Reason.STORED))
        assert msh1[4:6] == ["DPI_A", "CHU_A"] and msh1[8] == "ACK^A01^ACK" and msa1 == ["MSA", "AA", "F1"]
        assert msh2[4:6] == ["DPI_B", "Hôpital Nord"] and msh2[8] == "ACK^A02^ACK" and msh2[17] == "UNICODE UTF-8"
        assert msa2 == ["MSA", "AA", "F2"] and len(msh1) == 18
        assert msh3[14:16] == ["NE", "NE"] and msa3 == ["MSA", "CA", "F3"]
    one, two = build_ack(first, Reason.STORED), build_ack(first, Reason.STORED)
    assert segments(one)[0][9] != segments(two)[0][9]  # each ACK its own MSH-10
