"""Prefill glue (issue 6): the patient's DPI context → ``mappings.prefill`` → ``orientation_core.dossier.prefill``.

Two entry points for the rest of the gateway:

- ``prefill_dossier(uow, env, dossier_id)``: right after a dossier is created (API ``POST /dossiers`` and the
  linked Grand Âge dossier), prefill it from the patient's DPI context;
- ``refresh_patient(uow, env, patient_id)``: whenever the intake pipeline has updated a patient's DPI context
  (``orientation_core.patients.registry.save_context``, merges included), refresh every open dossier of the
  patient — unedited fields follow the DPI, edited ones are kept and flagged.

Both run inside the caller's unit of work (same transaction as the change that triggered them).

``report`` / ``report_text``: the share of each volet's fields the demo feeds prefill (``aiguillage prefill-report``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError

from mappings.canonical import Canonical, IdentifierKind
from mappings.prefill import as_plain, completeness, prefill
from orientation_core.dossier import prefill as dossier_prefill
from orientation_core.dossier.provenance import Change
from orientation_core.dossier.volets import VOLETS, Module
from orientation_core.patients.model import PatientContexte, TypeIdentifiantPatient
from orientation_core.ports import Env, UnitOfWork

log = structlog.get_logger("aiguillage.prefill")

_KINDS = {TypeIdentifiantPatient.IPP: IdentifierKind.IPP, TypeIdentifiantPatient.INS_NIR: IdentifierKind.INS_NIR,
          TypeIdentifiantPatient.INS_NIA: IdentifierKind.INS_NIA,
          TypeIdentifiantPatient.INS_NIR_TEST: IdentifierKind.INS_NIR_TEST,
          TypeIdentifiantPatient.INS_NIR_DEMO: IdentifierKind.INS_NIR_DEMO}
_SECTIONS = {"identite": "patient", "addresses": "patient.addresses", "telecoms": "patient.telecoms",
             "sejour": "stay"}  # the DPI context's flat sections → canonical paths (gateway/intake/translate.py)


def _canonical_path(key: str) -> str | None:
    """DPI-context provenance key → canonical path; identifier positions are not kept (the registry reorders
    them), so their keys are dropped rather than pointing at the wrong PID-3 repetition."""
    head, dot, rest = key.partition(".")
    root = head.split("[")[0]
    if root == "identite" and rest.startswith("identifiers"):
        return None
    if root in _SECTIONS:
        return _SECTIONS[root] + head[len(root):] + (dot + rest if dot else "")
    return key


def canonical_from_context(uow: UnitOfWork, patient_id: int, contexte: PatientContexte) -> Canonical:
    """One stored DPI context (latest sections per source, ``orientation_core.patients.registry.save_context``)
    with the registry's identity, as a canonical message. The message id is the last message that updated the
    context; the identity traits are the registry's (the INS only on a qualified identity)."""
    patient = uow.patients.get(patient_id)
    data = contexte.donnees
    identite: dict[str, Any] = dict(data.get("identite") or {})  # type: ignore[call-overload]
    identifiers: list[dict[str, Any]] = [
        {"kind": _KINDS[i.type].value, "value": i.valeur, "assigner": i.autorite}
        for i in uow.patients.identifiers(patient_id) if i.type in _KINDS]
    if identite.get("nss"):
        identifiers.append({"kind": IdentifierKind.NSS.value, "value": identite["nss"]})
    canonical_patient = {
        "identifiers": identifiers, "nom_naissance": patient.nom_naissance, "prenoms": list(patient.prenoms),
        "nom_utilise": patient.nom_utilise, "prenom_utilise": patient.prenom_utilise,
        "date_naissance": patient.date_naissance, "sexe": patient.sexe.value,
        "lieu_naissance_code": patient.lieu_naissance_code, "identity_status": patient.statut_identite.value,
        "addresses": data.get("addresses") or [], "telecoms": data.get("telecoms") or [],
        **{k: v for k, v in identite.items() if k in _PATIENT_EXTRA},
    }
    provenance = {path: where for key, where in contexte.provenance.items()
                  if (path := _canonical_path(key)) is not None}
    return Canonical.model_validate({
        "source": contexte.source, "message_id": contexte.message_id, "received_at": contexte.updated_at,
        "patient": canonical_patient, "stay": data.get("sejour"), "contacts": data.get("contacts") or [],
        "coverages": data.get("coverages") or [], "medecin_traitant": data.get("medecin_traitant"),
        "clinical": data.get("clinical"), "admission_request": data.get("admission_request"),
        "provenance": provenance,
    })


_PATIENT_EXTRA = frozenset({"situation_familiale", "date_deces", "identity_source", "insi_query_date",
                            "identity_document", "identity_status_raw", "identity_attributes"})


