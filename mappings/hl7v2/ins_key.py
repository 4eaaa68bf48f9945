"""The INS / NIR control key (DOMAIN.md §7): key = 97 - (N mod 97), Corsica's 2A → 19 and 2B → 18.

A tiny copy on purpose: ``mappings`` may not import ``ins`` (dependency rule); ``ins`` owns the full value objects.
"""

from __future__ import annotations

import re

_MATRICULE = re.compile(r"^[12378][0-9]{2}[0-9]{2}(?:[0-9]{2}|2A|2B)[0-9]{6}$")


def ins_key(matricule: str) -> int | None:
    """The key of a 13-character matricule, or None when it is not one."""
    value = matricule.strip().upper()
    if not _MATRICULE.match(value):
        return None
    numeric = int(value.replace("2A", "19").replace("2B", "18"))
    return 97 - numeric % 97


def ins_key_valid(value: str) -> bool:
    """True when ``value`` is 15 characters (matricule + 2-digit key) and the key computes."""
    value = value.strip().upper()
    if len(value) != 15 or not (value[13:].isascii() and value[13:].isdigit()):  # "²" is a digit to str
        return False
    expected = ins_key(value[:13])
    return expected is not None and expected == int(value[13:])
