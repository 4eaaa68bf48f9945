"""Registry use cases fed by the DPI (HL7 v2 PAM FR, FHIR): identities, identifier changes, merges, stays and their
movements, and the per-patient DPI context the prefill reads.

Inputs are plain dataclasses (the gateway translates the canonical model into them): the core knows neither HL7
nor FHIR. Every use case writes what it did, and what it refused to do, into a ``Rapport`` that becomes the
message's outcome. Rules kept here:

- the INS is stored only on a qualified identity; a qualified INS is never replaced silently (a conflict is
  recorded instead) and never given to a second patient;
- a stay's status, dates, UF and class are recomputed from its movement history (cancelled movements left out,
  in movement order), so a cancellation (A11, A12, A13, A38…) or a Z99 correction is one rule, not one per pair;
- a merged-away patient (A40) points to the survivor, and every lookup follows that pointer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from orientation_core.directory.model import Etablissement, Unite
from orientation_core.errors import Conflict, ValidationFailed
from orientation_core.patients.model import (
    INS_TYPES,
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
from orientation_core.ports import Env, UnitOfWork

# PAM FR movement triggers, and what each does to the stay it belongs to.
ADMISSIONS = frozenset({"A01", "A04"})
UF_EVENTS = frozenset({"A05", "A01", "A04", "A06", "A07", "A02"})
CANCELS: dict[str, tuple[str, ...]] = {
    "A38": ("A05",), "A11": ("A01", "A04"), "A12": ("A02",), "A13": ("A03",),
    "A52": ("A21",), "A53": ("A22",), "A55": ("A54",),
}
MAX_MERGE_HOPS = 16
NAME_TRAITS = frozenset({"nom_naissance", "prenoms", "nom_utilise", "prenom_utilise"})
# Traits stricts (DOMAIN.md §7) and the status: what an INSi look-up depends on.
STRICT_TRAITS = frozenset({"nom_naissance", "prenoms", "date_naissance", "sexe", "lieu_naissance_code",
                           "statut_identite", "attributs"})


@dataclass(frozen=True)
class IdentifiantRef:
    type: TypeIdentifiantPatient
    valeur: str
    autorite: str = ""


@dataclass
class Traits:
    nom_naissance: str
    prenoms: list[str]
    date_naissance: dt.date | None
    sexe: Sexe = Sexe.INCONNU
    nom_utilise: str = ""
    prenom_utilise: str = ""
    lieu_naissance_code: str = ""
    statut: StatutIdentite = StatutIdentite.PROVISOIRE
    attributs: list[str] = field(default_factory=list)
    adresse: str = ""
    code_postal: str = ""
    ville: str = ""
    telephone: str = ""


@dataclass
class IdentiteEntrante:
    """One identity as the sender declares it. ``ins`` is given only when the intake trusts it (PID-32 VALI and
    a key that computes); ``ins_supprime`` is the PAM FR A47 INS deletion."""

    ipp: IdentifiantRef
    traits: Traits
    ins: IdentifiantRef | None = None
    ins_supprime: bool = False


@dataclass
class MouvementEntrant:
    evenement: str  # MSH-9.2: A01, A11, Z99…
    action: str  # ZBE-4: INSERT, CANCEL, UPDATE
    identifiant: str  # ZBE-1
    finess: str  # établissement of the stay
    nda: str
    debut: dt.datetime | None = None  # ZBE-2
    evenement_origine: str = ""  # ZBE-6
    classe: str = ""  # PV1-2
    code_uf: str = ""  # ZBE-7, else PV1-3.1
    code_uf_soins: str = ""  # ZBE-8
    nature: str = ""  # ZBE-9
    date_entree: dt.datetime | None = None  # PV1-44
    date_sortie: dt.datetime | None = None  # PV1-45
    message_id: str = ""


@dataclass
class Avertissement:
    code: str
    message: str  # French, for the operator

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Rapport:
    """What a message did to the registry: its outcome, shown to the operator and kept on the inbox row."""

    patient_id: int | None = None
    applique: list[str] = field(default_factory=list)
    avertissements: list[Avertissement] = field(default_factory=list)
    conflits: list[Avertissement] = field(default_factory=list)
    recherche_ins: list[int] = field(default_factory=list)  # patients an INSi lookup should be queued for

    def warn(self, code: str, message: str) -> None:
        self.avertissements.append(Avertissement(code, message))

    def conflict(self, code: str, message: str) -> None:
        self.conflits.append(Avertissement(code, message))

    def as_dict(self) -> dict[str, object]:
        return {
            "patient_id": self.patient_id,
            "applique": list(self.applique),
            "avertissements": [a.as_dict() for a in self.avertissements],
            "conflits": [c.as_dict() for c in self.conflits],
            "recherche_ins": list(self.recherche_ins),
        }


# ---- lookups ---------------------------------------------------------------------------------------------------------

def resolve(uow: UnitOfWork, ref: IdentifiantRef) -> Patient | None:
    """The patient an identifier designates, following A40 merges to the survivor."""
    patient = uow.patients.by_identifier(ref.type, ref.valeur, ref.autorite)
    hops = 0
    while patient is not None and patient.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        patient = uow.patients.get(patient.merged_into_id)
        hops += 1
    return patient


def _ins_of(uow: UnitOfWork, patient_id: int) -> list[Identifiant]:
    return [i for i in uow.patients.identifiers(patient_id) if i.type in INS_TYPES]


# ---- identity --------------------------------------------------------------------------------------------------------

def _apply_traits(uow: UnitOfWork, env: Env, patient: Patient, traits: Traits) -> list[str]:
    changed: list[str] = []
    values: dict[str, object] = {
        "nom_naissance": traits.nom_naissance, "prenoms": list(traits.prenoms),
        "date_naissance": traits.date_naissance, "sexe": traits.sexe, "nom_utilise": traits.nom_utilise,
        "prenom_utilise": traits.prenom_utilise, "lieu_naissance_code": traits.lieu_naissance_code,
        "statut_identite": traits.statut, "attributs": list(traits.attributs), "adresse": traits.adresse,
        "code_postal": traits.code_postal, "ville": traits.ville, "telephone": traits.telephone,
    }
    for key, value in values.items():
        if key in ("nom_naissance", "date_naissance") and not value:
            continue  # an incomplete message never blanks a strict trait
        if key == "prenoms" and not value:
            continue
        if getattr(patient, key) != value:
            setattr(patient, key, value)
            changed.append(key)
    if changed:
        patient.refresh_search_key()
        patient.updated_at = env.clock.now()
        if NAME_TRAITS.intersection(changed):  # dossiers copy the display and search names, nothing else
            uow.dossiers.refresh_patient_name(patient)
    return changed


def _new_patient(traits: Traits) -> Patient:
    if traits.date_naissance is None:
        raise ValidationFailed("Date de naissance absente : l'identité ne peut pas être créée.",
                               code="patient.date_naissance")
    return Patient(
        nom_naissance=traits.nom_naissance, prenoms=list(traits.prenoms), date_naissance=traits.date_naissance,
        sexe=traits.sexe, nom_utilise=traits.nom_utilise, prenom_utilise=traits.prenom_utilise,
        lieu_naissance_code=traits.lieu_naissance_code, statut_identite=traits.statut,
        attributs=list(traits.attributs), adresse=traits.adresse, code_postal=traits.code_postal,
        ville=traits.ville, telephone=traits.telephone,
    )


def _reconcile_ins(uow: UnitOfWork, patient: Patient, entree: IdentiteEntrante, rapport: Rapport) -> None:
    """Keep the registry's INS consistent with the declared status without ever replacing one silently."""
    assert patient.id is not None
    current = _ins_of(uow, patient.id)
    if entree.ins_supprime:
        for ident in current:
            uow.patients.remove_identifier(ident)
        if current:
            rapport.applique.append("ins.supprime")
        return
    if patient.statut_identite is not StatutIdentite.QUALIFIEE:
        if current:  # the sender downgraded the identity: the INS cannot stay (only a qualified one carries it)
            for ident in current:
                uow.patients.remove_identifier(ident)
            rapport.conflict("ins.retire", "Identité déclassée par l'émetteur : l'INS qualifié a été retiré.")
        return
    incoming = entree.ins
    if incoming is None:
        return
    if any(i.valeur == incoming.valeur and i.type is incoming.type for i in current):
        return
    if current:
        rapport.conflict("ins.different", "L'émetteur transmet un INS différent de l'INS qualifié connu : "
                                          "INS conservé, à vérifier par la cellule d'identitovigilance.")
        return
    holder = uow.patients.by_identifier(incoming.type, incoming.valeur, incoming.autorite)
    if holder is not None and holder.id != patient.id:
        rapport.conflict("ins.doublon", f"Cet INS est déjà porté par le patient {holder.id} : non enregistré "
                                        "(doublon potentiel).")
        return
    uow.patients.add_identifier(Identifiant(patient_id=patient.id, type=incoming.type, valeur=incoming.valeur,
                                            autorite=incoming.autorite))
    rapport.applique.append("ins.enregistre")


