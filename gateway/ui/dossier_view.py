"""How a dossier's volets are shown: French labels, values as text (Oui/Non, dd/mm/yyyy, lists, contacts), the
completion of each volet and its missing fields, the DPI provenance badges. Pure functions over the domain
objects, shared by the dossier page, its print view and (read-only) the receveur's view of a received dossier
(``templates/dossier/_volets_lecture.html``)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from orientation_core.directory.model import MENTIONS_SMR, TYPE_UNITE_LABELS, TypeUnite
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import VOLETS, Completion, VoletSpec, completion, missing_fields

# --- field vocabulary -------------------------------------------------------------------------------------------

FIELD_LABELS: dict[str, str] = {
    "objectif_prise_en_charge": "Objectif de la prise en charge", "type_orientation": "Type d'orientation",
    "accord_patient": "Accord du patient", "criteres": "Besoins / critères", "mention_smr": "Mention SMR",
    "prado_propose": "PRADO proposé", "commentaire": "Commentaire", "motif_demande": "Motif de la demande",
    "pathologie_actuelle": "Pathologie actuelle", "antecedents": "Antécédents", "poids_kg": "Poids (kg)",
    "taille_cm": "Taille (cm)", "traitements": "Traitements", "allergies": "Allergies",
    "date_intervention": "Date de l'intervention", "isolement": "Isolement", "imc": "IMC",
    "soins_infirmiers": "Soins infirmiers", "dependance": "Dépendance", "projet": "Projet",
    "reeducation": "Rééducation", "appareillage": "Appareillage", "nom_naissance": "Nom de naissance",
    "prenoms": "Prénoms", "date_naissance": "Date de naissance", "sexe": "Sexe", "adresse": "Adresse",
    "service_demandeur": "Service demandeur", "date_hospitalisation": "Date d'hospitalisation",
    "type_logement": "Type de logement", "nom_utilise": "Nom utilisé", "telephone": "Téléphone",
    "personne_confiance": "Personne de confiance", "representant_legal": "Représentant légal",
    "personne_a_prevenir": "Personne à prévenir", "mutuelle": "Mutuelle", "medecin_traitant": "Médecin traitant",
    "intervenants_domicile": "Intervenants à domicile", "prenom_utilise": "Prénom utilisé",
    "lieu_naissance_code": "Lieu de naissance (code INSEE)", "ins": "INS",
    "numero_securite_sociale": "N° de sécurité sociale", "email": "Courriel",
    "situation_familiale": "Situation familiale", "regime_obligatoire": "Régime obligatoire",
    "etablissement_demandeur": "Établissement demandeur", "date_sortie_prevue": "Date de sortie prévue",
    "verifiees": "Pièces jointes vérifiées", "personne_contact": "Personne à contacter", "motivation": "Motivation",
    "type_accueil": "Type d'accueil", "date_entree_souhaitee": "Date d'entrée souhaitée",
    "signature": "Signature du demandeur", "aides_financieres": "Aides financières", "contexte": "Contexte",
    "problemes_actuels": "Problèmes actuels", "gir": "GIR", "medecin_signataire": "Médecin signataire",
    "directives_anticipees": "Directives anticipées", "grille_aggir": "Grille AGGIR",
}
KEY_LABELS: dict[str, str] = {
    "role": "Rôle", "nom": "Nom", "prenom": "Prénom", "lien": "Lien", "telephone": "Téléphone", "email": "Courriel",
    "adresse": "Adresse", "organisme": "Organisme", "organisme_id": "Identifiant de l'organisme",
    "numero_adherent": "N° d'adhérent", "debut": "Début", "fin": "Fin", "rpps": "RPPS", "specialite": "Spécialité",
}
DATE_FIELDS = frozenset({"date_naissance", "date_hospitalisation", "date_intervention", "date_sortie_prevue",
                         "date_entree_souhaitee"})
NUMBER_FIELDS = frozenset({"poids_kg", "taille_cm", "imc", "gir"})
BOOL_FIELDS = frozenset({"accord_patient", "prado_propose", "verifiees", "signature"})
LIST_FIELDS = frozenset({"criteres", "intervenants_domicile", "aides_financieres"})
DICT_FIELDS = frozenset({"personne_confiance", "representant_legal", "personne_a_prevenir", "mutuelle",
                         "medecin_traitant", "personne_contact"})
TEXTAREA_FIELDS = frozenset({"objectif_prise_en_charge", "commentaire", "motif_demande", "pathologie_actuelle",
                             "antecedents", "traitements", "allergies", "soins_infirmiers", "dependance", "projet",
                             "reeducation", "appareillage", "adresse", "contexte", "problemes_actuels",
                             "motivation", "directives_anticipees", "isolement"})
READ_ONLY_FIELDS = frozenset({"grille_aggir"})  # edited on the AGGIR grid page
SANITAIRE_ORIENTATIONS = (TypeUnite.SMR, TypeUnite.HAD, TypeUnite.USP, TypeUnite.SSIAD)
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "type_orientation": tuple((t.value, TYPE_UNITE_LABELS[t]) for t in SANITAIRE_ORIENTATIONS),
    "sexe": (("F", "Féminin"), ("M", "Masculin"), ("U", "Inconnu")),
    "type_accueil": (("permanent", "Permanent"), ("temporaire", "Temporaire"), ("jour", "Accueil de jour"),
                     ("nuit", "Accueil de nuit")),
    "mention_smr": tuple((m, m.replace("_", " ").capitalize()) for m in sorted(MENTIONS_SMR)),
    "gir": tuple((str(g), f"GIR {g}") for g in range(1, 7)),
}
COMPLETION_LABELS = {Completion.VIDE: "vide", Completion.EN_COURS: "en cours", Completion.COMPLET: "complet"}
COMPLETION_COLOURS = {Completion.VIDE: "gris", Completion.EN_COURS: "orange", Completion.COMPLET: "vert"}
SOURCE_LABELS = {"hl7v2": "DPI (HL7 v2)", "fhir": "DPI (FHIR)"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def label_of(name: str) -> str:
    return FIELD_LABELS.get(name) or (name.replace("_", " ")[:1].upper() + name.replace("_", " ")[1:])


def widget_of(name: str) -> str:
    """The form widget of a field: date, number, bool, select, list, dict, textarea, readonly or text."""
    for kind, names in (("readonly", READ_ONLY_FIELDS), ("date", DATE_FIELDS), ("bool", BOOL_FIELDS),
                        ("select", frozenset(CHOICES) - {"gir"}), ("number", NUMBER_FIELDS), ("list", LIST_FIELDS),
                        ("dict", DICT_FIELDS), ("textarea", TEXTAREA_FIELDS)):
        if name in names:
            return kind
    return "text"


def _date_text(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return _date_text(value)
        for code, text in CHOICES.get(name, ()):
            if code == value:
                return text
        return value
    return str(value)


def display_lines(name: str, value: Any) -> list[str]:
    """A stored value as the lines of text a user reads (empty list: nothing entered)."""
    if value is None or value == "" or value == [] or value == {}:
        return []
    if name == "grille_aggir" and isinstance(value, dict):
        return [f"{len(value)} variable(s) renseignée(s)"]
    if isinstance(value, dict):
        parts = [f"{KEY_LABELS.get(str(k), label_of(str(k)))} : {display_text(str(k), v)}"
                 for k, v in value.items() if v not in (None, "", [], {})]
        return ["; ".join(parts)] if parts else []
    if isinstance(value, list | tuple | set):
        return [line for item in value for line in (display_lines(name, item) or [])]
    return [_scalar(name, value)]


def display_text(name: str, value: Any) -> str:
    return "; ".join(display_lines(name, value))


# --- the view of the volets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    source: str  # "DPI (HL7 v2)"
    detail: str  # "message MSG0001, PID-5[1].1, reçu le 05/01/2026 10:00"
    differe: bool
    valeur_dpi: list[str]


@dataclass(frozen=True)
class ChampView:
    name: str
    label: str
    lignes: list[str]
    requis: bool
    provenance: Provenance | None = None


@dataclass(frozen=True)
class VoletView:
    name: str
    label: str
    completion: str  # vide / en_cours / complet
    completion_label: str  # vide / en cours / complet
    couleur: str  # badge colour: gris / orange / vert
    medical: bool
    masque: bool  # medical volet hidden from this reader
    manquants: list[tuple[str, str]] = field(default_factory=list)  # (field, label)
    champs: list[ChampView] = field(default_factory=list)


def _paris(value: str) -> str:
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    from gateway.ui.pages import datetime_fr  # the page helpers register the Jinja filters; import late
    return datetime_fr(at)


def provenance_of(entry: dict[str, Any] | None, name: str) -> Provenance | None:
    if not entry or not entry.get("source"):
        return None
    bits = []
    if entry.get("message_id"):
        bits.append(f"message {entry['message_id']}")
    if entry.get("emplacement"):
        bits.append(str(entry["emplacement"]))
    if entry.get("recu_le"):
        bits.append(f"reçu le {_paris(str(entry['recu_le']))}")
    return Provenance(source=SOURCE_LABELS.get(str(entry["source"]), f"DPI ({entry['source']})"),
                      detail=", ".join(bits), differe=bool(entry.get("differe")),
                      valeur_dpi=display_lines(name, entry.get("valeur_dpi")))


def volet_view(dossier: Dossier, volet: VoletSpec, *, masque: bool = False) -> VoletView:
    data = dossier.volets.get(volet.name, {})
    state = completion(volet, data)
    prov = dossier.provenance.get(volet.name, {})
    champs: list[ChampView] = []
    if not masque:
        names = list(volet.fields) + sorted(set(data) - set(volet.fields))
        for name in names:
            lignes = display_lines(name, data.get(name))
            origin = provenance_of(prov.get(name), name)
            if lignes or origin is not None:
                champs.append(ChampView(name, label_of(name), lignes, name in volet.required, origin))
    return VoletView(
        name=volet.name, label=volet.label, completion=state.value, completion_label=COMPLETION_LABELS[state],
        couleur=COMPLETION_COLOURS[state], medical=volet.medical, masque=masque,
        manquants=[(f, label_of(f)) for f in missing_fields(volet, data)], champs=champs)


def volets_view(dossier: Dossier, *, medical_visible: bool = True) -> list[VoletView]:
    """Every volet of the dossier; ``medical_visible=False`` keeps only the label and completion of medical volets
    (a receveur without a medical habilitation)."""
    return [volet_view(dossier, v, masque=v.medical and not medical_visible) for v in VOLETS[dossier.module]]
