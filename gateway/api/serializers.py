"""Domain objects → JSON-ready dicts. Enums and dates are encoded by FastAPI's encoder."""

from __future__ import annotations

import dataclasses
from typing import Any

from orientation_core.dashboard import DemandeRow, DossierRow, Page
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import STATUS_LABELS, Actor, allowed_actions
from orientation_core.directory.model import Etablissement, Unite
from orientation_core.dossier.model import Dossier, PieceJointe
from orientation_core.dossier.provenance import differences
from orientation_core.dossier.volets import VOLETS
from orientation_core.history import HistoryEvent, Notification
from orientation_core.patients.model import Patient
from orientation_core.people.model import Delegation, Habilitation, User


def plain(obj: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in exclude}


def etablissement(e: Etablissement) -> dict[str, Any]:
    return plain(e) | {"structure_id": e.structure_id}


def unite(u: Unite) -> dict[str, Any]:
    return plain(u) | {"module": u.module.value}


def user(u: User) -> dict[str, Any]:
    return plain(u)


def habilitation(h: Habilitation) -> dict[str, Any]:
    return plain(h)


def delegation(d: Delegation) -> dict[str, Any]:
    return plain(d)


def patient(p: Patient) -> dict[str, Any]:
    return plain(p, exclude=("nom_recherche", "nom_naissance_recherche")) | {"nom_affiche": p.nom_affiche}


def patient_header(p: Patient) -> dict[str, Any]:
    """Who the dossier is about, with the identity status shown everywhere a patient is named (RNIV). No INS
    here: the identity views carry it, and only once qualified."""
    return {"id": p.id, "nom_affiche": p.nom_affiche, "date_naissance": p.date_naissance.isoformat(),
            "sexe": p.sexe.value, "statut_identite": p.statut_identite.value, "attributs": list(p.attributs)}


def demande(d: Demande, *, actor: Actor | None = None) -> dict[str, Any]:
    out = plain(d) | {"statut_libelle": STATUS_LABELS[d.statut]}
    if actor is not None:
        out["actions_possibles"] = allowed_actions(d.statut, actor)
    return out


def dossier(d: Dossier, demandes: list[Demande] | None = None, *, prescripteur_view: bool = True,
            volet_medical: bool = True) -> dict[str, Any]:
    hidden = {v.name for v in VOLETS[d.module] if v.medical} if not volet_medical else set()
    out = plain(d, exclude=("patient_nom_recherche", "patient_nom_naissance_recherche", "volets", "bloc_note",
                            "provenance"))
    out["volets"] = {name: values for name, values in d.volets.items() if name not in hidden}
    # prefill: where each value came from, and the kept user values the DPI contradicts (hidden volets stay hidden)
    out["provenance"] = {name: fields for name, fields in d.provenance.items() if name not in hidden}
    out["dpi_differe"] = differences(out["provenance"]) if prescripteur_view else []
    if not prescripteur_view:  # receivers see where a value came from, not the DPI's other values or the edits
        out["provenance"] = {name: {f: {k: v for k, v in e.items() if k not in ("valeur_dpi", "modifie", "differe")}
                                    for f, e in fields.items()} for name, fields in out["provenance"].items()}
    out["etat_volets"] = [dataclasses.asdict(s) for s in d.volet_states()]
    out["complet"] = d.complet
    out["volets_masques"] = sorted(hidden)
    if prescripteur_view:  # the bloc-note stays inside the requesting établissement
        out["bloc_note"] = d.bloc_note
    if demandes is not None:
        actor = Actor.PRESCRIPTEUR if prescripteur_view else Actor.RECEVEUR
        out["demandes"] = [demande(x, actor=actor) for x in demandes]
    return out


def piece_jointe(p: PieceJointe) -> dict[str, Any]:
    return plain(p)


def history(e: HistoryEvent) -> dict[str, Any]:
    return plain(e)


def notification(n: Notification) -> dict[str, Any]:
    return plain(n)


def dossier_row(r: DossierRow) -> dict[str, Any]:
    return dataclasses.asdict(r)


def demande_row(r: DemandeRow) -> dict[str, Any]:
    return dataclasses.asdict(r) | {"statut_libelle": STATUS_LABELS[r.statut]}


def page(p: Page[Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "page": p.page, "page_size": p.page_size, "has_next": p.has_next}