def dpi_context(uow: UnitOfWork, patient_id: int) -> list[Canonical]:
    """The patient's DPI contexts, oldest update first, so the most recent source wins a field both carry."""
    contextes = sorted(uow.patients.contextes(patient_id),
                       key=lambda c: (c.updated_at is not None, c.updated_at or dt.datetime.min.replace(tzinfo=dt.UTC),
                                      c.source))
    out = []
    for contexte in contextes:
        try:
            out.append(canonical_from_context(uow, patient_id, contexte))
        except ValidationError as exc:  # a context the prefill cannot read must not fail the message that saved it
            log.error("prefill.contexte_illisible", patient_id=patient_id, source=contexte.source,
                      erreurs=len(exc.errors()))
    return out


def prefill_dossier(uow: UnitOfWork, env: Env, dossier_id: int, *, user_id: int | None = None,
                    canonicals: list[Canonical] | None = None) -> list[Change]:
    """Prefill one dossier from its patient's DPI context (or from ``canonicals`` when given)."""
    dossier = uow.dossiers.get(dossier_id)
    if not dossier.ouvert:
        return []
    found = dpi_context(uow, dossier.patient_id) if canonicals is None else canonicals
    if not found:
        return []
    values = as_plain(prefill(found, dossier.module))
    return dossier_prefill.appliquer_au_dossier(uow, env, dossier, values, user_id=user_id)


def refresh_patient(uow: UnitOfWork, env: Env, patient_id: int, *, canonicals: list[Canonical] | None = None
                    ) -> dict[int, list[Change]]:
    """Refresh every open dossier of the patient after its DPI context changed; dossier id → what changed.
    A patient without an open dossier costs one query (the common case for an ADT feed)."""
    open_dossiers = [d for d in uow.dossiers.for_patient(patient_id) if d.ouvert and d.id is not None]
    if not open_dossiers:
        return {}
    found = dpi_context(uow, patient_id) if canonicals is None else canonicals
    if not found:
        return {}
    values = {module: as_plain(prefill(found, module)) for module in {d.module for d in open_dossiers}}
    return {d.id: dossier_prefill.appliquer_au_dossier(uow, env, d, values[d.module])
            for d in open_dossiers if d.id is not None}


# ---- golden files and the report ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    path: Path
    canonical: Canonical | None  # None: the message was rejected, nothing reaches a dossier


def load_samples(samples: Path) -> dict[str, list[Sample]]:
    """The demo feeds' golden canonical files: HL7 v2 ``*.expected.json`` ({outcome, canonical}) and FHIR
    ``*.canonical.json`` (a canonical)."""
    feeds: dict[str, list[Sample]] = {"hl7v2": [], "fhir": []}
    for golden in sorted((samples / "hl7v2").glob("*.expected.json")):
        data = json.loads(golden.read_text(encoding="utf-8"))
        ok = data.get("outcome") == "accepted" and data.get("canonical")
        feeds["hl7v2"].append(Sample(golden, Canonical.model_validate(data["canonical"]) if ok else None))
    for golden in sorted((samples / "fhir").glob("*.canonical.json")):
        feeds["fhir"].append(Sample(golden, Canonical.model_validate_json(golden.read_text(encoding="utf-8"))))
    return feeds


def sample_stem(path: Path) -> str:
    return path.name.removesuffix(".expected.json").removesuffix(".canonical.json")


def golden_prefill(sample: Sample) -> dict[str, Any]:
    """What ``<sample>.prefill.json`` holds: the Sanitaire and Grand Âge prefill of that one message."""
    canonicals = [sample.canonical] if sample.canonical is not None else []
    return {module.value: as_plain(prefill(canonicals, module)) for module in Module}


def _patient_key(c: Canonical) -> str:
    if c.patient is None:
        return f"message:{c.message_id}"
    ipp = c.patient.identifier(IdentifierKind.IPP)
    return f"ipp:{ipp.assigner}:{ipp.value}" if ipp else f"message:{c.message_id}"


@dataclass(frozen=True)
class VoletShare:
    module: str
    volet: str
    label: str
    remplis: int
    champs: int
    manquants: tuple[str, ...]

    @property
    def taux(self) -> float:
        return self.remplis / self.champs if self.champs else 0.0


TARGETS = {"administratif_social": 0.8, "administratif": 0.8, "medical": 0.6}
FEED_LABELS = {"hl7v2": "flux HL7 v2 de démonstration (samples/hl7v2)",
               "fhir": "flux FHIR de démonstration (samples/fhir)",
               "plafond": "plafond : un DPI qui envoie tout ce que le modèle canonique porte (PAM FR + FR Core)"}


