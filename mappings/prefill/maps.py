"""The declarative field maps: one table per target volet, canonical path(s) → volet field (issue 6).

``FieldMap(field, path, transform)``: the first of ``path`` (a path or alternatives, in order of preference) that
resolves to a value gives the field, through ``transform``; with ``combine=True`` every path must resolve and the
transform receives all the values (IMC from weight and height). ``when`` restricts a map to some canonicals (the
INS only from a qualified identity with a valid key, RNIV). Fields of a volet without a map are those a DPI cannot
send in PAM FR or FR Core (type de logement, signature…): they stay for the user, and the report counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mappings.canonical import Canonical, IdentityStatus, Module
from mappings.prefill import transforms as t


@dataclass(frozen=True)
class FieldMap:
    field: str
    path: str | tuple[str, ...]
    transform: Callable[..., Any] = t.text
    combine: bool = False
    when: Callable[[Canonical], bool] | None = None
    aliases: tuple[str, ...] = ()  # provenance keys some intakes use instead of the path ("patient.ins")
    # identity vigilance: a message about the patient without a usable value clears the field (an INS deleted
    # by an A47, or an identity no longer qualified) instead of leaving the previous value in place
    clear_when_absent: bool = False

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,) if isinstance(self.path, str) else self.path


def _ins_trusted(c: Canonical) -> bool:
    """RNIV: the INS is shown and shared only with a qualified identity whose key checks."""
    return (c.patient is not None and c.patient.identity_status is IdentityStatus.QUALIFIEE
            and c.patient.ins_key_valid is not False)


def _request_for(module: Module) -> Callable[[Canonical], bool]:
    """The admission request's own fields (orientation type, reason, dates) fill only a dossier of its module: an
    EHPAD request says nothing about an SMR orientation."""
    def check(c: Canonical) -> bool:
        return c.admission_request is not None and c.admission_request.module is module
    return check


_SANITAIRE_REQUEST, _GRAND_AGE_REQUEST = _request_for(Module.SANITAIRE), _request_for(Module.GRAND_AGE)

IDENTITE: tuple[FieldMap, ...] = (
    FieldMap("nom_naissance", "patient.nom_naissance"),
    FieldMap("prenoms", "patient.prenoms", t.joined),
    FieldMap("nom_utilise", "patient.nom_utilise"),
    FieldMap("prenom_utilise", "patient.prenom_utilise"),
    FieldMap("date_naissance", "patient.date_naissance", t.iso_date),
    FieldMap("sexe", "patient.sexe", t.sexe),
    FieldMap("lieu_naissance_code", "patient.lieu_naissance_code"),
    FieldMap("numero_securite_sociale", "patient.identifiers[kind=nss].value", aliases=("patient.nss",)),
    FieldMap("adresse", ("patient.addresses[use=home]", "patient.addresses[use!=birth]"), t.address),
    FieldMap("telephone", ("patient.telecoms[system=phone]",), t.telecom),
    FieldMap("email", "patient.telecoms[system=email]", t.telecom),
    FieldMap("situation_familiale", "patient.situation_familiale", t.situation_familiale),
    FieldMap("personne_confiance", "contacts[role=personne_confiance]", t.contact),
    FieldMap("representant_legal", "contacts[role=representant_legal]", t.contact),
    FieldMap("mutuelle", "coverages[kind=AMC]", t.coverage),
)

SANITAIRE_ADMINISTRATIF_SOCIAL: tuple[FieldMap, ...] = (
    *IDENTITE,
    FieldMap("ins", ("patient.identifiers[kind=ins_nir].value", "patient.identifiers[kind=ins_nir_test].value",
                     "patient.identifiers[kind=ins_nir_demo].value"), when=_ins_trusted, aliases=("patient.ins",),
             clear_when_absent=True),
    FieldMap("personne_a_prevenir", "contacts[role=personne_a_prevenir]", t.contact),
    FieldMap("regime_obligatoire", "coverages[kind=AMO]", t.coverage),
    FieldMap("etablissement_demandeur", "stay.etablissement_finess"),
    FieldMap("service_demandeur", ("stay.uf", "stay.movement.uf_medicale")),
    FieldMap("medecin_traitant", "medecin_traitant", t.practitioner),
    FieldMap("date_hospitalisation", "stay.admit_at", t.paris_day),
    FieldMap("date_sortie_prevue", "stay.expected_discharge_at", t.paris_day),
    FieldMap("date_intervention", "clinical.date_intervention", t.iso_date),
)

SANITAIRE_MEDICAL: tuple[FieldMap, ...] = (
    FieldMap("antecedents", "clinical.conditions[*kind=antecedent]", t.conditions),
    FieldMap("pathologie_actuelle", "clinical.conditions[*kind=actuel]", t.conditions),
    FieldMap("poids_kg", "clinical.poids_kg", t.number),
    FieldMap("taille_cm", "clinical.taille_cm", t.number),
    FieldMap("imc", ("clinical.poids_kg", "clinical.taille_cm"), t.bmi, combine=True),
    FieldMap("traitements", "clinical.medications[*]", t.medications),
    FieldMap("allergies", "clinical.allergies[*]", t.allergies),
    FieldMap("date_intervention", "clinical.date_intervention", t.iso_date),
)

SANITAIRE_ORIENTATION: tuple[FieldMap, ...] = (
    FieldMap("type_orientation", "admission_request.type_orientation", t.lower, when=_SANITAIRE_REQUEST),
    FieldMap("motif_demande", "admission_request.reason", when=_SANITAIRE_REQUEST),
)

GRAND_AGE_ADMINISTRATIF: tuple[FieldMap, ...] = (
    *IDENTITE,
    # Cerfa 14732*03 "personne à contacter pour le suivi du dossier": the person to warn, else the trusted one
    FieldMap("personne_contact", ("contacts[role=personne_a_prevenir]", "contacts[role=personne_confiance]",
                                  "contacts[0]"), t.contact),
    FieldMap("motivation", "admission_request.reason", when=_GRAND_AGE_REQUEST),
    FieldMap("type_accueil", "admission_request.type_accueil", t.type_accueil, when=_GRAND_AGE_REQUEST),
    FieldMap("date_entree_souhaitee", "admission_request.desired_date", t.iso_date, when=_GRAND_AGE_REQUEST),
)

GRAND_AGE_MEDICAL: tuple[FieldMap, ...] = (
    FieldMap("contexte", "stay", t.contexte),
    FieldMap("antecedents", "clinical.conditions[*kind=antecedent]", t.conditions),
    FieldMap("problemes_actuels", "clinical.conditions[*kind=actuel]", t.conditions),
    FieldMap("traitements", "clinical.medications[*]", t.medications),
    FieldMap("allergies", "clinical.allergies[*]", t.allergies),
    FieldMap("medecin_traitant", "medecin_traitant", t.practitioner),
    # the requesting doctor fills and signs the volet médical; prefilled, the doctor confirms by signing
    FieldMap("medecin_signataire", "admission_request.requester", t.practitioner),
)

MAPS: dict[str, dict[str, tuple[FieldMap, ...]]] = {  # module → volet → field maps
    "sanitaire": {
        "orientation": SANITAIRE_ORIENTATION,
        "medical": SANITAIRE_MEDICAL,
        "administratif_social": SANITAIRE_ADMINISTRATIF_SOCIAL,
    },
    "grand_age": {
        "administratif": GRAND_AGE_ADMINISTRATIF,
        "medical": GRAND_AGE_MEDICAL,
    },
}
