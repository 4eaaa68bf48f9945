"""INS value objects (keys, Corsica, NIA) and the RNIV status machine, every allowed and forbidden transition."""

from __future__ import annotations

import datetime as dt

import pytest

from ins.errors import InvalidMatricule
from ins.exposure import ins_for_export, without_ins
from ins.matricule import Ins, Matricule, Oid, check_key, compute_key
from ins.rniv import TRANSITIONS, Evenement, insi_autorise, transition
from orientation_core.identite.errors import TransitionIdentiteInterdite
from orientation_core.identite.model import InsRef
from orientation_core.patients.model import Identifiant, Patient, Sexe, StatutIdentite, TypeIdentifiantPatient

S = StatutIdentite
E = Evenement


@pytest.mark.parametrize(("matricule", "cle"), [
    ("2751263220749", "74"),  # ADRUN ZOE (DOMAIN.md §7)
    ("2360663220836", "56"),  # TCHITCHI CATARINA
    ("1090763220834", "89"),  # ECETINSI PIERRE-ALAIN
])
def test_key_of_public_personae(matricule: str, cle: str) -> None:
    assert compute_key(matricule) == cle
    assert check_key(matricule, cle)


def test_corsican_department_is_substituted_before_the_modulo() -> None:
    # 2A → 19, 2B → 18
    assert compute_key("162052A004018") == f"{97 - 1620519004018 % 97:02d}"
    assert compute_key("162052B004018") == f"{97 - 1620518004018 % 97:02d}"
    assert compute_key("162052A004018") != compute_key("162052B004018")
    assert Matricule.parse("162052A004018" + compute_key("162052A004018")).corse


def test_locally_typed_wrong_key_is_rejected_inbound_is_kept_but_flagged() -> None:
    with pytest.raises(InvalidMatricule):
        Matricule.parse("275126322074975")
    inbound = Matricule.parse("2 75 12 63 220 749 75", strict=False)
    assert not inbound.cle_valide
    assert Matricule.parse("275126322074974").cle_valide


@pytest.mark.parametrize("bad", ["27512632207", "A751263220749", "275126322074", "2751263220749999"])
def test_malformed_matricules_are_refused(bad: str) -> None:
    with pytest.raises(InvalidMatricule):
        Matricule.parse(bad + "00" if len(bad) == 13 else bad)


def test_nia_oid_and_identifier_type() -> None:
    ref = InsRef("8880499330012", compute_key("8880499330012"), Oid.INS_NIA.value)
    ins = Ins.from_ref(ref, strict=True)
    assert ins.nia and ref.type is TypeIdentifiantPatient.INS_NIA
    assert InsRef("2751263220749", "74", Oid.INS_NIR_TEST.value).type is TypeIdentifiantPatient.INS_NIR_TEST


# ---- RNIV table ------------------------------------------------------------------------------------------------

EXPECTED = {
    (S.PROVISOIRE, E.INS_RECUPERE): S.RECUPEREE,
    (S.VALIDEE, E.INS_RECUPERE): S.QUALIFIEE,
    (S.RECUPEREE, E.PIECE_VALIDEE): S.QUALIFIEE,
    (S.PROVISOIRE, E.PIECE_VALIDEE): S.VALIDEE,
    (S.RECUPEREE, E.VERIFICATION_ECHOUEE): S.PROVISOIRE,
    (S.QUALIFIEE, E.VERIFICATION_ECHOUEE): S.VALIDEE,
    (S.QUALIFIEE, E.DOUTEUSE_POSEE): S.PROVISOIRE,
    (S.QUALIFIEE, E.FICTIVE_POSEE): S.PROVISOIRE,
    (S.QUALIFIEE, E.TRAITS_MODIFIES): S.PROVISOIRE,
    (S.QUALIFIEE, E.HOMONYME_POSE): S.QUALIFIEE,
}