def _needs_lookup(patient: Patient, rapport: Rapport) -> None:
    """Hook for the identity-vigilance work: provisional identities that may be looked up in INSi."""
    forbidden = {"douteuse", "fictive"} & set(patient.attributs)
    if patient.id is not None and patient.statut_identite in (StatutIdentite.PROVISOIRE, StatutIdentite.VALIDEE) \
            and not forbidden and patient.id not in rapport.recherche_ins:
        rapport.recherche_ins.append(patient.id)


def upsert_identity(uow: UnitOfWork, env: Env, entree: IdentiteEntrante, rapport: Rapport) -> Patient:
    """A28 / A31, and the PID of every movement: create the patient known by this IPP, or update its traits."""
    patient = resolve(uow, entree.ipp)
    if patient is None:
        if entree.ins is not None and entree.traits.statut is StatutIdentite.QUALIFIEE:
            holder = resolve(uow, entree.ins)
            if holder is not None:
                rapport.conflict("ins.doublon", f"Nouvel IPP {entree.ipp.valeur} pour un INS déjà connu "
                                                f"(patient {holder.id}) : doublon potentiel, à rapprocher.")
        patient = _new_patient(entree.traits)
        patient.created_at = patient.updated_at = env.clock.now()
        uow.patients.add(patient)
        uow.flush()
        assert patient.id is not None
        uow.patients.add_identifier(Identifiant(patient_id=patient.id, type=entree.ipp.type,
                                                valeur=entree.ipp.valeur, autorite=entree.ipp.autorite))
        rapport.applique.append("patient.cree")
        lookup = True
    else:
        changed = _apply_traits(uow, env, patient, entree.traits)
        if changed:
            rapport.applique.append("patient.traits:" + ",".join(changed))
        lookup = bool(STRICT_TRAITS.intersection(changed))
    _reconcile_ins(uow, patient, entree, rapport)
    if lookup:  # a new identity, or strict traits changed: worth an INSi look-up (not on every movement)
        _needs_lookup(patient, rapport)
    rapport.patient_id = patient.id
    return patient


