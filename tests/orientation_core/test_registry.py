"""Registry use cases (A28/A31 identities, A47, A40, movements, DPI context): each scenario runs on an in-memory
unit of work (the core without a database) and on the real stores (SQLite and PostgreSQL, real migrations)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orientation_core.clock import FrozenClock
from orientation_core.directory.model import Etablissement, Secteur, TypeUnite, Unite
from orientation_core.errors import Conflict, ValidationFailed
from orientation_core.patients import registry as r
from orientation_core.patients.model import (
    Identifiant,
    Mouvement,
    Patient,
    PatientContexte,
    Sejour,
    Sexe,
    StatutIdentite,
    StatutSejour,
    TypeIdentifiantPatient,
)
from orientation_core.persistence import tables
from orientation_core.persistence.uow import UnitOfWorkFactory
from orientation_core.ports import Env
from orientation_core.timers import TimerPolicy

FINESS = "690001011"
T = dt.datetime(2026, 3, 15, 7, 0, tzinfo=dt.UTC)
IPP = r.IdentifiantRef(TypeIdentifiantPatient.IPP, "100001", FINESS)
INS = r.IdentifiantRef(TypeIdentifiantPatient.INS_NIR, "275126322074974", "1.2.250.1.213.1.4.8")


# ---- an in-memory unit of work: the use cases need no database ------------------------------------------------------

class _FakePatients:
    def __init__(self) -> None:
        self.rows: dict[int, Patient] = {}
        self.ids: list[Identifiant] = []
        self.stays: list[Sejour] = []
        self.moves: list[Mouvement] = []
        self.ctx: list[PatientContexte] = []
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, patient: Patient) -> None:
        patient.id = self._next()
        self.rows[patient.id] = patient

    def get(self, patient_id: int) -> Patient:
        return self.rows[patient_id]

    def by_identifier(self, type_: TypeIdentifiantPatient, valeur: str, autorite: str = "") -> Patient | None:
        return next((self.rows[i.patient_id] for i in self.ids
                     if i.type == type_ and i.valeur == valeur and i.autorite == autorite), None)

    def identifiers(self, patient_id: int) -> list[Identifiant]:
        return [i for i in self.ids if i.patient_id == patient_id]

    def add_identifier(self, identifiant: Identifiant) -> None:
        if any((i.type, i.valeur, i.autorite) == (identifiant.type, identifiant.valeur, identifiant.autorite)
               for i in self.ids):
            raise AssertionError("unique (type, valeur, autorite) violated")
        identifiant.id = self._next()
        self.ids.append(identifiant)

    def remove_identifier(self, identifiant: Identifiant) -> None:
        self.ids.remove(identifiant)

    def add_sejour(self, sejour: Sejour) -> None:
        sejour.id = self._next()
        self.stays.append(sejour)

    def sejours(self, patient_id: int) -> list[Sejour]:
        return [s for s in self.stays if s.patient_id == patient_id]

    def sejour_by_nda(self, etablissement_id: int, nda: str) -> Sejour | None:
        return next((s for s in self.stays if s.etablissement_id == etablissement_id and s.nda == nda), None)

    def add_mouvement(self, mouvement: Mouvement) -> None:
        mouvement.id = self._next()
        self.moves.append(mouvement)

    def mouvements(self, sejour_id: int) -> list[Mouvement]:
        return [m for m in self.moves if m.sejour_id == sejour_id]

    def mouvements_of_patient(self, patient_id: int) -> list[Mouvement]:
        return [m for m in self.moves if m.patient_id == patient_id]

    def contextes(self, patient_id: int) -> list[PatientContexte]:
        return [c for c in self.ctx if c.patient_id == patient_id]

    def add_contexte(self, contexte: PatientContexte) -> None:
        contexte.id = self._next()
        self.ctx.append(contexte)

    def remove_contexte(self, contexte: PatientContexte) -> None:
        self.ctx.remove(contexte)


class _FakeDirectory:
    def __init__(self) -> None:
        self.etabs: list[Etablissement] = []
        self.unites: list[Unite] = []

    def add_etablissement(self, etablissement: Etablissement) -> None:
        etablissement.id = len(self.etabs) + 1
        self.etabs.append(etablissement)

    def add_unite(self, unite: Unite) -> None:
        unite.id = len(self.unites) + 1
        self.unites.append(unite)

    def etablissement_by_finess(self, finess: str) -> Etablissement | None:
        return next((e for e in self.etabs if e.finess == finess), None)

    def unite_by_code(self, etablissement_id: int, code_uf: str) -> Unite | None:
        return next((u for u in self.unites if u.etablissement_id == etablissement_id and u.code_uf == code_uf), None)


class _FakeDossiers:
    def for_patient(self, patient_id: int) -> list[Any]:
        return []

    def refresh_patient_name(self, patient: Patient) -> None:
        return None


class FakeUow:
    def __init__(self) -> None:
        self.patients = _FakePatients()
        self.directory = _FakeDirectory()
        self.dossiers = _FakeDossiers()

    def flush(self) -> None:
        return None


Factory = Callable[[], AbstractContextManager[Any]]


def _empty(engine: Engine) -> None:
    """Same as the conftest's: children before parents, every table emptied."""
    ordered = list(reversed(tables.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in ordered) + " RESTART IDENTITY CASCADE"))
        else:
            for table in ordered:
                conn.execute(table.delete())


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uows(request: pytest.FixtureRequest) -> Factory:
    """A factory of units of work, each committed on exit (the memory one simply shares its state)."""
    if request.param == "memory":
        fake = FakeUow()

        @contextmanager
        def memory() -> Iterator[FakeUow]:
            yield fake

        factory: Factory = memory
    else:
        engine = request.getfixturevalue(f"_{request.param}_engine")
        _empty(engine)
        factory = UnitOfWorkFactory(engine, TimerPolicy())
    with factory() as uow:
        etab = Etablissement(finess=FINESS, nom="Hôpital Saint-Exupéry", secteur=Secteur.SANITAIRE)
        uow.directory.add_etablissement(etab)
        uow.flush()
        assert etab.id is not None
        for code in ("1101", "1102"):
            uow.directory.add_unite(Unite(etablissement_id=etab.id, code_uf=code, nom=f"UF {code}",
                                          type=TypeUnite.MCO))
    return factory


