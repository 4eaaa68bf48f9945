"""Use cases on the directory: établissements, units, and the search of receiving units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orientation_core.directory.model import MODULE_OF_TYPE, Etablissement, TypeUnite, Unite
from orientation_core.dossier.volets import Module
from orientation_core.errors import Conflict
from orientation_core.people.policy import Action, EtablissementScope, require
from orientation_core.people.service import subject_for
from orientation_core.ports import Env, UnitOfWork


def create_etablissement(uow: UnitOfWork, env: Env, actor_id: int, etablissement: Etablissement) -> Etablissement:
    require(subject_for(uow, actor_id), Action.ETABLISSEMENT_CREER, EtablissementScope(0), env.clock.now())
    if uow.directory.etablissement_by_finess(etablissement.finess) is not None:
        raise Conflict(f"L'établissement FINESS {etablissement.finess} existe déjà.", code="etablissement.existe")
    etablissement.created_at = env.clock.now()
    uow.directory.add_etablissement(etablissement)
    uow.flush()
    return etablissement


def create_unite(uow: UnitOfWork, env: Env, actor_id: int, unite: Unite) -> Unite:
    require(subject_for(uow, actor_id), Action.UNITE_GERER, EtablissementScope(unite.etablissement_id),
            env.clock.now())
    uow.directory.get_etablissement(unite.etablissement_id)
    if uow.directory.unite_by_code(unite.etablissement_id, unite.code_uf) is not None:
        raise Conflict(f"L'UF {unite.code_uf} existe déjà dans cet établissement.", code="unite.existe")
    uow.directory.add_unite(unite)
    uow.flush()
    return unite


@dataclass(frozen=True)
class Suggestion:
    unite: Unite
    etablissement: Etablissement
    distance_km: float | None
    raisons: list[str]
    score: float


def suggest_unites(uow: UnitOfWork, module: Module, *, types: Sequence[TypeUnite] = (),
                   besoins: Sequence[str] = (), latitude: float | None = None, longitude: float | None = None,
                   rayon_km: float | None = None, mention: str | None = None, limit: int = 50) -> list[Suggestion]:
    """Receiving units for a module, ranked: needs covered first, then distance; each with its reasons."""
    wanted = [t for t in (types or list(TypeUnite)) if MODULE_OF_TYPE[t].value == module.value
              and t is not TypeUnite.MCO]
    unites = uow.directory.search_unites(types=wanted)
    etablissements = {e.id: e for e in uow.directory.list_etablissements()}
    suggestions: list[Suggestion] = []
    for unite in unites:
        raisons: list[str] = []
        distance = unite.distance_km(latitude, longitude) if latitude is not None and longitude is not None else None
        if rayon_km is not None and (distance is None or distance > rayon_km):
            continue
        covered = [b for b in besoins if b in unite.besoins_acceptes]
        if besoins:
            raisons.append(f"{len(covered)}/{len(besoins)} besoin(s) pris en charge")
        score = len(covered) * 100.0
        if mention and unite.mention == mention:
            raisons.append(f"mention {mention}")
            score += 50
        if distance is not None:
            raisons.append(f"à {distance:.0f} km")
            score -= distance
        etablissement = etablissements.get(unite.etablissement_id)
        if etablissement is None:
            continue
        suggestions.append(Suggestion(unite, etablissement, distance, raisons, score))
    suggestions.sort(key=lambda s: (-s.score, s.etablissement.nom, s.unite.nom))
    return suggestions[:limit]
