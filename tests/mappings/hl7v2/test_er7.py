"""The tokenizer, the typed wrapper, charset decoding and the INS key helper."""

from __future__ import annotations

import datetime as dt

import pytest

from mappings.hl7v2 import Hl7ParseError, decode, ins_key, ins_key_valid, map_message, parse
from mappings.hl7v2.segments import parse_dtm

MSG = ("MSH|^~\\&|APP|FAC^690001011^M|R|R|20260315083000||ADT^A01^ADT_A01|C1|P|2.5^FRA^2.11|||AL|NE|FRA|8859/1\r"
       "PID|1||1^^^H&690001011&M^PI~2^^^H&690001011&M^AN||A\\S\\B\\T\\C\\R\\D\\F\\E\\E\\F^X\r"
       "ZZZ|x\\X41C3A9\\y|a\\.br\\b|un\\known\\esc|lone\\\r")


def test_msh_fields_are_numbered_as_in_the_standard() -> None:
    msg = parse(MSG)
    assert msg.msh.field(1).value == "|"
    assert msg.msh.field(2).value == "^~\\&"
    assert msg.control_id == "C1" and msg.event == "A01" and msg.version == "2.5"
    assert msg.msh.value(15) == "AL" and msg.msh.value(16) == "NE"
    assert msg.sender == "APP^FAC"


def test_repetitions_components_and_subcomponents_are_one_based() -> None:
    pid = parse(MSG).segment("PID")
    assert pid is not None
    reps = pid.field(3).reps
    assert [r.component(1) for r in reps] == ["1", "2"]
    assert reps[1].component(5) == "AN"
    assert reps[0].sub(4, 2) == "690001011"
    assert pid.field(99).value == "" and pid.field(3).reps[0].component(42) == ""


def test_escape_sequences_are_decoded_after_splitting() -> None:
    msg = parse(MSG)
    pid, zzz = msg.segment("PID"), msg.segment("ZZZ")
    assert pid is not None and zzz is not None
    assert pid.field(5).first.component(1) == "A^B&C~D|E\\F"
    assert pid.field(5).first.component(2) == "X"
    assert zzz.value(1) == "xAéy"  # \X..\ hex bytes, UTF-8 when they decode as such
    assert zzz.value(2) == "a\nb"
    assert zzz.value(3) == "un\\known\\esc"  # an unknown escape is kept as sent
    assert zzz.value(4) == "lone\\"


def test_lf_and_crlf_segment_separators_are_accepted() -> None:
    for sep in ("\n", "\r\n"):
        msg = parse(MSG.replace("\r", sep))
        assert [s.name for s in msg.all_segments] == ["MSH", "PID", "ZZZ"]


def test_charset_follows_msh18() -> None:
    latin = MSG.replace("^X\r", "^Élodie\r").encode("latin-1")
    assert "Élodie" in decode(latin)
    utf8 = MSG.replace("8859/1", "UNICODE UTF-8").replace("^X\r", "^Élodie\r").encode("utf-8")
    assert "Élodie" in decode(utf8)
    bad = MSG.replace("8859/1", "UNICODE UTF-8").encode("ascii") + b"\xff\xfe"
    with pytest.raises(Hl7ParseError) as err:
        decode(bad)
    assert err.value.location == "MSH-18"
    empty = MSG.replace("|8859/1", "|").replace("^X\r", "^é\r").encode("latin-1")
    assert "é" in decode(empty, default_charset="8859/1")


def test_not_a_message_is_a_parse_error_not_a_crash() -> None:
    for raw in (b"", b"PID|1", b"MSH", b"MSHabc"):
        mapped = map_message(raw)
        assert not mapped.ok and mapped.message is None


def test_ins_key_of_the_public_personae() -> None:
    assert ins_key("2751263220749") == 74
    assert ins_key("2360663220836") == 56
    assert ins_key("1090763220834") == 89
    assert ins_key_valid("275126322074974") and not ins_key_valid("275126322074975")
    assert not ins_key_valid("27512632207497") and ins_key("X") is None
    # Corsica: 2A → 19, 2B → 18 before the modulo
    assert ins_key("185052A123456") == 97 - int("1850519123456") % 97
    assert ins_key("185052B123456") == 97 - int("1850518123456") % 97


def test_hl7_times_without_offset_are_paris_time() -> None:
    winter = parse_dtm("20260115083000")
    assert winter is not None and winter.utcoffset() == dt.timedelta(hours=1)
    summer = parse_dtm("20260715083000")
    assert summer is not None and summer.utcoffset() == dt.timedelta(hours=2)
    explicit = parse_dtm("20260715083000+0000")
    assert explicit is not None and explicit.utcoffset() == dt.timedelta(0)
    assert parse_dtm("2026") == dt.datetime(2026, 1, 1, tzinfo=winter.tzinfo)
    assert parse_dtm("garbage") is None and parse_dtm("20261341") is None


def test_an_ins_key_made_of_non_ascii_digits_is_invalid_not_a_crash() -> None:
    assert not ins_key_valid("2751263220749²4")  # "²".isdigit() is True, int("²") raises
