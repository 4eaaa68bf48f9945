"""Grand Âge dossier: the AGGIR grid and the computed GIR, the linked Grand Âge dossier.

``GET|POST /dossiers/{id}/aggir``: the national AGGIR grid (DOMAIN.md §5, CASF annexes 2-1 and 2-2) as a form. Each
of the ten variables is scored directly (A / B / C) or, for the six that have sub-variables, through the four
adverbs of each sub-variable (spontanément, totalement, correctement, habituellement: ticked when the person does
it so alone). The grid is saved into the Grand Âge médical volet (``grille_aggir``; the model derives ``gir``), so
it needs the right to fill the médical volet. ``orientation_core.dossier.aggir`` does every computation; this
module only turns the form into the stored grid and back.

``POST /dossiers/{id}/dossier-grand-age``: "Créer un dossier Grand Âge en parallèle" from a Sanitaire dossier.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gateway import prefill
from gateway.api.deps import UserId
from gateway.errors import status_for
from gateway.ui.pages import container, see_other, show
from orientation_core.dossier import aggir
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.aggir import SUB_VARIABLES, Adverbe, Resultat, Score, Variable
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import Module
from orientation_core.errors import AiguillageError, Conflict, Forbidden
from orientation_core.people.policy import Action, allowed
from orientation_core.ports import UnitOfWork

router = APIRouter(include_in_schema=False)

MEDICAL = "medical"
DETAIL = "S"  # the radio value "scored through its sub-variables"

DESCRIPTIONS: dict[Variable, str] = {
    Variable.COHERENCE: "converser et se comporter de façon sensée",
    Variable.ORIENTATION: "se repérer dans le temps, les moments de la journée et les lieux",
    Variable.TOILETTE: "assurer son hygiène corporelle",
    Variable.HABILLAGE: "s'habiller, se déshabiller, se présenter",
    Variable.ALIMENTATION: "se servir et manger les aliments préparés",
    Variable.ELIMINATION: "assurer l'hygiène de l'élimination urinaire et fécale",
    Variable.TRANSFERTS: "se lever, se coucher, s'asseoir",
    Variable.DEPLACEMENT_INTERIEUR: "se déplacer dans le logement, avec ou sans canne, déambulateur ou fauteuil",
    Variable.DEPLACEMENT_EXTERIEUR: "se déplacer à partir de la porte d'entrée, sans moyen de transport",
    Variable.COMMUNICATION_A_DISTANCE: "utiliser le téléphone, une alarme, une sonnette pour alerter",
}

SUB_LABELS: dict[tuple[Variable, str], str] = {
    (Variable.COHERENCE, "communication"): "Communication",
    (Variable.COHERENCE, "comportement"): "Comportement",
    (Variable.ORIENTATION, "temps"): "Dans le temps",
    (Variable.ORIENTATION, "espace"): "Dans l'espace",
    (Variable.TOILETTE, "haut"): "Haut du corps (visage, tronc, membres supérieurs)",
    (Variable.TOILETTE, "bas"): "Bas du corps (membres inférieurs, pieds, régions intimes)",
    (Variable.HABILLAGE, "haut"): "Haut (vêtements passés par les bras ou la tête)",
    (Variable.HABILLAGE, "moyen"): "Moyen (boutons, fermetures, ceinture)",
    (Variable.HABILLAGE, "bas"): "Bas (vêtements du bas, chaussettes, chaussures)",
    (Variable.ALIMENTATION, "se_servir"): "Se servir (couper, peler, verser)",
    (Variable.ALIMENTATION, "manger"): "Manger (porter à la bouche, avaler)",
    (Variable.ELIMINATION, "urinaire"): "Élimination urinaire",
    (Variable.ELIMINATION, "fecale"): "Élimination fécale",
}

ADVERB_LABELS: dict[Adverbe, str] = {
    Adverbe.SPONTANEMENT: "spontanément",
    Adverbe.TOTALEMENT: "totalement",
    Adverbe.CORRECTEMENT: "correctement",
    Adverbe.HABITUELLEMENT: "habituellement",
}

SCORE_LABELS: dict[str, str] = {
    "A": "A — fait seul, totalement, habituellement et correctement",
    "B": "B — fait partiellement",
    "C": "C — ne fait pas",
}

GIR_MEANINGS: dict[int, str] = {
    1: "Personne confinée au lit ou au fauteuil, dont les fonctions mentales sont gravement altérées, qui "
       "nécessite une présence indispensable et continue d'intervenants.",
    2: "Personne confinée au lit ou au fauteuil dont les fonctions mentales ne sont pas totalement altérées et "
       "qui a besoin d'une prise en charge pour la plupart des activités de la vie courante, ou personne dont les "
       "fonctions mentales sont altérées mais qui a conservé ses capacités à se déplacer.",
    3: "Personne qui a conservé son autonomie mentale, partiellement son autonomie locomotrice, mais qui a besoin "
       "quotidiennement et plusieurs fois par jour d'une aide pour les soins corporels.",
    4: "Personne qui n'assume pas seule ses transferts mais qui, une fois levée, se déplace à l'intérieur de son "
       "logement, ou personne qui se déplace seule mais doit être aidée pour les soins corporels et les repas.",
    5: "Personne qui n'a besoin que d'une aide ponctuelle pour la toilette, la préparation des repas et le "
       "ménage.",
    6: "Personne encore autonome pour les actes essentiels de la vie courante.",
}


# --- the form's state ------------------------------------------------------------------------------------------------


@dataclass
class SousVariable:
    name: str
    label: str
    adverbes: set[str] = field(default_factory=set)  # the adverbs ticked (the person does it so alone)

    @property
    def score(self) -> Score:
        return aggir.score_adverbes({a: a.value in self.adverbes for a in Adverbe})


@dataclass
class Ligne:
    """One variable of the grid as the form shows it: the choice (A, B, C, or S for its sub-variables)."""

    variable: Variable
    choix: str = ""
    sous: list[SousVariable] = field(default_factory=list)
    erreur: str = ""

    @property
    def label(self) -> str:
        return aggir.LABELS[self.variable]

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.variable]

    @property
    def discriminante(self) -> bool:
        return self.variable in aggir.DISCRIMINANT

    @property
    def score(self) -> Score | None:
        """The variable's score as the grid will hold it (derived from the sub-variables in detail mode)."""
        if self.choix in Score.__members__:
            return Score(self.choix)
        if self.choix == DETAIL and self.sous:
            return aggir.combine(self.variable, tuple(s.score for s in self.sous))
        return None


