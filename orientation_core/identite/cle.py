"""The INS control key (DOMAIN.md §7), once for the whole project: key = 97 - (N mod 97), where N is the
13-character matricule read as a number after Corsica's department codes are substituted (``2A`` → 19,
``2B`` → 18). ``ins`` (value objects, INSi answers) and ``mappings`` (HL7 and FHIR intake) both use it, so an
INS is trusted or not by the same rule whatever door it came in by. (``fhir_profiles`` is a leaf and keeps its
own copy; a test holds the two to the same answers.)
"""

from __future__ import annotations

import re

# sex (1, 2 — 3, 4 temporary — 7, 8 NIA), year (2), month (2: 01–12, 20–42 or 50–99 when unknown), department
# (2 digits, or 2A / 2B for Corsica), commune or country (3), order number (3).
MATRICULE = re.compile(r"^[1-478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{6}$")


def ins_key(matricule: str) -> int | None:
    """The key of a 13-character matricule, or None when the text is not a matricule."""
    value = matricule.strip().upper()
    if not MATRICULE.match(value):
        return None
    dept = value[5:7]
    numeric = int(value[:5] + {"2A": "19", "2B": "18"}.get(dept, dept) + value[7:])
    return 97 - numeric % 97


def ins_key_valid(value: str) -> bool:
    """True when ``value`` is an INS of 15 characters (matricule + 2-digit key) whose key computes."""
    value = value.strip().upper()
    key = value[13:]
    if len(value) != 15 or not (key.isascii() and key.isdigit()):  # "²" is a digit to str.isdigit
        return False
    expected = ins_key(value[:13])
    return expected is not None and expected == int(key)
