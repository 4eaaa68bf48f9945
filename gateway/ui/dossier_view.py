"""How a dossier's volets are shown: French labels, values as text (Oui/Non, dd/mm/yyyy, lists, contacts), the
completion of each volet and its missing fields, the DPI provenance badges. Pure functions over the domain
objects, shared by the dossier page, its print view and (read-only) the receveur's view of a received dossier
(``templates/dossier/_volets_lecture.html``)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from orientation_core.demande.workflow import STATUS_LABELS, Status
from orientation_core.directory.model import MENTIONS_SMR, TYPE_UNITE_LABELS, TypeUnite
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import VOLETS, Completion, VoletSpec, completion, missing_fields
from orientation_core.history import HistoryEvent
from orientation_core.ports import UnitOfWork

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
    # history of demandes and of the dossier
    "date_debut": "Date de début", "date_fin": "Date de fin", "date_admission": "Date d'admission",
    "reponse": "Réponse", "anticipee": "Anticipée", "bloc_note": "Note interne",
}
KEY_LABELS: dict[str, str] = {
    "role": "Rôle", "nom": "Nom", "prenom": "Prénom", "lien": "Lien", "telephone": "Téléphone", "email": "Courriel",
    "adresse": "Adresse", "unite": "Unité", "type_mime": "Type de fichier", "taille": "Taille (octets)",
    "statut_identite": "Statut de l'identité", "piece_identite": "Pièce d'identité", "organisme": "Organisme",
    "organisme_id": "Identifiant de l'organisme",
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
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
STATUS_VALUES = frozenset(s.value for s in Status)


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
        if _ISO_DATETIME.match(value):
            return _paris(value)
        if name == "statut" and value in STATUS_VALUES:
            return STATUS_LABELS[Status(value)]
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
    modifiable: bool = True  # the reader may open its edit form (with ``edition_url`` in the partial)
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


def volet_view(dossier: Dossier, volet: VoletSpec, *, masque: bool = False, modifiable: bool = True) -> VoletView:
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
        couleur=COMPLETION_COLOURS[state], medical=volet.medical, masque=masque, modifiable=modifiable,
        manquants=[(f, label_of(f)) for f in missing_fields(volet, data)], champs=champs)


def volets_view(dossier: Dossier, *, medical_visible: bool = True, modifiable: bool = True,
                medical_modifiable: bool = True) -> list[VoletView]:
    """Every volet of the dossier; ``medical_visible=False`` keeps only the label and completion of medical volets
    (a receveur without a medical habilitation). ``modifiable`` / ``medical_modifiable``: which volets get their
    "Modifier" link when the partial has an ``edition_url``."""
    return [volet_view(dossier, v, masque=v.medical and not medical_visible,
                       modifiable=modifiable and (medical_modifiable or not v.medical))
            for v in VOLETS[dossier.module]]


# --- the edit form: the text of each input, and the typed text back to a value -------------------------------------

NUMBER_RANGES: dict[str, tuple[float, float]] = {"poids_kg": (0.5, 400), "taille_cm": (20, 260), "imc": (5, 100),
                                                 "gir": (1, 6)}
_KEY_OF_LABEL = {v.lower(): k for k, v in KEY_LABELS.items()}


def form_text(name: str, value: Any) -> str:
    """What the input of ``name`` shows for a stored value (parse_field reads it back to the same value)."""
    if value is None:
        return ""
    kind = widget_of(name)
    if kind == "bool":
        return "oui" if value is True else "non" if value is False else ""
    if kind == "list":
        return "\n".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    if kind == "dict" and isinstance(value, dict):
        return "\n".join(f"{KEY_LABELS.get(str(k), str(k))} : {v}" for k, v in value.items()
                         if v not in (None, "", [], {}))
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if kind == "number":
        return str(value).replace(".", ",")
    return str(value)


def _number(name: str, text: str) -> int | float:
    try:
        number = float(text.replace(",", ".").replace(" ", ""))
    except ValueError:
        raise ValueError("Saisissez un nombre (par exemple 72 ou 72,5).") from None
    low, high = NUMBER_RANGES.get(name, (0, 1_000_000))
    if not low <= number <= high:
        bounds = (f"{low:g}".replace(".", ","), f"{high:g}".replace(".", ","))
        raise ValueError(f"Saisissez une valeur entre {bounds[0]} et {bounds[1]}.")
    if name == "gir" and not number.is_integer():
        raise ValueError("Le GIR est un entier de 1 à 6.")
    return int(number) if number.is_integer() else number


def _date(name: str, text: str, today: dt.date) -> str:
    found: dt.date | None = None
    french = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    try:
        found = (dt.date(int(french[3]), int(french[2]), int(french[1])) if french
                 else dt.date.fromisoformat(text) if _ISO_DATE.match(text) else None)
    except ValueError:
        found = None
    if found is None:
        raise ValueError("Date invalide : saisissez-la au format jj/mm/aaaa.")
    if name == "date_naissance" and found > today:
        raise ValueError("La date de naissance ne peut pas être dans le futur.")
    if found.year < 1880:
        raise ValueError("Date invalide : l'année est trop ancienne.")
    return found.isoformat()


def _dict(text: str) -> dict[str, str] | str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not all(":" in line for line in lines):
        return " ".join(lines)  # free text: kept as typed
    out: dict[str, str] = {}
    for line in lines:
        label, _, value = line.partition(":")
        key = _KEY_OF_LABEL.get(label.strip().lower()) or label.strip().lower().replace(" ", "_")
        out[key] = value.strip()
    return out


def parse_field(name: str, raw: str, current: Any, today: dt.date) -> Any:
    """The typed text of one field as the value to store; raises ValueError with a French message. Text left as
    the form showed it keeps the stored value untouched (no spurious change, no provenance lost)."""
    text = raw.replace("\r\n", "\n").strip()
    if text == form_text(name, current).replace("\r\n", "\n").strip():
        return current
    kind = widget_of(name)
    if text == "":
        return None
    if kind == "bool":
        if text not in ("oui", "non"):
            raise ValueError("Choisissez Oui ou Non.")
        return text == "oui"
    if kind == "select":
        if text not in {code for code, _ in CHOICES[name]}:
            raise ValueError("Choisissez une valeur de la liste.")
        return text
    if kind == "number":
        return _number(name, text)
    if kind == "date":
        return _date(name, text, today)
    if kind == "list":
        return [line.strip() for line in text.split("\n") if line.strip()]
    if kind == "dict":
        return _dict(text)
    if len(text) > 4000:
        raise ValueError("Texte trop long (4 000 caractères au plus).")
    return text


@dataclass(frozen=True)
class Saisie:
    """One input of the edit form."""

    name: str
    label: str
    widget: str
    texte: str  # what the input shows (the stored value, or what the user typed before an error)
    requis: bool
    erreur: str = ""
    choix: tuple[tuple[str, str], ...] = ()
    provenance: Provenance | None = None


def form_inputs(dossier: Dossier, volet: VoletSpec, typed: dict[str, str] | None = None,
                errors: dict[str, str] | None = None) -> list[Saisie]:
    data = dossier.volets.get(volet.name, {})
    prov = dossier.provenance.get(volet.name, {})
    typed, errors = typed or {}, errors or {}
    return [Saisie(name=f, label=label_of(f), widget=widget_of(f),
                   texte=typed[f] if f in typed else form_text(f, data.get(f)), requis=f in volet.required,
                   erreur=errors.get(f, ""), choix=CHOICES.get(f, ()), provenance=provenance_of(prov.get(f), f))
            for f in volet.fields]


# --- history -------------------------------------------------------------------------------------------------------

ACTION_LABELS: dict[str, str] = {
    "dossier.creer": "Création du dossier", "bloc_note.modifier": "Note interne modifiée",
    "piece_jointe.ajouter": "Pièce jointe ajoutée", "dossier.lier": "Dossier lié créé",
    "dossier.transferer": "Transfert vers une autre unité", "dossier.retour_domicile": "Retour à domicile avant SSR",
    "dossier.annuler": "Dossier annulé", "dossier.reactiver": "Dossier réactivé",
    "relance_auto.annuler": "Relance automatique retirée", "orientation.modifiee": "Orientation modifiée : "
    "demandes à renvoyer", "prefill.appliquer": "Données reçues du DPI",
    "dossier.annulation_automatique": "Dossier annulé automatiquement", "dossier.archiver": "Dossier archivé",
    "demande.annulation_automatique": "Demande annulée automatiquement", "demande.archiver": "Demande archivée",
    "relance_auto": "Relance automatique du prescripteur", "volet_medical.consulter": "Volet médical consulté",
}
DEMANDE_ACTION_LABELS: dict[str, str] = {
    "selectionner": "Unité sélectionnée", "envoyer": "Demande envoyée", "annuler": "Demande annulée",
    "annuler_systeme": "Demande annulée automatiquement", "confirmer": "Proposition confirmée",
    "accorder": "Accord de principe", "accepter": "Demande acceptée", "refuser": "Demande refusée",
    "demander_precision": "Précision demandée", "repondre_precision": "Précision apportée",
    "finaliser_admission": "Admission finalisée", "relancer_receveur": "Relance du receveur",
    "relancer_prescripteur": "Relance du prescripteur", "renvoyer": "Demande renvoyée",
    "reactiver": "Demande réactivée",
}
IDENTITE_ACTION_LABELS: dict[str, str] = {
    "ins_recupere": "INS récupéré (identité récupérée)", "piece_validee": "Identité validée sur pièce d'identité",
    "verification_reussie": "INS vérifié", "verification_echouee": "Vérification de l'INS échouée",
    "traits_modifies": "Traits d'identité modifiés",
}
STATUT_IDENTITE_LABELS = {"provisoire": "identité provisoire", "recuperee": "identité récupérée",
                          "validee": "identité validée", "qualifiee": "identité qualifiée"}
ACTOR_LABELS = {"prescripteur": "prescripteur", "receveur": "receveur", "system": "système", "systeme": "système",
                "referent": "référent", "dpi": "DPI"}


def action_label(action: str, volet_labels: dict[str, str]) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    parts = action.split(".")
    if len(parts) == 3 and parts[0] == "volet":
        return f"Volet {volet_labels.get(parts[1], parts[1])} modifié"
    if parts[0] == "identite" and len(parts) == 2:
        return IDENTITE_ACTION_LABELS.get(parts[1], f"Identité : {parts[1].replace('_', ' ')}")
    if parts[0] == "demande" and len(parts) == 2:
        return DEMANDE_ACTION_LABELS.get(parts[1], f"Demande : {parts[1].replace('_', ' ')}")
    return action.replace("_", " ").replace(".", " : ").capitalize()


@dataclass(frozen=True)
class HistoryRow:
    at: dt.datetime
    qui: str
    action: str
    avant: list[str]
    apres: list[str]


def _changes(values: dict[str, Any], other: dict[str, Any], unites: dict[int, str]) -> list[str]:
    """``values`` as lines; when the event has both sides, only the keys that differ (a demande event carries
    its whole answer on both sides)."""
    lines = []
    for k, v in values.items():
        if other and k in other and other[k] == v:
            continue
        if k == "unite_id" and isinstance(v, int):
            text = unites.get(v) or str(v)
            k = "unite"
        elif k.startswith("statut") and isinstance(v, str) and v in STATUT_IDENTITE_LABELS:
            text = STATUT_IDENTITE_LABELS[v]
        else:
            text = display_text(k, v)
        lines.append(f"{KEY_LABELS.get(k) or label_of(k)} : {text or '(vide)'}")
    return lines


def history_rows(uow: UnitOfWork, dossier: Dossier, events: list[HistoryEvent]) -> list[HistoryRow]:
    """Who (name and side), when, what, before/after of each event, in French."""
    names: dict[int, str] = {}
    for user_id in {e.actor_user_id for e in events if e.actor_user_id is not None}:
        user = uow.users.get(user_id)
        names[user_id] = f"{user.prenom} {user.nom}"
    volet_labels = {v.name: v.label for v in VOLETS[dossier.module]}
    unites: dict[int, str] = {}  # demande id → its unit's name
    noms_unites: dict[int, str] = {}  # unit id → name
    if dossier.id is not None and any(e.demande_id is not None for e in events):
        for demande in uow.demandes.for_dossier(dossier.id):
            if demande.id is not None:
                unites[demande.id] = noms_unites.setdefault(
                    demande.unite_id, uow.directory.get_unite(demande.unite_id).nom)
    for e in events:
        for values in (e.avant, e.apres):
            unite_id = values.get("unite_id")
            if isinstance(unite_id, int) and unite_id not in noms_unites:
                noms_unites[unite_id] = uow.directory.get_unite(unite_id).nom
    rows = []
    for e in events:
        side = ACTOR_LABELS.get(e.actor_kind, e.actor_kind)
        qui = f"{names[e.actor_user_id]} ({side})" if e.actor_user_id in names else side.capitalize()
        action = action_label(e.action, volet_labels)
        if e.demande_id in unites:
            action += f" — {unites[e.demande_id]}"
        rows.append(HistoryRow(e.at, qui, action, _changes(e.avant, e.apres, noms_unites),
                               _changes(e.apres, e.avant, noms_unites)))
    return rows