def blank_lines() -> list[Ligne]:
    return [Ligne(v, sous=[SousVariable(s, SUB_LABELS[(v, s)]) for s in SUB_VARIABLES.get(v, ())])
            for v in aggir.VARIABLES]


def lines_from_stored(stored: Any) -> list[Ligne]:
    """The form prefilled from the stored ``grille_aggir``. A sub-variable stored as a letter (the JSON API
    allows it) cannot be shown as adverbs: the variable is then shown with its derived letter."""
    lines = blank_lines()
    if not isinstance(stored, Mapping):
        return lines
    subs = stored.get("sous_variables") if isinstance(stored.get("sous_variables"), Mapping) else {}
    for line in lines:
        given = subs.get(line.variable.value) if subs else None
        if isinstance(given, Mapping) and all(isinstance(given.get(s.name), Mapping) for s in line.sous):
            line.choix = DETAIL
            for sub in line.sous:
                sub.adverbes = {k for k, v in given[sub.name].items() if v and k in {a.value for a in Adverbe}}
            continue
        letter = stored.get(line.variable.value)
        if isinstance(letter, str) and letter.strip().upper() in Score.__members__:
            line.choix = letter.strip().upper()
        elif isinstance(given, Mapping):
            with contextlib.suppress(AiguillageError):  # a malformed stored grid: shown unanswered
                line.choix = aggir.parse_grille({"sous_variables": {line.variable.value: dict(given)}})[
                    line.variable].value
    return lines


