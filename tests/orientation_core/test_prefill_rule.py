"""The refresh rule on its own (orientation_core/dossier/provenance.py), as properties over any sequence of DPI
messages and user edits on one field: the user's value is never overwritten, an unedited field shows the DPI's
latest value, and the "DPI value differs" flag says exactly whether the kept value and the DPI's disagree."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orientation_core.dossier.provenance import Outcome, Provenance, mark_edited, refresh_field

VOLET, FIELD = "administratif_social", "telephone"
values = st.sampled_from(["0478000000", "0478999999", "0600000000", ""])
steps = st.lists(st.tuples(st.sampled_from(["dpi", "user"]), values), min_size=1, max_size=12)


def run(sequence: list[tuple[str, str]]) -> tuple[Any, Provenance, list[Outcome]]:
    current: Any = None
    provenance: Provenance = {}
    outcomes = []
    for n, (who, value) in enumerate(sequence):
        if who == "user":
            if current != value:  # the model marks only fields whose value changed
                current = value
                provenance = mark_edited(provenance, VOLET, {FIELD: value})
        else:
            provenance, change = refresh_field(provenance, VOLET, FIELD, current, value,
                                               {"source": "hl7v2", "message_id": f"M{n}"})
            outcomes.append(change.outcome)
            if change.outcome in (Outcome.REMPLI, Outcome.MIS_A_JOUR):
                current = change.after
    return current, provenance, outcomes


@given(steps)
def test_edited_values_are_never_overwritten(sequence: list[tuple[str, str]]) -> None:
    current, provenance, _ = run(sequence)
    user_values = [v for who, v in sequence if who == "user"]
    first_edit = next((i for i, (who, v) in enumerate(sequence) if who == "user"), None)
    entry = provenance.get(VOLET, {}).get(FIELD, {})
    if first_edit is not None and entry.get("modifie"):
        assert current == user_values[-1]


@given(steps)
def test_unedited_field_shows_the_latest_dpi_value(sequence: list[tuple[str, str]]) -> None:
    current, provenance, _ = run(sequence)
    entry = provenance.get(VOLET, {}).get(FIELD, {})
    dpi_values = [v for who, v in sequence if who == "dpi"]
    if not entry.get("modifie") and dpi_values:
        assert current == dpi_values[-1]


@given(steps)
def test_the_flag_says_whether_kept_and_dpi_values_differ(sequence: list[tuple[str, str]]) -> None:
    current, provenance, _ = run(sequence)
    entry = provenance.get(VOLET, {}).get(FIELD, {})
    if "valeur_dpi" in entry:
        assert entry["differe"] == (bool(entry["modifie"]) and current != entry["valeur_dpi"])
        assert entry["valeur_dpi"] == [v for who, v in sequence if who == "dpi"][-1]  # the DPI's value is kept


@given(steps)
def test_a_repeated_difference_is_reported_once(sequence: list[tuple[str, str]]) -> None:
    """Each ADT message repeats the patient's data: DIFFERE only when the DPI's value is new."""
    _, _, outcomes = run([*sequence, ("user", "0611223344"), ("dpi", "0478111111"), ("dpi", "0478111111")])
    assert outcomes[-2:] == [Outcome.DIFFERE, Outcome.CONSERVE]
