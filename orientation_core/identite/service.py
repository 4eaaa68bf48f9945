"""Identity-vigilance use cases: retrieve and verify the INS through INSi, validate by document, attributes,
the conflicts work list, and the queue of INSi look-ups the intake pipeline feeds.

Every change goes through the RNIV table (``rniv.transition``) and leaves a ``TraceIdentite``; a status change
also lands in the history of each of the patient's dossiers. An INSi outage never blocks anybody: the identity
stays as it is and a look-up is queued for a later retry. An INSi answer that would change a qualified INS
(or give the INS of another patient) is never applied silently: it goes to the conflicts work list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from orientation_core import history
from orientation_core.dossier.service import scope_of
from orientation_core.errors import Conflict, Forbidden
from orientation_core.identite import rniv
from orientation_core.identite.errors import InsiIndisponible, InsiRequeteRefusee
from orientation_core.identite.model import (
    OID_PAR_TYPE,
    Attribut,
    CodeCR,
    ConflitIdentite,
    EtatIdentite,
    InsRef,
    PieceIdentite,
    RechercheInsi,
    ResultatInsi,
    StatutConflit,
    StatutRecherche,
    TraceIdentite,
    TraitsIdentite,
    TypeRecherche,
    Verification,
)
from orientation_core.identite.rniv import Evenement
from orientation_core.patients import service as patients
from orientation_core.patients.model import INS_TYPES, Identifiant, Patient, Sexe, StatutIdentite, normalize_name
from orientation_core.people.policy import Action, allowed, may_manage_identity
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, IdentityVerifier, UnitOfWork

MAX_TENTATIVES = 24  # with the backoff below: about a day of retries before a look-up is given up
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Issue:
    """What a user action or a queued look-up led to, for the API and the task logs."""

    issue: str  # trouvee / aucune / plusieurs / en_attente / conflit / conforme / non_conforme / abandonnee
    message: str
    statut: StatutIdentite
    code_cr: str = ""
    recherche_id: int | None = None
    conflit_id: int | None = None


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def traits_of(patient: Patient) -> TraitsIdentite:
    """Strict traits of the registry identity, as INSi wants them (RECSANSVITALE)."""
    return TraitsIdentite(
        nom_naissance=patient.nom_naissance.strip().upper(),
        prenoms=tuple(p.strip().upper() for p in patient.prenoms if p.strip()),
        sexe=patient.sexe.value,
        date_naissance=patient.date_naissance,
        lieu_naissance=patient.lieu_naissance_code,
    )


def _ins_porte(uow: UnitOfWork, patient_id: int) -> InsRef | None:
    """The INS the registry carries (a DPI may send an identity already qualified, PID-32 VALI)."""
    for ident in uow.patients.identifiers(patient_id):
        if ident.type in INS_TYPES and len(ident.valeur) == 15:
            return InsRef(ident.valeur[:13], ident.valeur[13:], ident.autorite or OID_PAR_TYPE[ident.type])
    return None


def etat_of(uow: UnitOfWork, patient_id: int) -> EtatIdentite:
    """The identity state, created on first use; an INS the registry already carries (qualified upstream) is
    taken as the stored INS, so verification and conflict detection see it."""
    found = uow.identite.etat(patient_id)
    if found is None:
        found = EtatIdentite(patient_id=patient_id)
        uow.identite.add_etat(found)
    if found.ins is None:
        carried = _ins_porte(uow, patient_id)
        if carried is not None:
            found.set_ins(carried)
    return found


def _patient(uow: UnitOfWork, patient_id: int) -> Patient:
    patient = uow.patients.get(patient_id)
    if patient.merged_into_id is not None:
        raise Conflict("Cette identité a été fusionnée dans une autre.", code="identite.fusionnee")
    return patient


def require_identite(uow: UnitOfWork, env: Env, actor_user_id: int, patient_id: int | None) -> None:
    """Only INS-trained users (account flag ``forme_ins``) who follow the patient act on his identity."""
    user = uow.users.get(actor_user_id)
    subject = subject_for(uow, actor_user_id)
    if not may_manage_identity(subject, user.forme_ins):
        raise Forbidden("Seuls les utilisateurs formés à l'identitovigilance (INS) peuvent faire cette action.",
                        code="identite.non_forme", details={"action": "identite"})
    if patient_id is None or subject.administrateur:
        return
    now = env.clock.now()
    if not any(allowed(subject, Action.DOSSIER_LIRE, scope_of(d), now) for d in uow.dossiers.for_patient(patient_id)):
        raise Forbidden("Vous ne suivez aucun dossier de ce patient.", details={"action": "identite"})


def _trace(uow: UnitOfWork, env: Env, patient: Patient, action: str, actor_user_id: int | None,
           avant: StatutIdentite, details: dict[str, Any] | None = None, actor_kind: str | None = None) -> None:
    assert patient.id is not None
    kind = actor_kind or ("utilisateur" if actor_user_id is not None else "systeme")
    uow.identite.add_trace(TraceIdentite(
        patient_id=patient.id, at=env.clock.now(), action=action, actor_kind=kind, actor_user_id=actor_user_id,
        statut_avant=avant.value, statut_apres=patient.statut_identite.value, details=details or {}))
    if avant is not patient.statut_identite:
        for dossier in uow.dossiers.for_patient(patient.id):
            assert dossier.id is not None
            history.record(uow, dossier.id, env.clock.now(), f"identite.{action}",
                           "prescripteur" if actor_user_id is not None else "system", actor_user_id,
                           avant={"statut_identite": avant.value},
                           apres={"statut_identite": patient.statut_identite.value})


def _sync_ins_identifier(uow: UnitOfWork, patient: Patient, etat: EtatIdentite) -> None:
    """The registry carries the INS only while the identity is qualified (DOMAIN.md §7)."""
    assert patient.id is not None
    wanted = etat.ins if patient.statut_identite is StatutIdentite.QUALIFIEE else None
    present = False
    for ident in uow.patients.identifiers(patient.id):
        if ident.type not in INS_TYPES:
            continue
        if wanted is not None and ident.type is wanted.type and ident.valeur == wanted.valeur:
            present = True
        else:
            uow.patients.remove_identifier(ident)
    if wanted is not None and not present:
        uow.flush()  # the delete first: the unique (type, valeur, autorite) must not see both rows
        uow.patients.add_identifier(Identifiant(patient_id=patient.id, type=wanted.type, valeur=wanted.valeur,
                                                autorite=wanted.oid))


def _apply(uow: UnitOfWork, env: Env, patient: Patient, etat: EtatIdentite, evenement: Evenement,
           actor_user_id: int | None, details: dict[str, Any] | None = None,
           ins: InsRef | None = None) -> rniv.Transition:
    avant = patient.statut_identite
    tr = rniv.transition(avant, patient.attributs, evenement)
    retire: dict[str, Any] = {}
    if tr.retire_ins and etat.ins is not None:
        retire["ins_retire"] = True
        etat.set_ins(None)
        etat.ins_historique = []
    if ins is not None:
        etat.set_ins(ins)
    if tr.retire_validation and etat.piece_identite is not None:
        retire["validation_retiree"] = etat.piece_identite.value
        etat.piece_identite = None
        etat.validee_at = None
        etat.validee_par_id = None
    patient.statut_identite = tr.vers
    now = env.clock.now()
    patient.updated_at = etat.updated_at = now
    _sync_ins_identifier(uow, patient, etat)
    _trace(uow, env, patient, evenement.value, actor_user_id, avant, (details or {}) | retire)
    return tr


def _abandon_pending(uow: UnitOfWork, env: Env, patient_id: int, raison: str) -> None:
    for recherche in uow.identite.recherches(patient_id):
        if recherche.statut is StatutRecherche.EN_ATTENTE:
            recherche.statut = StatutRecherche.ABANDONNEE
            recherche.terminee_at = env.clock.now()
            recherche.erreur = raison


def _same_traits(patient: Patient, traits: TraitsIdentite) -> bool:
    local = traits_of(patient)
    return (normalize_name(local.nom_naissance) == normalize_name(traits.nom_naissance)
            and [normalize_name(p) for p in local.prenoms] == [normalize_name(p) for p in traits.prenoms]
            and local.sexe == traits.sexe and local.date_naissance == traits.date_naissance)


def _align_traits(uow: UnitOfWork, env: Env, patient: Patient, traits: TraitsIdentite) -> dict[str, Any]:
    """RNIV: once INSi answered, the strict traits are those of INSi (TIQ)."""
    assert patient.id is not None
    avant = traits_of(patient).as_dict()
    changes: dict[str, Any] = {}
    if patient.nom_naissance != traits.nom_naissance:
        changes["nom_naissance"] = traits.nom_naissance
    if list(patient.prenoms) != list(traits.prenoms):
        changes["prenoms"] = list(traits.prenoms)
    if patient.sexe.value != traits.sexe:
        changes["sexe"] = Sexe(traits.sexe)
    if patient.date_naissance != traits.date_naissance:
        changes["date_naissance"] = traits.date_naissance
    if traits.lieu_naissance and patient.lieu_naissance_code != traits.lieu_naissance:
        changes["lieu_naissance_code"] = traits.lieu_naissance
    if not changes:
        return {}
    patients.update_traits(uow, env, patient.id, **changes)
    return {"traits_avant": avant, "traits_apres": traits_of(patient).as_dict()}


def _open_conflict(uow: UnitOfWork, env: Env, patient: Patient, etat: EtatIdentite, resultat: ResultatInsi,
                   motif: str, actor_user_id: int | None, recherche_id: int | None) -> ConflitIdentite:
    assert patient.id is not None
    for existing in uow.identite.conflits_patient(patient.id):
        if (existing.statut is StatutConflit.OUVERT and resultat.ins is not None
                and existing.ins_recu == resultat.ins.as_dict()):
            return existing  # the same answer again: one work item
    conflit = ConflitIdentite(
        patient_id=patient.id, at=env.clock.now(), motif=motif,
        ins_actuel=etat.ins.as_dict() if etat.ins else {},
        ins_recu=resultat.ins.as_dict() if resultat.ins else {},
        traits_recus=resultat.traits.as_dict() if resultat.traits else {}, recherche_id=recherche_id)
    uow.identite.add_conflit(conflit)
    uow.flush()
    _trace(uow, env, patient, "conflit_ouvert", actor_user_id, patient.statut_identite,
           {"conflit_id": conflit.id, "motif": motif})
    return conflit


# ---------------------------------------------------------------------------------------------------------------
# Applying INSi answers
# ---------------------------------------------------------------------------------------------------------------


def appliquer_resultat(uow: UnitOfWork, env: Env, patient: Patient, resultat: ResultatInsi,
                       actor_user_id: int | None, recherche_id: int | None = None) -> Issue:
    """A traits search answered: record it, and take the INS unless that would silently change a qualified
    identity (→ conflicts work list)."""
    assert patient.id is not None
    etat = etat_of(uow, patient.id)
    now = env.clock.now()
    statut = patient.statut_identite
    _trace(uow, env, patient, "insi_interrogation", actor_user_id, statut,
           {"code_cr": resultat.cr.value, "tentatives": resultat.tentatives, "recherche_id": recherche_id},
           actor_kind="insi" if actor_user_id is None else None)
    if resultat.cr is CodeCR.AUCUN:
        return Issue("aucune", "Aucune identité trouvée par l'INSi : l'identité reste "
                     f"{rniv.STATUT_LABELS[statut]}.", statut, resultat.cr.value, recherche_id)
    if resultat.cr is CodeCR.PLUSIEURS:
        return Issue("plusieurs", "Plusieurs identités correspondent dans l'INSi : vérifiez les traits "
                     "(prénoms, lieu de naissance).", statut, resultat.cr.value, recherche_id)
    assert resultat.ins is not None and resultat.traits is not None
    if not resultat.cle_valide:  # DOMAIN.md §7: an inbound key that does not compute is not trusted
        _trace(uow, env, patient, "insi_cle_invalide", actor_user_id, statut, {"recherche_id": recherche_id})
        return Issue("cle_invalide", "L'INS renvoyé par l'INSi a une clé incohérente : il n'est pas retenu, "
                     f"l'identité reste {rniv.STATUT_LABELS[statut]}.", statut, resultat.cr.value, recherche_id)
    holder = uow.patients.by_identifier(resultat.ins.type, resultat.ins.valeur, resultat.ins.oid)
    if holder is not None and holder.id != patient.id:
        conflit = _open_conflict(uow, env, patient, etat, resultat,
                                 "INS déjà porté par une autre identité qualifiée (doublon probable).",
                                 actor_user_id, recherche_id)
        return Issue("conflit", "Cet INS appartient déjà à une autre identité : à traiter dans la liste des "
                     "conflits.", statut, resultat.cr.value, recherche_id, conflit.id)
    if statut is StatutIdentite.QUALIFIEE and etat.ins != resultat.ins:
        conflit = _open_conflict(uow, env, patient, etat, resultat,
                                 "L'INSi renvoie un INS différent de l'INS qualifié.", actor_user_id, recherche_id)
        return Issue("conflit", "L'INSi renvoie un autre INS que l'INS qualifié : rien n'est modifié, la "
                     "différence est dans la liste des conflits.", statut, resultat.cr.value, recherche_id,
                     conflit.id)
    if statut in (StatutIdentite.VALIDEE, StatutIdentite.QUALIFIEE) and not _same_traits(patient, resultat.traits):
        conflit = _open_conflict(uow, env, patient, etat, resultat,
                                 "Les traits INSi diffèrent des traits validés sur pièce d'identité.",
                                 actor_user_id, recherche_id)
        return Issue("conflit", "Les traits renvoyés par l'INSi diffèrent des traits validés : à traiter dans la "
                     "liste des conflits.", statut, resultat.cr.value, recherche_id, conflit.id)
    return _take_ins(uow, env, patient, etat, resultat, actor_user_id, recherche_id, now)


def _take_ins(uow: UnitOfWork, env: Env, patient: Patient, etat: EtatIdentite, resultat: ResultatInsi,
              actor_user_id: int | None, recherche_id: int | None, now: dt.datetime) -> Issue:
    assert resultat.ins is not None and resultat.traits is not None
    details = _align_traits(uow, env, patient, resultat.traits)
    etat.ins_historique = [h.as_dict() for h in resultat.historique]
    etat.traits_insi = resultat.traits.as_dict()
    etat.date_interrogation_insi = now
    _apply(uow, env, patient, etat, Evenement.INS_RECUPERE, actor_user_id,
           details | {"oid": resultat.ins.oid, "historique": len(resultat.historique)}, ins=resultat.ins)
    return Issue("trouvee", f"INS récupéré : {rniv.STATUT_LABELS[patient.statut_identite]}.",
                 patient.statut_identite, resultat.cr.value, recherche_id)


def _queue_retry(uow: UnitOfWork, env: Env, patient: Patient, type_: TypeRecherche, motif: str,
                 actor_user_id: int | None, erreur: str) -> RechercheInsi:
    assert patient.id is not None
    recherche = _pending(uow, patient.id, type_) or _new_recherche(uow, env, patient, type_, motif, actor_user_id)
    recherche.tentatives += 1
    recherche.erreur = erreur
    recherche.prochaine_tentative_at = env.clock.now() + _backoff(recherche.tentatives)
    _trace(uow, env, patient, "insi_indisponible", actor_user_id, patient.statut_identite,
           {"recherche_id": recherche.id, "erreur": erreur})
    return recherche


def _backoff(tentatives: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(tentatives - 1, 0), BACKOFF_MAX_SECONDS))


def _pending(uow: UnitOfWork, patient_id: int, type_: TypeRecherche) -> RechercheInsi | None:
    for recherche in uow.identite.recherches(patient_id):
        if recherche.statut is StatutRecherche.EN_ATTENTE and recherche.type is type_:
            return recherche
    return None


def _new_recherche(uow: UnitOfWork, env: Env, patient: Patient, type_: TypeRecherche, motif: str,
                   actor_user_id: int | None) -> RechercheInsi:
    assert patient.id is not None
    now = env.clock.now()
    recherche = RechercheInsi(patient_id=patient.id, type=type_, motif=motif, demandee_at=now,
                              prochaine_tentative_at=now, demandee_par_id=actor_user_id)
    uow.identite.add_recherche(recherche)
    uow.flush()
    return recherche


# ---------------------------------------------------------------------------------------------------------------
# Use cases
# ---------------------------------------------------------------------------------------------------------------


def demander_recherche(uow: UnitOfWork, env: Env, patient_id: int, motif: str, *, autorise: bool = True,
                       actor_user_id: int | None = None) -> RechercheInsi | None:
    """Queue an INSi look-up for an identity that has no qualified INS (the intake pipeline calls this after it
    registered or changed an identity; ``autorise`` is the sender's setting). Idempotent: one pending look-up
    per patient. Returns None when nothing is to be asked (not allowed, qualified, douteuse or fictive, merged).
    The caller enqueues the ``ins.lookup`` task after its commit."""
    if not autorise:
        return None
    patient = uow.patients.get(patient_id)
    if patient.merged_into_id is not None or patient.statut_identite is StatutIdentite.QUALIFIEE:
        return None
    if not rniv.insi_autorise(patient.attributs):
        return None
    existing = _pending(uow, patient_id, TypeRecherche.RECHERCHE)
    if existing is not None:
        return existing
    recherche = _new_recherche(uow, env, patient, TypeRecherche.RECHERCHE, motif, actor_user_id)
    _trace(uow, env, patient, "recherche_demandee", actor_user_id, patient.statut_identite,
           {"recherche_id": recherche.id, "motif": motif})
    return recherche


def traits_modifies(uow: UnitOfWork, env: Env, patient_id: int, *, actor_user_id: int | None = None,
                    autorise: bool = True) -> RechercheInsi | None:
    """A strict trait changed (HL7 A31/A47, FHIR update): earlier checks no longer hold. The identity goes back
    to provisoire without its INS, and a new look-up is queued."""
    patient = _patient(uow, patient_id)
    assert patient.id is not None
    if patient.statut_identite is not StatutIdentite.PROVISOIRE:
        _apply(uow, env, patient, etat_of(uow, patient.id), Evenement.TRAITS_MODIFIES, actor_user_id)
    return demander_recherche(uow, env, patient_id, "traits modifiés", autorise=autorise,
                              actor_user_id=actor_user_id)


def recuperer_ins(uow: UnitOfWork, env: Env, actor_user_id: int, patient_id: int,
                  verifier: IdentityVerifier) -> Issue:
    """"Récupérer l'INS": a traits search now. INSi down → the identity stays as it is, a retry is queued."""
    require_identite(uow, env, actor_user_id, patient_id)
    patient = _patient(uow, patient_id)
    rniv.transition(patient.statut_identite, patient.attributs, Evenement.INS_RECUPERE)  # douteuse, fictive
    try:
        resultat = verifier.rechercher(traits_of(patient))
    except InsiIndisponible as exc:
        recherche = _queue_retry(uow, env, patient, TypeRecherche.RECHERCHE, "récupération demandée",
                                 actor_user_id, exc.code)
        return Issue("en_attente", "Le service INSi ne répond pas : l'identité reste "
                     f"{rniv.STATUT_LABELS[patient.statut_identite]} et la recherche sera relancée "
                     "automatiquement.", patient.statut_identite, recherche_id=recherche.id)
    return appliquer_resultat(uow, env, patient, resultat, actor_user_id)


def verifier_ins(uow: UnitOfWork, env: Env, actor_user_id: int | None, patient_id: int,
                 verifier: IdentityVerifier, recherche_id: int | None = None) -> Issue:
    """"Vérifier l'INS": replay the traits search and compare with the stored INS. A mismatch downgrades the
    identity and removes the INS; a different INS returned by INSi goes to the conflicts work list."""
    if actor_user_id is not None:
        require_identite(uow, env, actor_user_id, patient_id)
    patient = _patient(uow, patient_id)
    assert patient.id is not None
    etat = etat_of(uow, patient.id)
    rniv.transition(patient.statut_identite, patient.attributs, Evenement.VERIFICATION_REUSSIE)
    stored = etat.ins
    if stored is None:
        raise Conflict("Aucun INS à vérifier pour cette identité.", code="identite.sans_ins")
    try:
        verification = verifier.verifier(traits_of(patient), stored)
    except InsiIndisponible as exc:
        recherche = _queue_retry(uow, env, patient, TypeRecherche.VERIFICATION, "vérification demandée",
                                 actor_user_id, exc.code)
        return Issue("en_attente", "Le service INSi ne répond pas : la vérification sera relancée "
                     "automatiquement.", patient.statut_identite, recherche_id=recherche.id)
    return _after_verification(uow, env, patient, etat, verification, recherche_id, actor_user_id)


def valider_identite(uow: UnitOfWork, env: Env, actor_user_id: int, patient_id: int,
                     piece: PieceIdentite) -> Issue:
    """Traits checked against a high-trust identity document: validée, or qualifiée with a retrieved INS."""
    require_identite(uow, env, actor_user_id, patient_id)
    patient = _patient(uow, patient_id)
    assert patient.id is not None
    etat = etat_of(uow, patient.id)
    rniv.transition(patient.statut_identite, patient.attributs, Evenement.PIECE_VALIDEE)
    if etat.ins is not None and etat.traits_insi and not _same_traits(patient, TraitsIdentite.from_dict(
            etat.traits_insi)):
        raise Conflict("Les traits ne correspondent plus à ceux de l'INSi : récupérez l'INS à nouveau.",
                       code="identite.traits_divergents")
    etat.piece_identite = piece
    etat.validee_at = env.clock.now()
    etat.validee_par_id = actor_user_id
    _apply(uow, env, patient, etat, Evenement.PIECE_VALIDEE, actor_user_id, {"piece_identite": piece.value})
    return Issue("validee", f"Identité validée sur pièce : {rniv.STATUT_LABELS[patient.statut_identite]}.",
                 patient.statut_identite)


def set_attribut(uow: UnitOfWork, env: Env, actor_user_id: int | None, patient_id: int, attribut: Attribut,
                 actif: bool) -> Issue:
    """Set or clear homonyme / douteuse / fictive. Douteuse and fictive force provisoire (INS and validation
    removed, pending look-ups given up) and cannot be combined."""
    if actor_user_id is not None:
        require_identite(uow, env, actor_user_id, patient_id)
    patient = _patient(uow, patient_id)
    assert patient.id is not None
    if (attribut.value in patient.attributs) == actif:
        return Issue("inchange", "Rien à modifier.", patient.statut_identite)
    evenement = rniv.ATTRIBUT_EVENEMENTS[(attribut, actif)]
    nouveaux = rniv.attributs_apres(patient.attributs, attribut, actif)
    avant_attributs = list(patient.attributs)
    rniv.transition(patient.statut_identite, patient.attributs, evenement)  # checks before any change
    _apply(uow, env, patient, etat_of(uow, patient.id), evenement, actor_user_id,
           {"attributs_avant": avant_attributs, "attributs_apres": nouveaux})
    patient.attributs = nouveaux
    if not rniv.insi_autorise(nouveaux):
        _abandon_pending(uow, env, patient.id, f"identité {attribut.value}")
    return Issue("modifie", "Attributs de l'identité mis à jour.", patient.statut_identite)


def resoudre_conflit(uow: UnitOfWork, env: Env, actor_user_id: int, conflit_id: int, appliquer: bool) -> Issue:
    """An INS-trained user applies the INSi answer of a conflict, or rejects it. Both are traced."""
    conflit = uow.identite.get_conflit(conflit_id)
    require_identite(uow, env, actor_user_id, conflit.patient_id)
    if conflit.statut is not StatutConflit.OUVERT:
        raise Conflict("Ce conflit est déjà traité.", code="identite.conflit_traite")
    patient = _patient(uow, conflit.patient_id)
    assert patient.id is not None
    conflit.resolu_at = env.clock.now()
    conflit.resolu_par_id = actor_user_id
    if not appliquer or not conflit.ins_recu:
        conflit.statut = StatutConflit.REJETE
        _trace(uow, env, patient, "conflit_rejete", actor_user_id, patient.statut_identite,
               {"conflit_id": conflit.id})
        return Issue("rejete", "Réponse INSi écartée ; l'identité n'est pas modifiée.", patient.statut_identite,
                     conflit_id=conflit.id)
    ins = InsRef.from_dict(conflit.ins_recu)
    holder = uow.patients.by_identifier(ins.type, ins.valeur, ins.oid)
    if holder is not None and holder.id != patient.id:
        raise Conflict("Cet INS est porté par une autre identité : traitez d'abord le doublon.",
                       code="identite.ins_autre_patient")
    traits = TraitsIdentite.from_dict(conflit.traits_recus) if conflit.traits_recus else None
    etat = etat_of(uow, patient.id)
    if traits is not None and not _same_traits(patient, traits) and etat.piece_identite is not None:
        # the validated traits are replaced by INSi's: the document no longer proves them
        _apply(uow, env, patient, etat, Evenement.TRAITS_MODIFIES, actor_user_id, {"conflit_id": conflit.id})
    resultat = ResultatInsi(CodeCR.TROUVE, ins, (), traits)
    conflit.statut = StatutConflit.APPLIQUE
    return _take_ins(uow, env, patient, etat, resultat, actor_user_id, conflit.recherche_id, env.clock.now())


# ---------------------------------------------------------------------------------------------------------------
# The queue of look-ups (task ``ins.lookup``)
# ---------------------------------------------------------------------------------------------------------------


def recherches_dues(uow: UnitOfWork, env: Env, limit: int = 50) -> list[int]:
    return [r.id for r in uow.identite.recherches_dues(env.clock.now(), limit) if r.id is not None]


def executer_recherche(uow: UnitOfWork, env: Env, recherche_id: int, verifier: IdentityVerifier) -> Issue | None:
    """Run one queued look-up (idempotent: a look-up no longer pending, or held by another worker, is skipped)."""
    recherche = uow.identite.claim_recherche(recherche_id)
    if recherche is None or recherche.statut is not StatutRecherche.EN_ATTENTE:
        return None  # another worker runs it, or it is done
    patient = uow.patients.get(recherche.patient_id)
    now = env.clock.now()
    if patient.merged_into_id is not None or not rniv.insi_autorise(patient.attributs):
        recherche.statut = StatutRecherche.ABANDONNEE
        recherche.terminee_at = now
        recherche.erreur = "identité fusionnée, douteuse ou fictive"
        return Issue("abandonnee", recherche.erreur, patient.statut_identite, recherche_id=recherche.id)
    try:
        if recherche.type is TypeRecherche.VERIFICATION:
            if patient.statut_identite not in (StatutIdentite.RECUPEREE, StatutIdentite.QUALIFIEE):
                issue = Issue("abandonnee", "plus d'INS à vérifier", patient.statut_identite)
            else:
                issue = _verify_without_retry(uow, env, patient, verifier, recherche)
        elif patient.statut_identite is StatutIdentite.QUALIFIEE:
            issue = Issue("abandonnee", "identité déjà qualifiée", patient.statut_identite)
        else:
            resultat = verifier.rechercher(traits_of(patient))
            issue = appliquer_resultat(uow, env, patient, resultat, None, recherche.id)
    except InsiIndisponible as exc:
        recherche.tentatives += 1
        recherche.erreur = exc.code
        if recherche.tentatives >= MAX_TENTATIVES:
            recherche.statut = StatutRecherche.ABANDONNEE
            recherche.terminee_at = now
        else:
            recherche.prochaine_tentative_at = now + _backoff(recherche.tentatives)
        _trace(uow, env, patient, "insi_indisponible", None, patient.statut_identite,
               {"recherche_id": recherche.id, "erreur": exc.code, "tentatives": recherche.tentatives})
        return Issue("en_attente", "INSi indisponible : nouvelle tentative plus tard.", patient.statut_identite,
                     recherche_id=recherche.id)
    except InsiRequeteRefusee as exc:
        recherche.statut = StatutRecherche.ABANDONNEE
        recherche.terminee_at = now
        recherche.erreur = exc.code
        return Issue("abandonnee", exc.message, patient.statut_identite, recherche_id=recherche.id)
    recherche.tentatives += 1
    recherche.statut = StatutRecherche.TERMINEE if issue.issue != "abandonnee" else StatutRecherche.ABANDONNEE
    recherche.terminee_at = now
    recherche.code_cr = issue.code_cr
    return issue


def _verify_without_retry(uow: UnitOfWork, env: Env, patient: Patient, verifier: IdentityVerifier,
                          recherche: RechercheInsi) -> Issue:
    assert patient.id is not None
    etat = etat_of(uow, patient.id)
    if etat.ins is None:
        return Issue("abandonnee", "plus d'INS à vérifier", patient.statut_identite)
    # InsiIndisponible propagates to executer_recherche, which reschedules this same look-up
    verification = verifier.verifier(traits_of(patient), etat.ins)
    return _after_verification(uow, env, patient, etat, verification, recherche.id, None)


def _after_verification(uow: UnitOfWork, env: Env, patient: Patient, etat: EtatIdentite,
                        verification: Verification, recherche_id: int | None, actor_user_id: int | None) -> Issue:
    stored = etat.ins
    assert stored is not None
    etat.date_interrogation_insi = env.clock.now()
    code_cr = verification.resultat.cr.value
    if verification.conforme:
        _apply(uow, env, patient, etat, Evenement.VERIFICATION_REUSSIE, actor_user_id,
               {"code_cr": code_cr, "recherche_id": recherche_id})
        return Issue("conforme", "L'INSi confirme l'INS.", patient.statut_identite, code_cr, recherche_id)
    _apply(uow, env, patient, etat, Evenement.VERIFICATION_ECHOUEE, actor_user_id,
           {"code_cr": code_cr, "motif": verification.motif, "recherche_id": recherche_id})
    resultat = verification.resultat
    conflit_id = None
    if resultat.cr is CodeCR.TROUVE and resultat.ins is not None and resultat.ins != stored:
        conflit_id = _open_conflict(uow, env, patient, etat, resultat,
                                    "Vérification : l'INSi renvoie un autre INS.", actor_user_id, recherche_id).id
    return Issue("non_conforme", f"Vérification INSi non conforme ({verification.motif}) : l'INS est retiré, "
                 f"{rniv.STATUT_LABELS[patient.statut_identite]}.", patient.statut_identite, code_cr,
                 recherche_id, conflit_id)


def demander_verification(uow: UnitOfWork, env: Env, patient_id: int, motif: str,
                          actor_user_id: int | None = None) -> RechercheInsi | None:
    """Queue a verification (periodic re-check, or after an outage)."""
    patient = uow.patients.get(patient_id)
    if patient.statut_identite not in (StatutIdentite.RECUPEREE, StatutIdentite.QUALIFIEE):
        return None
    if not rniv.insi_autorise(patient.attributs):
        return None
    return _pending(uow, patient_id, TypeRecherche.VERIFICATION) or _new_recherche(
        uow, env, patient, TypeRecherche.VERIFICATION, motif, actor_user_id)


def lire_identite(uow: UnitOfWork, env: Env, actor_user_id: int, patient_id: int) -> dict[str, Any]:
    """Status, attributes, validation, pending look-ups, open conflicts and trace of one identity. The INS
    itself is shown only when the identity is qualified."""
    subject = subject_for(uow, actor_user_id)
    now = env.clock.now()
    if not subject.administrateur and not any(
            allowed(subject, Action.DOSSIER_LIRE, scope_of(d), now) for d in uow.dossiers.for_patient(patient_id)):
        raise Forbidden("Vous ne suivez aucun dossier de ce patient.")
    patient = uow.patients.get(patient_id)
    etat = uow.identite.etat(patient_id) or EtatIdentite(patient_id=patient_id)
    qualifiee = patient.statut_identite is StatutIdentite.QUALIFIEE
    ins = (etat.ins or _ins_porte(uow, patient_id)) if qualifiee else None
    return {
        "patient_id": patient_id,
        "statut": patient.statut_identite.value,
        "statut_libelle": rniv.STATUT_LABELS[patient.statut_identite],
        "attributs": list(patient.attributs),
        "ins": ({"valeur": ins.valeur, "matricule": ins.matricule, "cle": ins.cle, "oid": ins.oid}
                if ins else None),
        "ins_historique": etat.ins_historique if qualifiee else [],
        "ins_recupere": etat.ins is not None or ins is not None,
        "piece_identite": etat.piece_identite.value if etat.piece_identite else None,
        "validee_at": etat.validee_at,
        "date_interrogation_insi": etat.date_interrogation_insi,
        "insi_autorise": rniv.insi_autorise(patient.attributs),
        "recherches": [{"id": r.id, "type": r.type.value, "statut": r.statut.value, "motif": r.motif,
                        "tentatives": r.tentatives, "prochaine_tentative_at": r.prochaine_tentative_at,
                        "code_cr": r.code_cr} for r in uow.identite.recherches(patient_id)],
        "conflits": [{"id": c.id, "statut": c.statut.value, "motif": c.motif, "at": c.at}
                     for c in uow.identite.conflits_patient(patient_id)],
        "trace": [{"at": t.at, "action": t.action, "actor_kind": t.actor_kind, "actor_user_id": t.actor_user_id,
                   "statut_avant": t.statut_avant, "statut_apres": t.statut_apres}
                  for t in uow.identite.traces(patient_id)],
    }


def conflits_ouverts(uow: UnitOfWork, env: Env, actor_user_id: int, limit: int = 100) -> list[ConflitIdentite]:
    require_identite(uow, env, actor_user_id, None)
    conflits = uow.identite.conflits(StatutConflit.OUVERT, limit)
    subject = subject_for(uow, actor_user_id)
    if subject.administrateur:
        return conflits
    now = env.clock.now()
    visible = []
    for c in conflits:  # only the patients this user follows
        if any(allowed(subject, Action.DOSSIER_LIRE, scope_of(d), now) for d in uow.dossiers.for_patient(c.patient_id)):
            visible.append(c)
    return visible