def change_identifier(uow: UnitOfWork, env: Env, anciens: list[IdentifiantRef], entree: IdentiteEntrante,
                      rapport: Rapport) -> Patient:
    """A47: the patient known by MRG-1 now carries the PID-3 identifiers (new IPP, INS deleted…)."""
    patient = next((p for p in (resolve(uow, ref) for ref in anciens if ref.type not in INS_TYPES) if p), None)
    if patient is None:
        patient = resolve(uow, entree.ipp)
        if patient is None:
            rapport.warn("a47.patient_inconnu", "A47 : patient d'origine inconnu, identité créée.")
            return upsert_identity(uow, env, entree, rapport)
    assert patient.id is not None
    holder = uow.patients.by_identifier(entree.ipp.type, entree.ipp.valeur, entree.ipp.autorite)
    if holder is not None and holder.id != patient.id and holder.merged_into_id != patient.id:
        raise Conflict(f"L'IPP {entree.ipp.valeur} est déjà attribué à un autre patient.", code="ipp.deja_attribue")
    if holder is None:
        for ident in uow.patients.identifiers(patient.id):
            if ident.type is entree.ipp.type and ident.autorite == entree.ipp.autorite:
                uow.patients.remove_identifier(ident)
        uow.flush()
        uow.patients.add_identifier(Identifiant(patient_id=patient.id, type=entree.ipp.type,
                                                valeur=entree.ipp.valeur, autorite=entree.ipp.autorite))
        rapport.applique.append("ipp.modifie")
    changed = _apply_traits(uow, env, patient, entree.traits)
    if changed:
        rapport.applique.append("patient.traits:" + ",".join(changed))
    _reconcile_ins(uow, patient, entree, rapport)
    _needs_lookup(patient, rapport)
    rapport.patient_id = patient.id
    return patient