def full_context(module: Module) -> Canonical:
    """A DPI context with every section the canonical model carries: the ceiling the field maps reach. Fields
    still missing there are those no DPI message carries (type de logement, signature, GIR…)."""
    return Canonical.model_validate({
        "source": "fhir", "message_id": "plafond", "event": "Bundle",
        "patient": {
            "identifiers": [{"kind": "ipp", "value": "1", "assigner": "690001011"},
                            {"kind": "ins_nir", "value": "275126322074974", "assigner": "1.2.250.1.213.1.4.8"},
                            {"kind": "nss", "value": "275126322074974"}],
            "nom_naissance": "ADRUN", "prenoms": ["ZOE", "MARIE"], "nom_utilise": "DUPONT", "prenom_utilise": "ZOE",
            "date_naissance": "1935-12-31", "sexe": "F", "lieu_naissance_code": "63220",
            "addresses": [{"lines": ["12 rue des Lilas"], "code_postal": "69003", "ville": "Lyon", "use": "home"}],
            "telecoms": [{"system": "phone", "value": "0478000000"}, {"system": "email", "value": "z@example.fr"}],
            "situation_familiale": "W", "identity_status": "qualifiee", "ins_key_valid": True},
        "stay": {"nda": "1", "etablissement_finess": "690001011", "uf": "1101", "patient_class": "I",
                 "admit_at": "2026-03-15T08:00:00+01:00", "expected_discharge_at": "2026-03-30T12:00:00+02:00"},
        "contacts": [{"role": r, "nom": "ADRUN", "prenom": "PAUL"}
                     for r in ("personne_confiance", "representant_legal", "personne_a_prevenir")],
        "coverages": [{"kind": "AMO", "organisme": "CPAM DU RHONE"}, {"kind": "AMC", "organisme": "MGEN"}],
        "medecin_traitant": {"idnps": "810100000058", "nom": "MOREAU", "prenom": "Luc"},
        "clinical": {"poids_kg": 61.5, "taille_cm": 164, "date_intervention": "2026-03-16",
                     "conditions": [{"kind": "antecedent", "text": "HTA"}, {"kind": "actuel", "text": "Fracture"}],
                     "medications": [{"text": "Énoxaparine"}], "allergies": [{"text": "Amoxicilline"}]},
        "admission_request": {"module": module.value, "reason": "Perte d'autonomie", "desired_date": "2026-04-01",
                              "type_orientation": "SMR" if module is Module.SANITAIRE else "EHPAD",
                              "type_accueil": "" if module is Module.SANITAIRE else "permanent",
                              "requester": {"idnps": "810100000017", "nom": "MARTIN", "prenom": "Claire"}},
    })


def _shares(canonicals: list[Canonical], modules: tuple[Module, ...] = tuple(Module)) -> list[VoletShare]:
    shares = []
    for module in modules:
        filled = completeness(module, prefill(canonicals, module))
        for volet in VOLETS[module]:
            if volet.name != "pieces_jointes":
                got = filled[volet.name]
                shares.append(VoletShare(module.value, volet.name, volet.label, len(got.remplis), got.champs,
                                         got.manquants))
    return shares


def report(samples: Path) -> dict[str, list[tuple[str, int, list[VoletShare]]]]:
    """Per feed, per patient of the feed (its messages in order, as its DPI context accumulates them): the share
    of each volet's fields prefilled; then the ceiling. Attachments are left out (never prefilled by nature)."""
    out: dict[str, list[tuple[str, int, list[VoletShare]]]] = {}
    for feed, items in load_samples(samples).items():
        patients: dict[str, list[Canonical]] = {}
        for sample in items:
            if sample.canonical is not None:
                patients.setdefault(_patient_key(sample.canonical), []).append(sample.canonical)
        rows = []
        for key, canonicals in patients.items():
            canonicals.sort(key=lambda c: (c.sent_at is not None, c.sent_at or 0))
            rows.append((key, len(canonicals), _shares(canonicals)))
        rows.sort(key=lambda r: -sum(s.remplis for s in r[2]))  # the richest DPI context first
        out[feed] = rows
    out["plafond"] = [("tous les champs DPI", 1, [s for m in Module for s in _shares([full_context(m)], (m,))])]
    return out


def report_text(samples: Path) -> str:
    lines: list[str] = ["Part des champs de chaque volet préremplis depuis le DPI (pièces jointes exclues)."]
    for feed, rows in report(samples).items():
        lines.append("")
        lines.append(f"== {FEED_LABELS[feed]} : {len(rows)} contexte(s) patient ==")
        for rank, (key, count, shares) in enumerate(rows):
            lines.append(f"  patient {key} — {count} message(s)")
            for s in shares:
                target = TARGETS.get(s.volet)
                mark = "" if target is None else \
                    f"  (objectif {target:.0%} : {'atteint' if s.taux >= target else 'non atteint'})"
                lines.append(f"    {s.module:<10} {s.label:<26} {s.remplis:>2}/{s.champs:<2} {s.taux:>4.0%}{mark}")
                if rank == 0 and s.manquants:  # what is missing, for the richest context of the feed
                    lines.append(f"      manquants : {', '.join(s.manquants)}")
    return "\n".join(lines)