def lines_from_form(form: Mapping[str, Any], getlist: Any) -> list[Ligne]:
    """The form as typed; a variable left without a choice gets its French message (nothing typed is lost)."""
    lines = blank_lines()
    for line in lines:
        choix = str(form.get(f"v_{line.variable.value}") or "").strip().upper()
        for sub in line.sous:
            sub.adverbes = {a for a in getlist(f"sv_{line.variable.value}_{sub.name}")
                            if a in {x.value for x in Adverbe}}
        if not choix and any(sub.adverbes for sub in line.sous):
            choix = DETAIL  # adverbs ticked without choosing the mode (no script): they are the answer
        if choix not in Score.__members__ and not (choix == DETAIL and line.sous):
            choix = ""
            line.erreur = (f"Cotez la variable « {line.label} » : A, B ou C"
                           + (", ou par ses sous-variables." if line.sous else "."))
        line.choix = choix
    return lines


def grille_of(lines: list[Ligne]) -> dict[str, Any]:
    """The stored shape (``aggir.parse_grille``): a letter per variable scored directly, the adverbs of every
    sub-variable of a variable scored through them."""
    grille: dict[str, Any] = {}
    subs: dict[str, Any] = {}
    for line in lines:
        if line.choix == DETAIL:
            subs[line.variable.value] = {s.name: {a.value: a.value in s.adverbes for a in Adverbe} for s in line.sous}
        elif line.choix:
            grille[line.variable.value] = line.choix
    if subs:
        grille["sous_variables"] = subs
    return grille


def resultat_of(stored: Any) -> Resultat | None:
    if not isinstance(stored, Mapping) or not stored:
        return None
    try:
        return aggir.gir_of_grille(stored)
    except AiguillageError:
        return None


def aggir_table() -> str:
    """The official table for the live preview script: the same numbers the server uses, not a copy."""
    return json.dumps({
        "variables": [v.value for v in aggir.DISCRIMINANT],
        "groupes": [{"nom": g.name, "poids": [list(g.weights[v]) for v in aggir.DISCRIMINANT],
                     "seuils": [list(t) for t in g.thresholds], "repli": g.fallback_rang} for g in aggir.GROUPS],
        "rang_gir": {str(k): v for k, v in aggir.RANG_TO_GIR.items()},
        "combinaisons": {v.value: [[list(c) for c in a], [list(c) for c in c_]]
                         for v, (a, c_) in aggir.COMBINATIONS.items()},
        "sens": {str(k): v for k, v in GIR_MEANINGS.items()},
    }, ensure_ascii=False).replace("</", "<\\/")


# --- pages -----------------------------------------------------------------------------------------------------------


def _load_grand_age(uow: UnitOfWork, request: Request, user_id: int, dossier_id: int) -> tuple[Dossier, bool]:
    """The dossier (read right checked) and whether this user may fill its médical volet."""
    c = container(request)
    dossier, subject = dossiers.load(uow, c.env, user_id, dossier_id)
    if dossier.module is not Module.GRAND_AGE:
        raise Conflict("La grille AGGIR se remplit dans le volet médical d'un dossier Grand Âge.",
                       code="aggir.module")
    medical = allowed(subject, Action.VOLET_MEDICAL_MODIFIER, dossiers.scope_of(dossier), c.env.clock.now())
    return dossier, medical