def merge(uow: UnitOfWork, env: Env, survivant: IdentiteEntrante, absorbe: IdentifiantRef,
          rapport: Rapport) -> Patient:
    """A40: the patient known by MRG-1 is merged into the PID-3 patient; his identifiers, stays, movements,
    dossiers and DPI context move to the survivor, and he keeps a pointer to it."""
    survivor = upsert_identity(uow, env, survivant, rapport)
    assert survivor.id is not None
    gone = uow.patients.by_identifier(absorbe.type, absorbe.valeur, absorbe.autorite)
    if gone is None:
        rapport.warn("fusion.absorbe_inconnu", f"A40 : patient absorbé {absorbe.valeur} inconnu, rien à fusionner.")
        return survivor
    if gone.id == survivor.id or gone.merged_into_id == survivor.id:
        return survivor  # already done (a replay)
    assert gone.id is not None
    survivor_ins = _ins_of(uow, survivor.id)
    survivor_keys = {(i.type, i.valeur, i.autorite) for i in uow.patients.identifiers(survivor.id)}
    for ident in uow.patients.identifiers(gone.id):
        if ident.type in INS_TYPES:
            if survivor_ins and all(i.valeur != ident.valeur for i in survivor_ins):
                rapport.conflict("fusion.ins_different", "A40 : le patient absorbé portait un autre INS, "
                                                         "non repris (à vérifier).")
            if survivor_ins or survivor.statut_identite is not StatutIdentite.QUALIFIEE:
                uow.patients.remove_identifier(ident)
                continue
        if (ident.type, ident.valeur, ident.autorite) in survivor_keys:
            uow.patients.remove_identifier(ident)
            continue
        ident.patient_id = survivor.id
    for sejour in uow.patients.sejours(gone.id):
        sejour.patient_id = survivor.id
    for mouvement in uow.patients.mouvements_of_patient(gone.id):
        mouvement.patient_id = survivor.id
    for dossier in uow.dossiers.for_patient(gone.id):
        dossier.patient_id = survivor.id
    mine = {c.source: c for c in uow.patients.contextes(survivor.id)}
    for contexte in uow.patients.contextes(gone.id):
        if contexte.source in mine:  # the survivor's own context wins; fill what it lacks
            kept = mine[contexte.source]
            kept.donnees = {**contexte.donnees, **kept.donnees}
            kept.provenance = {**contexte.provenance, **kept.provenance}
            uow.patients.remove_contexte(contexte)
        else:
            contexte.patient_id = survivor.id
    gone.merged_into_id = survivor.id
    gone.updated_at = env.clock.now()
    uow.flush()
    uow.dossiers.refresh_patient_name(survivor)
    rapport.applique.append(f"fusion:{gone.id}->{survivor.id}")
    return survivor


# ---- stays and movements ---------------------------------------------------------------------------------------------

def _sort_key(m: Mouvement) -> tuple[dt.datetime, int]:
    return (m.debut or dt.datetime.min.replace(tzinfo=dt.UTC), m.id if m.id is not None else 2**62)  # new: last


def recompute_sejour(sejour: Sejour, mouvements: list[Mouvement]) -> None:
    """The stay as its live movements say, in movement order."""
    statut: StatutSejour | None = None
    entree: dt.datetime | None = None
    sortie: dt.datetime | None = None
    uf, classe = "", ""
    for m in sorted((m for m in mouvements if not m.annule), key=_sort_key):
        if m.evenement == "A05" and statut is None:
            statut = StatutSejour.PREADMISSION
        elif m.evenement in ADMISSIONS:
            statut, entree, sortie = StatutSejour.EN_COURS, m.debut, None
        elif m.evenement == "A03":
            statut, sortie = StatutSejour.SORTI, m.debut
        if m.evenement in UF_EVENTS and m.code_uf:
            uf = m.code_uf
        if m.classe and m.evenement in UF_EVENTS | {"A03"}:
            classe = m.classe
    sejour.statut = statut or StatutSejour.ANNULE
    sejour.date_entree = entree
    sejour.date_sortie = sortie
    if uf:
        sejour.code_uf = uf
    if classe:
        sejour.classe = classe