@pytest.fixture
def env() -> Env:
    return Env(clock=FrozenClock(T), timers=TimerPolicy())


def traits(statut: StatutIdentite = StatutIdentite.QUALIFIEE, **kw: Any) -> r.Traits:
    base: dict[str, Any] = {"nom_naissance": "ADRUN", "prenoms": ["ZOE", "MARIE"],
                            "date_naissance": dt.date(1975, 12, 31), "sexe": Sexe.F, "statut": statut,
                            "lieu_naissance_code": "63220", "ville": "Lyon"}
    base.update(kw)
    return r.Traits(**base)


def identity(ipp: r.IdentifiantRef = IPP, ins: r.IdentifiantRef | None = INS, **kw: Any) -> r.IdentiteEntrante:
    statut = kw.pop("statut", StatutIdentite.QUALIFIEE)
    supprime = kw.pop("ins_supprime", False)
    return r.IdentiteEntrante(ipp=ipp, traits=traits(statut, **kw), ins=ins, ins_supprime=supprime)


def ids_of(uow: Any, patient_id: int | None) -> set[tuple[str, str]]:
    assert patient_id is not None
    return {(i.type.value, i.valeur) for i in uow.patients.identifiers(patient_id)}


# ---- identities -----------------------------------------------------------------------------------------------------

def test_a28_creates_a_qualified_identity_with_its_ins_and_a31_updates_traits(uows: Factory, env: Env) -> None:
    with uows() as uow:
        rapport = r.Rapport()
        patient = r.upsert_identity(uow, env, identity(), rapport)
        assert "patient.cree" in rapport.applique and "ins.enregistre" in rapport.applique
        assert rapport.recherche_ins == []  # qualified: no INSi lookup needed
        pid = patient.id
    with uows() as uow:
        assert ids_of(uow, pid) == {("ipp", "100001"), ("ins_nir", "275126322074974")}
        rapport = r.Rapport()
        again = r.upsert_identity(uow, env, identity(nom_utilise="MARTIN", ville="Villeurbanne"), rapport)
        assert again.id == pid
        assert again.nom_utilise == "MARTIN" and again.nom_recherche == "MARTIN ZOE"
        assert rapport.applique == ["patient.traits:nom_utilise,ville"]


