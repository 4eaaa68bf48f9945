"""MSH-only header read and the cheap PID-3 scan, byte for byte."""

from __future__ import annotations

from hl7_listeners.header import Problem, read_header

MSH = b"MSH|^~\\&|DPI|CHU|AIG|AIG|20261123||ADT^A31^ADT_A05|C1|P|2.5^FRA^2.11|||AL|NE||8859/15\r"


def test_fields_read_from_msh() -> None:
    header = read_header(MSH + b"PID|||42^^^HOP&1.2.3&ISO^PI\r")
    assert (header.sending_app, header.sending_facility, header.receiving_app, header.receiving_facility) == (
        "DPI", "CHU", "AIG", "AIG")
    assert (header.message_type, header.trigger_event, header.message_structure) == ("ADT", "A31", "ADT_A05")
    assert (header.control_id, header.processing_id, header.version) == ("C1", "P", "2.5^FRA^2.11")
    assert (header.accept_ack_type, header.app_ack_type, header.enhanced) == ("AL", "NE", True)
    assert (header.charset, header.codec, header.problem) == ("8859/15", "iso8859-15", None)


def test_patient_key_prefers_the_ipp_then_the_first_identifier() -> None:
    pid = b"PID|||1751263220749^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS~42^^^HOP&1.2.3&ISO^PI\r"
    assert read_header(MSH + pid).patient_key == "42^HOP"
    assert read_header(MSH + b"PID|||77^^^&1.2.3.4&ISO^PI\r").patient_key == "77^1.2.3.4"  # no namespace: OID
    assert read_header(MSH + b"PID|||99^^^X^NH\r").patient_key == "99^X"
    assert read_header(MSH + b"EVN||20261123\r").patient_key is None
    assert read_header(MSH + b"PID|1||\r").patient_key is None


def test_other_delimiters_and_accented_sender_in_utf8() -> None:
    header = read_header("MSH#*~\\&#DPI é#CHU#####ADT*A01#C2#P#2.5######UNICODE UTF-8\rPID###5*** HOP*PI\r"
                         .encode())
    assert header.field_sep == "#" and header.sending_app == "DPI é" and header.control_id == "C2"
    assert header.charset == "UNICODE UTF-8" and header.patient_key == "5^ HOP"


def test_unreadable_msh_is_a_problem_not_an_exception() -> None:
    for frame in (b"", b"MSH", b"MSH\r", b"MSH|^~\r", b"PID|1\r", b"\r\nEVN|\r"):
        assert read_header(frame).problem is Problem.NO_MSH
    assert read_header(b"\r\n" + MSH).control_id == "C1"  # blank lines before MSH are tolerated