class DirectoryCache:
    """Établissements and units by code, memoised for one batch of messages (the directory rarely changes and a
    feed names the same few of them in every message)."""

    def __init__(self) -> None:
        self._etabs: dict[str, Etablissement | None] = {}
        self._unites: dict[tuple[int, str], Unite | None] = {}

    def etablissement(self, uow: UnitOfWork, finess: str) -> Etablissement | None:
        if finess not in self._etabs:
            self._etabs[finess] = uow.directory.etablissement_by_finess(finess)
        return self._etabs[finess]

    def unite(self, uow: UnitOfWork, etablissement_id: int, code_uf: str) -> Unite | None:
        key = (etablissement_id, code_uf)
        if key not in self._unites:
            self._unites[key] = uow.directory.unite_by_code(etablissement_id, code_uf)
        return self._unites[key]


def apply_movement(uow: UnitOfWork, env: Env, patient: Patient, entree: MouvementEntrant,
                   rapport: Rapport, cache: DirectoryCache | None = None) -> Sejour | None:
    """Insert, cancel (ZBE-4 CANCEL) or correct (Z99, ZBE-4 UPDATE) a movement, then recompute its stay."""
    assert patient.id is not None
    if not entree.nda:
        raise ValidationFailed("Numéro de séjour (NDA, PID-18 / PV1-19) absent.", code="sejour.nda")
    cache = cache or DirectoryCache()
    etab = cache.etablissement(uow, entree.finess) if entree.finess else None
    if etab is None or etab.id is None:
        raise ValidationFailed(f"Établissement FINESS « {entree.finess} » inconnu de l'annuaire : créez-le puis "
                               "rejouez le message.", code="etablissement.inconnu")
    sejour = uow.patients.sejour_by_nda(etab.id, entree.nda)
    now = env.clock.now()
    if sejour is not None and sejour.patient_id != patient.id:
        owner = uow.patients.get(sejour.patient_id)
        if owner.merged_into_id != patient.id:
            raise Conflict(f"Le séjour {entree.nda} appartient à un autre patient.", code="sejour.autre_patient")
        sejour.patient_id = patient.id
    if entree.action != "INSERT":
        if sejour is None:
            rapport.warn("sejour.inconnu", f"{entree.evenement} : séjour {entree.nda} inconnu, rien à modifier.")
            return None
        assert sejour.id is not None
        history = uow.patients.mouvements(sejour.id)
        wanted = CANCELS.get(entree.evenement, ()) if entree.action == "CANCEL" else (
            (entree.evenement_origine,) if entree.evenement_origine else ())
        target = next((m for m in reversed(history) if m.identifiant == entree.identifiant and not m.annule
                       and (not wanted or m.evenement in wanted)), None)
        if target is None:
            rapport.warn("mouvement.inconnu", f"{entree.evenement} : mouvement {entree.identifiant} inconnu ou déjà "
                                              "annulé, rien à modifier.")
            return sejour
        if entree.action == "CANCEL":
            target.annule = True
            rapport.applique.append(f"mouvement.annule:{target.evenement}")
        else:  # Z99: the corrected values replace the movement's
            target.debut = entree.debut or target.debut
            target.code_uf = entree.code_uf or target.code_uf
            target.code_uf_soins = entree.code_uf_soins or target.code_uf_soins
            target.nature = entree.nature or target.nature
            target.classe = entree.classe or target.classe
            rapport.applique.append(f"mouvement.corrige:{target.evenement}")
        target.message_id, target.updated_at = entree.message_id, now
    else:
        if sejour is None:
            sejour = Sejour(patient_id=patient.id, etablissement_id=etab.id, nda=entree.nda,
                            statut=StatutSejour.PREADMISSION if entree.evenement == "A05" else StatutSejour.EN_COURS,
                            classe=entree.classe, code_uf=entree.code_uf)
            uow.patients.add_sejour(sejour)
            uow.flush()
            rapport.applique.append("sejour.cree")
        assert sejour.id is not None
        history = uow.patients.mouvements(sejour.id)
        debut = entree.debut or (entree.date_sortie if entree.evenement == "A03" else entree.date_entree)
        known = next((m for m in history if m.identifiant == entree.identifiant
                      and m.evenement == entree.evenement), None)
        if known is None:
            known = Mouvement(sejour_id=sejour.id, patient_id=patient.id, identifiant=entree.identifiant,
                              evenement=entree.evenement, created_at=now)
            uow.patients.add_mouvement(known)
            history.append(known)
        known.debut, known.code_uf, known.code_uf_soins = debut, entree.code_uf, entree.code_uf_soins
        known.nature, known.classe, known.annule = entree.nature, entree.classe, False
        known.message_id, known.updated_at = entree.message_id, now
        rapport.applique.append(f"mouvement:{entree.evenement}")
    recompute_sejour(sejour, history)
    unite = cache.unite(uow, etab.id, sejour.code_uf) if sejour.code_uf else None
    sejour.unite_id = unite.id if unite is not None else None
    return sejour