def test_a_qualified_ins_is_never_replaced_silently(uows: Factory, env: Env) -> None:
    with uows() as uow:
        pid = r.upsert_identity(uow, env, identity(), r.Rapport()).id
    other = r.IdentifiantRef(TypeIdentifiantPatient.INS_NIR, "236066322083656", "1.2.250.1.213.1.4.8")
    with uows() as uow:
        rapport = r.Rapport()
        r.upsert_identity(uow, env, identity(ins=other), rapport)
        assert [c.code for c in rapport.conflits] == ["ins.different"]
    with uows() as uow:
        assert ("ins_nir", "275126322074974") in ids_of(uow, pid)
        assert ("ins_nir", "236066322083656") not in ids_of(uow, pid)


def test_an_untrusted_ins_is_not_stored_and_the_identity_is_queued_for_insi(uows: Factory, env: Env) -> None:
    with uows() as uow:
        rapport = r.Rapport()
        # the intake passes no INS when PID-32 is not VALI or the key does not compute
        patient = r.upsert_identity(uow, env, identity(ins=None, statut=StatutIdentite.PROVISOIRE), rapport)
        assert ids_of(uow, patient.id) == {("ipp", "100001")}
        assert rapport.recherche_ins == [patient.id]


def test_a_downgrade_by_the_sender_removes_the_ins_and_says_so(uows: Factory, env: Env) -> None:
    with uows() as uow:
        pid = r.upsert_identity(uow, env, identity(), r.Rapport()).id
    with uows() as uow:
        rapport = r.Rapport()
        r.upsert_identity(uow, env, identity(ins=None, statut=StatutIdentite.PROVISOIRE), rapport)
        assert [c.code for c in rapport.conflits] == ["ins.retire"]
        assert ids_of(uow, pid) == {("ipp", "100001")}


def test_a47_changes_the_ipp_and_deletes_the_ins(uows: Factory, env: Env) -> None:
    with uows() as uow:
        pid = r.upsert_identity(uow, env, identity(), r.Rapport()).id
    new_ipp = r.IdentifiantRef(TypeIdentifiantPatient.IPP, "100777", FINESS)
    with uows() as uow:
        rapport = r.Rapport()
        patient = r.change_identifier(uow, env, [IPP], identity(ipp=new_ipp, ins=None, ins_supprime=True,
                                                                statut=StatutIdentite.PROVISOIRE), rapport)
        assert patient.id == pid
        assert {"ipp.modifie", "ins.supprime"} <= set(rapport.applique)
    with uows() as uow:
        assert ids_of(uow, pid) == {("ipp", "100777")}
        assert uow.patients.get(pid).statut_identite is StatutIdentite.PROVISOIRE


def test_a47_to_an_ipp_of_another_patient_is_a_conflict(uows: Factory, env: Env) -> None:
    other = r.IdentifiantRef(TypeIdentifiantPatient.IPP, "100002", FINESS)
    with uows() as uow:
        r.upsert_identity(uow, env, identity(), r.Rapport())
        r.upsert_identity(uow, env, identity(ipp=other, ins=None, nom_naissance="TCHITCHI"), r.Rapport())
    with pytest.raises(Conflict), uows() as uow:
        r.change_identifier(uow, env, [IPP], identity(ipp=other, ins=None), r.Rapport())


def test_a40_merges_identifiers_stays_and_context_into_the_survivor(uows: Factory, env: Env) -> None:
    gone_ipp = r.IdentifiantRef(TypeIdentifiantPatient.IPP, "100009", FINESS)
    with uows() as uow:
        survivor = r.upsert_identity(uow, env, identity(), r.Rapport())
        gone = r.upsert_identity(uow, env, identity(ipp=gone_ipp, ins=None, statut=StatutIdentite.PROVISOIRE),
                                 r.Rapport())
        r.apply_movement(uow, env, gone, movement("A01", "MVT-1", nda="N-GONE"), r.Rapport())
        assert gone.id is not None
        r.save_context(uow, env, gone.id, "hl7v2", {"contacts": [{"nom": "ADRUN"}]}, {"contacts[0]": "NK1[1]"}, "M1")
        sid, gid = survivor.id, gone.id
    with uows() as uow:
        rapport = r.Rapport()
        r.merge(uow, env, identity(), gone_ipp, rapport)
        assert f"fusion:{gid}->{sid}" in rapport.applique
    with uows() as uow:
        assert uow.patients.get(gid).merged_into_id == sid
        assert ("ipp", "100009") in ids_of(uow, sid)
        assert [s.nda for s in uow.patients.sejours(sid)] == ["N-GONE"]
        assert uow.patients.contextes(sid)[0].donnees["contacts"] == [{"nom": "ADRUN"}]
        # every later message about the merged-away IPP lands on the survivor
        resolved = r.resolve(uow, gone_ipp)
        assert resolved is not None and resolved.id == sid
    with uows() as uow:  # a replay of the A40 changes nothing
        rapport = r.Rapport()
        r.merge(uow, env, identity(), gone_ipp, rapport)
        assert not any(a.startswith("fusion") for a in rapport.applique)