@pytest.mark.parametrize(("pair", "to"), EXPECTED.items(), ids=lambda x: str(x))
def test_documented_transitions(pair: tuple[StatutIdentite, Evenement], to: StatutIdentite) -> None:
    assert transition(pair[0], [], pair[1]).vers is to


def test_failed_verification_removes_the_ins_and_douteuse_removes_everything() -> None:
    assert transition(S.QUALIFIEE, [], E.VERIFICATION_ECHOUEE).retire_ins
    assert not transition(S.QUALIFIEE, [], E.VERIFICATION_ECHOUEE).retire_validation
    t = transition(S.QUALIFIEE, [], E.DOUTEUSE_POSEE)
    assert t.retire_ins and t.retire_validation


ALL_PAIRS = [(s, e) for s in S for e in E]


@pytest.mark.parametrize(("statut", "evenement"), [p for p in ALL_PAIRS if p not in TRANSITIONS],
                         ids=lambda x: str(x))
def test_every_pair_outside_the_table_is_forbidden(statut: StatutIdentite, evenement: Evenement) -> None:
    with pytest.raises(TransitionIdentiteInterdite):
        transition(statut, [], evenement)


@pytest.mark.parametrize("attribut", ["douteuse", "fictive"])
@pytest.mark.parametrize("evenement", [E.INS_RECUPERE, E.PIECE_VALIDEE, E.VERIFICATION_REUSSIE,
                                       E.VERIFICATION_ECHOUEE])
def test_douteuse_and_fictive_forbid_insi_and_validation(attribut: str, evenement: Evenement) -> None:
    assert not insi_autorise([attribut])
    with pytest.raises(TransitionIdentiteInterdite):
        transition(S.PROVISOIRE, [attribut], evenement)


def test_douteuse_and_fictive_cannot_be_combined() -> None:
    with pytest.raises(TransitionIdentiteInterdite) as exc:
        transition(S.PROVISOIRE, ["douteuse"], E.FICTIVE_POSEE)
    assert exc.value.code == "identite.attributs_incompatibles"
    with pytest.raises(TransitionIdentiteInterdite):
        transition(S.PROVISOIRE, ["fictive"], E.DOUTEUSE_POSEE)


def test_homonyme_is_allowed_at_any_status() -> None:
    for statut in S:
        assert transition(statut, ["homonyme"], E.INS_RECUPERE if statut is S.PROVISOIRE else E.HOMONYME_POSE)


# ---- exposure gate ---------------------------------------------------------------------------------------------


def _patient(statut: StatutIdentite, attributs: list[str] | None = None) -> Patient:
    return Patient("ADRUN", ["ZOE"], dt.date(1975, 12, 31), Sexe.F, statut_identite=statut, id=1,
                   attributs=attributs or [])


IDS = [Identifiant(1, TypeIdentifiantPatient.IPP, "123", "750712184"),
       Identifiant(1, TypeIdentifiantPatient.INS_NIR, "275126322074974", Oid.INS_NIR.value)]


@pytest.mark.parametrize("statut", [S.PROVISOIRE, S.RECUPEREE, S.VALIDEE])
def test_ins_never_leaves_unless_qualified(statut: StatutIdentite) -> None:
    assert ins_for_export(_patient(statut), IDS) == []
    assert [i.type for i in without_ins(_patient(statut), IDS)] == [TypeIdentifiantPatient.IPP]


def test_qualified_ins_leaves_but_not_with_a_wrong_key_nor_when_douteuse() -> None:
    assert [i.valeur for i in ins_for_export(_patient(S.QUALIFIEE), IDS)] == ["275126322074974"]
    bad = [Identifiant(1, TypeIdentifiantPatient.INS_NIR, "275126322074975", Oid.INS_NIR.value)]
    assert ins_for_export(_patient(S.QUALIFIEE), bad) == []
    assert ins_for_export(_patient(S.QUALIFIEE, ["douteuse"]), IDS) == []