def upsert_sejour(uow: UnitOfWork, env: Env, patient: Patient, entree: MouvementEntrant, rapport: Rapport,
                  cache: DirectoryCache | None = None) -> Sejour:
    """A stay known without its movements (FHIR Encounter): its current state as the sender describes it.
    A stay that already has movements (HL7 PAM FR) keeps them as the source of truth for status and dates."""
    assert patient.id is not None
    if not entree.nda:
        raise ValidationFailed("Numéro de séjour (NDA) absent.", code="sejour.nda")
    cache = cache or DirectoryCache()
    etab = cache.etablissement(uow, entree.finess) if entree.finess else None
    if etab is None or etab.id is None:
        raise ValidationFailed(f"Établissement FINESS « {entree.finess} » inconnu de l'annuaire : créez-le puis "
                               "rejouez le message.", code="etablissement.inconnu")
    sejour = uow.patients.sejour_by_nda(etab.id, entree.nda)
    if sejour is not None and sejour.patient_id != patient.id:
        raise Conflict(f"Le séjour {entree.nda} appartient à un autre patient.", code="sejour.autre_patient")
    if sejour is None:
        sejour = Sejour(patient_id=patient.id, etablissement_id=etab.id, nda=entree.nda)
        uow.patients.add_sejour(sejour)
        rapport.applique.append("sejour.cree")
    elif sejour.id is not None and uow.patients.mouvements(sejour.id):
        rapport.applique.append("sejour.connu_par_ses_mouvements")
        return sejour
    sejour.classe = entree.classe or sejour.classe
    sejour.code_uf = entree.code_uf or sejour.code_uf
    sejour.date_entree = entree.date_entree or sejour.date_entree
    sejour.date_sortie = entree.date_sortie
    sejour.statut = StatutSejour.SORTI if entree.date_sortie is not None else StatutSejour.EN_COURS
    unite = cache.unite(uow, etab.id, sejour.code_uf) if sejour.code_uf else None
    sejour.unite_id = unite.id if unite is not None else None
    rapport.applique.append("sejour.mis_a_jour")
    return sejour


# ---- DPI context -----------------------------------------------------------------------------------------------------

def save_context(uow: UnitOfWork, env: Env, patient_id: int, source: str, donnees: dict[str, object],
                 provenance: dict[str, str], message_id: str) -> PatientContexte:
    """Keep the latest value of each section the message carried (a message without NK1 keeps the contacts)."""
    contexte = next((c for c in uow.patients.contextes(patient_id) if c.source == source), None)
    if contexte is None:
        contexte = PatientContexte(patient_id=patient_id, source=source)
        uow.patients.add_contexte(contexte)
    sections = {key.split(".")[0].split("[")[0] for key in donnees}
    kept = {k: v for k, v in contexte.provenance.items() if k.split(".")[0].split("[")[0] not in sections}
    contexte.donnees = {**contexte.donnees, **donnees}  # a new dict: JSON columns only see reassignment
    contexte.provenance = {**kept, **provenance}
    contexte.message_id = message_id
    contexte.updated_at = env.clock.now()
    return contexte