# ---- movements ------------------------------------------------------------------------------------------------------

def movement(event: str, mvt: str, *, action: str = "INSERT", at: dt.datetime | None = None, uf: str = "1101",
             classe: str = "I", nda: str = "2026000123", origine: str = "") -> r.MouvementEntrant:
    return r.MouvementEntrant(evenement=event, action=action, identifiant=mvt, finess=FINESS, nda=nda,
                              debut=at, classe=classe, code_uf=uf, evenement_origine=origine, message_id=f"M-{mvt}")


def stay(uow: Any, pid: int | None) -> Sejour:
    assert pid is not None
    (found,) = uow.patients.sejours(pid)
    assert isinstance(found, Sejour)
    return found


def test_movements_and_their_cancellations_drive_the_stay(uows: Factory, env: Env) -> None:
    t0 = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)
    steps: list[tuple[r.MouvementEntrant, StatutSejour, str, dt.datetime | None, dt.datetime | None]] = [
        (movement("A05", "M1", at=t0), StatutSejour.PREADMISSION, "1101", None, None),
        (movement("A01", "M2", at=t0 + dt.timedelta(days=1)), StatutSejour.EN_COURS, "1101",
         t0 + dt.timedelta(days=1), None),
        (movement("A02", "M3", at=t0 + dt.timedelta(days=2), uf="1102"), StatutSejour.EN_COURS, "1102",
         t0 + dt.timedelta(days=1), None),
        (movement("A12", "M3", action="CANCEL"), StatutSejour.EN_COURS, "1101", t0 + dt.timedelta(days=1), None),
        (movement("A03", "M4", at=t0 + dt.timedelta(days=5)), StatutSejour.SORTI, "1101",
         t0 + dt.timedelta(days=1), t0 + dt.timedelta(days=5)),
        (movement("A13", "M4", action="CANCEL"), StatutSejour.EN_COURS, "1101", t0 + dt.timedelta(days=1), None),
        (movement("Z99", "M2", action="UPDATE", at=t0 + dt.timedelta(hours=30), origine="A01"),
         StatutSejour.EN_COURS, "1101", t0 + dt.timedelta(hours=30), None),
        (movement("A11", "M2", action="CANCEL"), StatutSejour.PREADMISSION, "1101", None, None),
        (movement("A38", "M1", action="CANCEL"), StatutSejour.ANNULE, "1101", None, None),
    ]
    with uows() as uow:
        pid = r.upsert_identity(uow, env, identity(), r.Rapport()).id
    for entree, statut, uf, entree_at, sortie_at in steps:
        with uows() as uow:
            rapport = r.Rapport()
            r.apply_movement(uow, env, uow.patients.get(pid), entree, rapport)
            assert rapport.avertissements == [], entree.evenement
        with uows() as uow:
            s = stay(uow, pid)
            assert (s.statut, s.code_uf, s.date_entree, s.date_sortie) == (statut, uf, entree_at, sortie_at), (
                entree.evenement)
            unite = uow.directory.unite_by_code(s.etablissement_id, uf)
            assert s.unite_id == unite.id


def test_leave_return_and_attending_change_are_kept_in_the_history(uows: Factory, env: Env) -> None:
    t0 = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)
    with uows() as uow:
        patient = r.upsert_identity(uow, env, identity(), r.Rapport())
        for entree in (movement("A01", "M1", at=t0), movement("A21", "M2", at=t0 + dt.timedelta(days=1)),
                       movement("A52", "M2", action="CANCEL"), movement("A22", "M3", at=t0 + dt.timedelta(days=2)),
                       movement("A54", "M4", at=t0 + dt.timedelta(days=3)), movement("A55", "M4", action="CANCEL")):
            r.apply_movement(uow, env, patient, entree, r.Rapport())
        s = stay(uow, patient.id)
        history = [(m.evenement, m.annule) for m in uow.patients.mouvements(s.id)]
    assert history == [("A01", False), ("A21", True), ("A22", False), ("A54", True)]
    assert s.statut is StatutSejour.EN_COURS