def _page(request: Request, user_id: int, uow: UnitOfWork, dossier: Dossier, *, medical: bool,
          lines: list[Ligne] | None = None, erreurs: dict[str, str] | None = None, enregistre: bool = False,
          status: int = 200) -> Response:
    volet = dossier.volets.get(MEDICAL, {}) if medical else {}
    stored = volet.get("grille_aggir")
    patient = uow.patients.get(dossier.patient_id)
    return show(request, user_id, "grand_age/aggir.html", {
        "dossier": dossier, "patient": patient, "medical": medical,
        "lignes": lines if lines is not None else lines_from_stored(stored),
        "resultat": resultat_of(stored) if medical else None,
        "gir_saisi": volet.get("gir"), "grille_enregistree": bool(stored),
        "erreurs": erreurs or {}, "enregistre": enregistre, "sens": GIR_MEANINGS,
        "adverbes": ADVERB_LABELS, "scores": SCORE_LABELS, "DETAIL": DETAIL, "table_json": aggir_table(),
    }, status=status, uow=uow)


REFUS_MEDICAL = ("La grille AGGIR fait partie du volet médical : il faut une habilitation médicale sur ce dossier "
                 "(prescripteur médical, médecin traitant ou son confrère délégué) pour la consulter et la remplir.")


@router.get("/dossiers/{dossier_id}/aggir", summary="Grille AGGIR du dossier Grand Âge", response_class=HTMLResponse)
def aggir_page(dossier_id: int, request: Request, user_id: UserId, enregistre: int = 0) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, medical = _load_grand_age(uow, request, user_id, dossier_id)
        if not medical:
            return _page(request, user_id, uow, dossier, medical=False, erreurs={"_": REFUS_MEDICAL}, status=403)
        return _page(request, user_id, uow, dossier, medical=True, enregistre=bool(enregistre))


@router.post("/dossiers/{dossier_id}/aggir", summary="Enregistrer la grille AGGIR (GIR calculé)",
             response_class=HTMLResponse)
async def aggir_save(dossier_id: int, request: Request, user_id: UserId) -> Response:
    form = await request.form()
    return _save(request, user_id, dossier_id, form, form.getlist)


def _save(request: Request, user_id: int, dossier_id: int, form: Mapping[str, Any], getlist: Any) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, medical = _load_grand_age(uow, request, user_id, dossier_id)
        lines = lines_from_form(form, getlist)
        if not medical:
            return _page(request, user_id, uow, dossier, medical=False, lines=lines,
                         erreurs={"_": REFUS_MEDICAL}, status=403)
        missing = [line for line in lines if line.erreur]
        if missing:
            erreurs = {line.variable.value: line.erreur for line in missing}
            erreurs["_"] = ("La grille est incomplète : "
                            f"{', '.join(line.label for line in missing)}. Le GIR n'a pas été calculé.")
            return _page(request, user_id, uow, dossier, medical=True, lines=lines, erreurs=erreurs, status=422)
        try:
            # refused before any change (rights, archived or cancelled dossier, GIR rule): nothing to undo
            dossiers.modifier_volet(uow, c.env, user_id, dossier_id, MEDICAL, {"grille_aggir": grille_of(lines)})
        except AiguillageError as exc:
            if isinstance(exc, Forbidden):
                medical = False
            return _page(request, user_id, uow, dossier, medical=medical, lines=lines,
                         erreurs={"_": exc.message}, status=status_for(exc))
    return see_other(f"/dossiers/{dossier_id}/aggir?enregistre=1#resultat")


@router.post("/dossiers/{dossier_id}/dossier-grand-age", summary="Créer le dossier Grand Âge lié")
def create_linked(dossier_id: int, request: Request, user_id: UserId) -> Response:
    c = container(request)
    try:
        with c.uow() as uow:
            linked = dossiers.creer_grand_age_lie(uow, c.env, user_id, dossier_id)
            prefill.prefill_dossier(uow, c.env, linked.id or 0, user_id=user_id)  # the Grand Âge volets from the DPI
            linked_id = linked.id
    except Conflict as exc:
        if exc.code != "dossier.deja_lie":
            raise
        with c.uow() as uow:  # a second click, or another tab: the linked dossier already exists, go to it
            source, _ = dossiers.load(uow, c.env, user_id, dossier_id)
            linked_id = source.dossier_lie_id
    return see_other(f"/dossiers/{linked_id}")