def test_cancelling_an_unknown_movement_is_a_warning_not_a_failure(uows: Factory, env: Env) -> None:
    with uows() as uow:
        patient = r.upsert_identity(uow, env, identity(), r.Rapport())
        r.apply_movement(uow, env, patient, movement("A01", "M1", at=T), r.Rapport())
        rapport = r.Rapport()
        r.apply_movement(uow, env, patient, movement("A13", "M9", action="CANCEL"), rapport)
        assert [w.code for w in rapport.avertissements] == ["mouvement.inconnu"]


def test_a_resent_movement_is_applied_once(uows: Factory, env: Env) -> None:
    with uows() as uow:
        patient = r.upsert_identity(uow, env, identity(), r.Rapport())
        for _ in range(2):
            r.apply_movement(uow, env, patient, movement("A01", "M1", at=T), r.Rapport())
        assert len(uow.patients.mouvements(stay(uow, patient.id).id)) == 1


def test_a_stay_of_an_unknown_etablissement_is_refused_with_a_french_message(uows: Factory, env: Env) -> None:
    with pytest.raises(ValidationFailed) as err, uows() as uow:
        patient = r.upsert_identity(uow, env, identity(), r.Rapport())
        entree = movement("A01", "M1", at=T)
        entree.finess = "750000000"
        r.apply_movement(uow, env, patient, entree, r.Rapport())
    assert err.value.code == "etablissement.inconnu" and "inconnu" in err.value.message


def test_context_keeps_sections_the_next_message_does_not_carry(uows: Factory, env: Env) -> None:
    with uows() as uow:
        pid = r.upsert_identity(uow, env, identity(), r.Rapport()).id
        assert pid is not None
        r.save_context(uow, env, pid, "hl7v2", {"contacts": [{"nom": "A"}], "medecin_traitant": {"rpps": "1"}},
                       {"contacts[0]": "NK1[1]", "medecin_traitant": "ROL[1]-4"}, "M1")
    with uows() as uow:
        r.save_context(uow, env, pid, "hl7v2", {"contacts": [{"nom": "B"}]}, {"contacts[0]": "NK1[1]"}, "M2")
    with uows() as uow:
        (ctx,) = uow.patients.contextes(pid)
        assert ctx.donnees == {"contacts": [{"nom": "B"}], "medecin_traitant": {"rpps": "1"}}
        assert ctx.provenance == {"contacts[0]": "NK1[1]", "medecin_traitant": "ROL[1]-4"}
        assert ctx.message_id == "M2"


def test_a_stay_known_without_movements_takes_the_senders_state(uows: Factory, env: Env) -> None:
    """FHIR Encounter: no movement history, the stay is what the sender says it is now."""
    admitted = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)
    with uows() as uow:
        patient = r.upsert_identity(uow, env, identity(), r.Rapport())
        state = r.MouvementEntrant(evenement="Bundle", action="SNAPSHOT", identifiant="", finess=FINESS,
                                   nda="E-1", classe="I", code_uf="1102", date_entree=admitted)
        r.upsert_sejour(uow, env, patient, state, r.Rapport())
        state.date_sortie = admitted + dt.timedelta(days=4)
        r.upsert_sejour(uow, env, patient, state, r.Rapport())
        s = stay(uow, patient.id)
        assert (s.statut, s.code_uf, s.date_entree, s.date_sortie) == (
            StatutSejour.SORTI, "1102", admitted, admitted + dt.timedelta(days=4))
        # once HL7 movements exist for that stay, they decide: a snapshot no longer overrides them
        r.apply_movement(uow, env, patient, movement("A01", "M1", at=admitted, nda="E-1"), r.Rapport())
        rapport = r.Rapport()
        r.upsert_sejour(uow, env, patient, state, rapport)
        assert rapport.applique == ["sejour.connu_par_ses_mouvements"]
        assert stay(uow, patient.id).statut is StatutSejour.EN_COURS
