"""FHIR R4 (FR Core) resources and Bundles → ``Canonical``.

References inside a Bundle are resolved by ``fullUrl`` (``urn:uuid:…`` included) and by ``Type/id``; each value
keeps its provenance as a FHIRPath-like path into the posted resource (``Patient.name[0].family``, or
``Bundle.entry[3].resource.valueQuantity.value`` for a Bundle). Nothing is trusted here: an INS whose key does
not compute is kept with ``ins_key_valid = False`` and a warning issue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fhir_profiles import (
    CS_MODULE,
    CS_TYPE_ORIENTATION,
    EXT_ADDRESS_INSEE_CODE,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_BIRTH_PLACE_INTL,
    EXT_IDENTITY_RELIABILITY,
    development_branch,
    identity_qualified,
)
from mappings.canonical import (
    INS_OIDS,
    Address,
    AdmissionRequest,
    Allergy,
    Canonical,
    Clinical,
    ClinicalKind,
    Condition,
    Contact,
    ContactRole,
    Coverage,
    Identifier,
    IdentifierKind,
    IdentityStatus,
    Issue,
    Medication,
    Module,
    Patient,
    Practitioner,
    Sexe,
    Source,
    Stay,
    Telecom,
)
from orientation_core.identite.cle import ins_key_valid

PARIS = ZoneInfo("Europe/Paris")
OID_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
SYSTEM_RPPS = "https://rpps.esante.gouv.fr"
OID_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
IPP_URN_PREFIX = "urn:aiguillage:ipp:"  # our own IPP system on read-back: urn:aiguillage:ipp:<FINESS>
LOINC = "http://loinc.org"
LOINC_WEIGHT = "29463-7"
LOINC_HEIGHT = "8302-2"
GENDER = {"female": Sexe.F, "male": Sexe.M}
CONTACT_ROLES = {"K": ContactRole.PERSONNE_CONFIANCE, "R": ContactRole.REPRESENTANT_LEGAL,
                 "C": ContactRole.PERSONNE_A_PREVENIR}
STATUS_0445 = {"VALI": IdentityStatus.QUALIFIEE, "PROV": IdentityStatus.PROVISOIRE,
               "VIDE": IdentityStatus.PROVISOIRE, "DOUT": IdentityStatus.PROVISOIRE,
               "FICT": IdentityStatus.PROVISOIRE}
STATUS_DEV = {"PROV": IdentityStatus.PROVISOIRE, "RECUP": IdentityStatus.RECUPEREE,
              "VALI": IdentityStatus.VALIDEE, "QUAL": IdentityStatus.QUALIFIEE}
ATTRIBUTES_0445 = {"DOUT": "douteuse", "FICT": "fictive"}


@dataclass
class Located:
    resource: dict[str, Any]
    path: str  # FHIRPath of the resource itself: "Patient" or "Bundle.entry[3].resource"


@dataclass
class _Index:
    """A Bundle's resources by fullUrl and by Type/id, for reference resolution."""

    by_ref: dict[str, Located] = field(default_factory=dict)
    items: list[Located] = field(default_factory=list)

    def add(self, located: Located, full_url: str | None) -> None:
        self.items.append(located)
        if full_url:
            self.by_ref[full_url] = located
        rid, rtype = located.resource.get("id"), located.resource.get("resourceType")
        if rid and rtype:
            self.by_ref[f"{rtype}/{rid}"] = located
            if full_url and "/" in full_url and not full_url.startswith("urn:"):
                self.by_ref[full_url.rsplit("/", 2)[-2] + "/" + full_url.rsplit("/", 1)[-1]] = located

    def resolve(self, reference: Any) -> Located | None:
        if not isinstance(reference, dict):
            return None
        ref = reference.get("reference")
        if not isinstance(ref, str):
            return None
        found = self.by_ref.get(ref)
        if found is None and "/_history/" in ref:
            found = self.by_ref.get(ref.split("/_history/")[0])
        return found

    def of_type(self, resource_type: str) -> Iterator[Located]:
        return (item for item in self.items if item.resource.get("resourceType") == resource_type)


def _index(resource_or_bundle: dict[str, Any]) -> _Index:
    index = _Index()
    if resource_or_bundle.get("resourceType") == "Bundle":
        for i, entry in enumerate(resource_or_bundle.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                index.add(Located(resource, f"Bundle.entry[{i}].resource"), entry.get("fullUrl"))
    else:
        index.add(Located(resource_or_bundle, str(resource_or_bundle.get("resourceType", ""))), None)
    return index


# ====================================================================================================================
# Small readers
# ====================================================================================================================


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _code_in(concept: Any, system: str | None = None) -> str:
    for coding in _codings(concept):
        if system is None or coding.get("system") == system:
            return str(coding.get("code", ""))
    return ""


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _instant(value: Any) -> dt.datetime | None:
    """FHIR dateTime → aware datetime; a date or a local time without offset is read in Europe/Paris."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), PARIS).astimezone(dt.UTC)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    return parsed.astimezone(dt.UTC)


def _telecoms(resource: dict[str, Any]) -> list[Telecom]:
    return [Telecom(system=str(t.get("system", "phone")), value=str(t.get("value", "")), use=str(t.get("use", "")))
            for t in resource.get("telecom") or [] if isinstance(t, dict)]


def _address(address: dict[str, Any]) -> Address:
    return Address(lines=[str(x) for x in address.get("line") or []], code_postal=str(address.get("postalCode", "")),
                   ville=str(address.get("city", "")), pays=str(address.get("country", "")),
                   use=str(address.get("use", "")))


def _name(resource: dict[str, Any]) -> tuple[str, str]:
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    if isinstance(resource.get("name"), dict):  # RelatedPerson.name is a list too; tolerate a single object
        names = [resource["name"]]
    if not names:
        return "", ""
    name = names[0]
    given = name.get("given") or []
    return str(name.get("family", "")), str(given[0]) if given else ""


def _extension(resource: dict[str, Any], *urls: str) -> tuple[int, dict[str, Any]] | None:
    for i, ext in enumerate(resource.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") in urls:
            return i, ext
    return None


# ====================================================================================================================
# Resources
# ====================================================================================================================


def _identifiers(patient: dict[str, Any], path: str, out: Canonical) -> list[Identifier]:
    found: list[Identifier] = []
    for i, ident in enumerate(patient.get("identifier") or []):
        if not isinstance(ident, dict):
            continue
        system, value = str(ident.get("system", "")), str(ident.get("value", ""))
        type_code = _code_in(ident.get("type"))
        oid = system.removeprefix("urn:oid:")
        loc = f"{path}.identifier[{i}]"
        if type_code == "NH":  # billing NIR: never the INS, even under the NIR OID
            found.append(Identifier(kind=IdentifierKind.NSS, value=value, assigner=oid))
        elif oid in INS_OIDS:
            found.append(Identifier(kind=INS_OIDS[oid], value=value, assigner=oid))
            out.provenance["patient.ins"] = f"{loc}.value"
        elif type_code == "PI" or system.startswith(IPP_URN_PREFIX):
            assigner = ident.get("assigner") or {}
            finess = str((assigner.get("identifier") or {}).get("value", "")) if isinstance(assigner, dict) else ""
            if not finess and system.startswith(IPP_URN_PREFIX):
                finess = system.removeprefix(IPP_URN_PREFIX)
            found.append(Identifier(kind=IdentifierKind.IPP, value=value, assigner=finess or oid))
            out.provenance["patient.ipp"] = f"{loc}.value"
        else:
            found.append(Identifier(kind=IdentifierKind.OTHER, value=value, assigner=system))
    return found


def _identity(patient: dict[str, Any], path: str, model: Patient, out: Canonical) -> None:
    found = _extension(patient, EXT_IDENTITY_RELIABILITY)
    if found is None:
        return
    index, ext = found
    for j, sub in enumerate(ext.get("extension") or []):
        if not isinstance(sub, dict):
            continue
        loc = f"{path}.extension[{index}].extension[{j}]"
        url = sub.get("url")
        if url == "identityStatus":
            coding = sub.get("valueCoding") or {}
            system, code = coding.get("system"), str(coding.get("code", ""))
            dev = development_branch(system, code)
            table = STATUS_DEV if dev else STATUS_0445
            model.identity_status = table.get(code, IdentityStatus.PROVISOIRE)
            if identity_qualified(system, code):
                model.identity_status = IdentityStatus.QUALIFIEE
            model.identity_status_raw = code
            if not dev and code in ATTRIBUTES_0445:
                model.identity_attributes.append(ATTRIBUTES_0445[code])
            out.provenance["patient.identity_status"] = f"{loc}.valueCoding.code"
        elif url == "identityMethodCollection":
            model.identity_source = str(sub.get("valueCode") or _code_in(sub.get("valueCodeableConcept"))
                                        or (sub.get("valueCoding") or {}).get("code", ""))
            out.provenance["patient.identity_source"] = f"{loc}.value"
        elif url == "dateInterrogationINSi":
            model.insi_query_date = _date(sub.get("valueDate") or sub.get("valueDateTime"))
            out.provenance["patient.insi_query_date"] = f"{loc}.value"
        elif url == "validationMode":
            model.identity_document = str((sub.get("valueCoding") or {}).get("code", ""))
            out.provenance["patient.identity_document"] = f"{loc}.valueCoding.code"


def _patient(located: Located, out: Canonical) -> Patient:
    resource, path = located.resource, located.path
    model = Patient(identifiers=_identifiers(resource, path, out))
    for i, name in enumerate(resource.get("name") or []):
        if not isinstance(name, dict):
            continue
        given = [str(g) for g in name.get("given") or []]
        if name.get("use") == "official" or (not model.nom_naissance and name.get("use") in (None, "")):
            model.nom_naissance = str(name.get("family", ""))
            model.prenoms = given
            out.provenance["patient.nom_naissance"] = f"{path}.name[{i}].family"
            out.provenance["patient.prenoms"] = f"{path}.name[{i}].given"
        elif name.get("use") == "usual":
            model.nom_utilise = str(name.get("family", ""))
            model.prenom_utilise = given[0] if given else ""
            out.provenance["patient.nom_utilise"] = f"{path}.name[{i}].family"
            if given:
                out.provenance["patient.prenom_utilise"] = f"{path}.name[{i}].given[0]"
    listed = _extension(resource, EXT_BIRTH_LIST_GIVEN_NAME)
    if listed is not None and isinstance(listed[1].get("valueString"), str):
        model.prenoms = listed[1]["valueString"].split()  # the full birth list wins over name.given
        out.provenance["patient.prenoms"] = f"{path}.extension[{listed[0]}].valueString"
    model.date_naissance = _date(resource.get("birthDate"))
    if model.date_naissance:
        out.provenance["patient.date_naissance"] = f"{path}.birthDate"
    model.sexe = GENDER.get(str(resource.get("gender", "")), Sexe.INCONNU)
    if "gender" in resource:
        out.provenance["patient.sexe"] = f"{path}.gender"
    place = _extension(resource, EXT_BIRTH_PLACE, EXT_BIRTH_PLACE_INTL)
    if place is not None:
        address = place[1].get("valueAddress") or {}
        for k, ext in enumerate(address.get("extension") or []):
            if isinstance(ext, dict) and ext.get("url") == EXT_ADDRESS_INSEE_CODE:
                model.lieu_naissance_code = str((ext.get("valueCoding") or {}).get("code", ""))
                out.provenance["patient.lieu_naissance_code"] = (
                    f"{path}.extension[{place[0]}].valueAddress.extension[{k}].valueCoding.code")
    model.addresses = [_address(a) for a in resource.get("address") or [] if isinstance(a, dict)]
    model.telecoms = _telecoms(resource)
    model.situation_familiale = _code_in(resource.get("maritalStatus"))
    deceased = resource.get("deceasedDateTime")
    model.date_deces = _instant(deceased)
    _identity(resource, path, model, out)
    ins = model.ins
    if ins is not None:
        model.ins_key_valid = ins_key_valid(ins.value)
        if not model.ins_key_valid:
            out.issues.append(Issue(severity="warning", code="ins.cle_invalide",
                                    location=out.provenance.get("patient.ins", path),
                                    message="La clé du matricule INS ne se vérifie pas : INS non fiable."))
    return model


def _practitioner(located: Located | None, index: _Index) -> Practitioner | None:
    if located is None:
        return None
    resource = located.resource
    if resource.get("resourceType") == "PractitionerRole":
        return _practitioner(index.resolve(resource.get("practitioner")), index)
    if resource.get("resourceType") != "Practitioner":
        return None
    model = Practitioner()
    for ident in resource.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        if ident.get("system") == OID_IDNPS:
            model.idnps = str(ident.get("value", ""))
        elif ident.get("system") == SYSTEM_RPPS:
            model.rpps = str(ident.get("value", ""))
    if model.idnps.startswith("8") and not model.rpps:
        model.rpps = model.idnps[1:]  # IDNPS = 8 + RPPS
    elif model.idnps.startswith("0") and not model.adeli:
        model.adeli = model.idnps[1:]  # IDNPS = 0 + ADELI
    model.nom, model.prenom = _name(resource)
    model.telecoms = _telecoms(resource)
    return model


def _stay(located: Located, index: _Index, out: Canonical) -> Stay:
    resource, path = located.resource, located.path
    stay = Stay()
    for i, ident in enumerate(resource.get("identifier") or []):
        if isinstance(ident, dict) and ident.get("value"):
            stay.nda = str(ident["value"])
            assigner = ident.get("assigner") or {}
            stay.etablissement_finess = str((assigner.get("identifier") or {}).get("value", ""))
            out.provenance["stay.nda"] = f"{path}.identifier[{i}].value"
            break
    provider = resource.get("serviceProvider")
    if not stay.etablissement_finess and isinstance(provider, dict):
        stay.etablissement_finess = str((provider.get("identifier") or {}).get("value", ""))
    klass = resource.get("class")
    stay.patient_class = {"IMP": "I", "AMB": "O", "EMER": "E", "PRENC": "R"}.get(
        str(klass.get("code", "")) if isinstance(klass, dict) else "", "")
    period = resource.get("period") or {}
    stay.admit_at = _instant(period.get("start"))
    stay.discharge_at = _instant(period.get("end"))
    if stay.admit_at:
        out.provenance["stay.admit_at"] = f"{path}.period.start"
    for i, loc in enumerate(resource.get("location") or []):
        location = loc.get("location") if isinstance(loc, dict) else None
        if isinstance(location, dict):
            stay.uf = str((location.get("identifier") or {}).get("value", ""))
            stay.location = str(location.get("display", ""))
            out.provenance["stay.uf"] = f"{path}.location[{i}].location.identifier.value"
            break
    for participant in resource.get("participant") or []:
        if isinstance(participant, dict):
            stay.attending = _practitioner(index.resolve(participant.get("individual")), index)
            if stay.attending:
                break
    return stay


def _quantity(resource: dict[str, Any], unit_to_base: dict[str, float]) -> float | None:
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    factor = unit_to_base.get(str(quantity.get("code") or quantity.get("unit") or ""), 1.0)
    return round(float(quantity["value"]) * factor, 3)


def _clinical(index: _Index, out: Canonical) -> Clinical | None:
    clinical = Clinical()
    touched = False
    for located in index.of_type("Observation"):
        code = _code_in(located.resource.get("code"), LOINC)
        if code == LOINC_WEIGHT:
            clinical.poids_kg = _quantity(located.resource, {"kg": 1.0, "g": 0.001})
            out.provenance["clinical.poids_kg"] = f"{located.path}.valueQuantity.value"
            touched = True
        elif code == LOINC_HEIGHT:
            clinical.taille_cm = _quantity(located.resource, {"cm": 1.0, "m": 100.0, "mm": 0.1})
            out.provenance["clinical.taille_cm"] = f"{located.path}.valueQuantity.value"
            touched = True
    for located in index.of_type("Condition"):
        r = located.resource
        coding = next(iter(_codings(r.get("code"))), {})
        categories = {c.get("code") for cat in r.get("category") or [] for c in _codings(cat)}
        clinical_status = _code_in(r.get("clinicalStatus"))
        kind = ClinicalKind.ANTECEDENT if clinical_status in ("resolved", "inactive", "remission") \
            or ("problem-list-item" in categories and clinical_status != "active") else ClinicalKind.ACTUEL
        out.provenance[f"clinical.conditions[{len(clinical.conditions)}]"] = f"{located.path}.code"
        clinical.conditions.append(Condition(
            kind=kind, code=str(coding.get("code", "")), system=str(coding.get("system", "")),
            text=str((r.get("code") or {}).get("text") or coding.get("display", "")),
            onset=_date(r.get("onsetDateTime"))))
        touched = True
    for located in index.of_type("MedicationStatement"):
        r = located.resource
        concept = r.get("medicationCodeableConcept") or {}
        coding = next(iter(_codings(concept)), {})
        dosage = next((d.get("text", "") for d in r.get("dosage") or [] if isinstance(d, dict)), "")
        out.provenance[f"clinical.medications[{len(clinical.medications)}]"] = (
            f"{located.path}.medicationCodeableConcept")
        clinical.medications.append(Medication(
            code=str(coding.get("code", "")), system=str(coding.get("system", "")),
            text=str(concept.get("text") or coding.get("display", "")), dosage=str(dosage)))
        touched = True
    for located in index.of_type("AllergyIntolerance"):
        r = located.resource
        coding = next(iter(_codings(r.get("code"))), {})
        out.provenance[f"clinical.allergies[{len(clinical.allergies)}]"] = f"{located.path}.code"
        clinical.allergies.append(Allergy(
            code=str(coding.get("code", "")), system=str(coding.get("system", "")),
            text=str((r.get("code") or {}).get("text") or coding.get("display", "")),
            criticality=str(r.get("criticality", ""))))
        touched = True
    return clinical if touched else None


def _contacts(index: _Index, out: Canonical) -> list[Contact]:
    contacts: list[Contact] = []
    for located in index.of_type("RelatedPerson"):
        r = located.resource
        role, lien = ContactRole.AUTRE, ""
        for concept in r.get("relationship") or []:
            for coding in _codings(concept):
                code = str(coding.get("code", ""))
                if code in CONTACT_ROLES and role is ContactRole.AUTRE:
                    role = CONTACT_ROLES[code]
                elif not lien:
                    lien = str(coding.get("display") or code)
        nom, prenom = _name(r)
        addresses = [a for a in r.get("address") or [] if isinstance(a, dict)]
        out.provenance[f"contacts[{len(contacts)}].role"] = f"{located.path}.relationship"
        out.provenance[f"contacts[{len(contacts)}].nom"] = f"{located.path}.name[0].family"
        contacts.append(Contact(role=role, nom=nom, prenom=prenom, lien=lien, telecoms=_telecoms(r),
                                address=_address(addresses[0]) if addresses else None))
    return contacts


def _coverages(index: _Index, out: Canonical) -> list[Coverage]:
    coverages: list[Coverage] = []
    for located in index.of_type("Coverage"):
        r = located.resource
        kind = _code_in(r.get("type")) or "AMC"
        payor = next((p for p in r.get("payor") or [] if isinstance(p, dict)), {})
        period = r.get("period") or {}
        out.provenance[f"coverages[{len(coverages)}]"] = f"{located.path}"
        coverages.append(Coverage(
            kind=kind.upper() if kind.upper() in ("AMO", "AMC") else "AMC", organisme=str(payor.get("display", "")),
            organisme_id=str((payor.get("identifier") or {}).get("value", "")),
            numero_adherent=str(r.get("subscriberId", "")), debut=_date(period.get("start")),
            fin=_date(period.get("end"))))
    return coverages


def _admission(located: Located, index: _Index, out: Canonical) -> AdmissionRequest | None:
    r, path = located.resource, located.path
    module_code = next((_code_in(c, CS_MODULE) for c in r.get("category") or [] if _code_in(c, CS_MODULE)), "")
    try:
        module = Module(module_code)
    except ValueError:
        out.issues.append(Issue(severity="error", code="servicerequest.module", location=f"{path}.category",
                                message="Module (Sanitaire / Grand Âge) absent ou inconnu."))
        return None
    out.provenance["admission_request.module"] = f"{path}.category"
    request = AdmissionRequest(module=module)
    request.type_orientation = _code_in(r.get("code"), CS_TYPE_ORIENTATION) or _code_in(r.get("code"))
    if request.type_orientation:
        out.provenance["admission_request.type_orientation"] = f"{path}.code.coding[0].code"
    request.requester = _practitioner(index.resolve(r.get("requester")), index)
    reasons = [str(c.get("text") or next((x.get("display", "") for x in _codings(c)), ""))
               for c in r.get("reasonCode") or [] if isinstance(c, dict)]
    request.reason = "; ".join(x for x in reasons if x)
    if request.reason:
        out.provenance["admission_request.reason"] = f"{path}.reasonCode"
    desired = r.get("occurrenceDateTime") or (r.get("occurrencePeriod") or {}).get("start")
    request.desired_date = _date(desired)
    if request.desired_date:
        out.provenance["admission_request.desired_date"] = (
            f"{path}.occurrenceDateTime" if "occurrenceDateTime" in r else f"{path}.occurrencePeriod.start")
    for detail in r.get("orderDetail") or []:
        code = _code_in(detail, "urn:aiguillage:fhir:CodeSystem/type-accueil")
        if code:
            request.type_accueil = code
    ident = next((i for i in r.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    request.external_id = str(ident["value"]) if ident else str(r.get("id", ""))
    return request


def to_canonical(resource_or_bundle: dict[str, Any], *, received_at: dt.datetime | None = None,
                 sender: str = "") -> Canonical:
    """One posted resource or Bundle (transaction, batch, collection, message) → one ``Canonical``.

    The Bundle is read as one patient's context: its first Patient is the patient, the others are ignored
    with a warning. The dispatcher of inbox rows with source "fhir" calls this."""
    index = _index(resource_or_bundle)
    root_type = str(resource_or_bundle.get("resourceType", ""))
    meta = resource_or_bundle.get("meta") or {}
    out = Canonical(
        source=Source.FHIR,
        message_id=str(resource_or_bundle.get("id", "")),
        sender=sender,
        event=root_type,
        sent_at=_instant(resource_or_bundle.get("timestamp") or meta.get("lastUpdated")),
        received_at=received_at,
    )
    patients = list(index.of_type("Patient"))
    if patients:
        out.patient = _patient(patients[0], out)
        for extra in patients[1:]:
            out.issues.append(Issue(severity="warning", code="bundle.plusieurs_patients", location=extra.path,
                                    message="Plusieurs patients dans le même Bundle : seul le premier est lu."))
        gp_refs = patients[0].resource.get("generalPractitioner") or []
        for ref in gp_refs:
            out.medecin_traitant = _practitioner(index.resolve(ref), index)
            if out.medecin_traitant:
                out.provenance["medecin_traitant"] = f"{patients[0].path}.generalPractitioner[0]"
                break
    encounter = next(index.of_type("Encounter"), None)
    if encounter is not None:
        out.stay = _stay(encounter, index, out)
    out.clinical = _clinical(index, out)
    out.contacts = _contacts(index, out)
    out.coverages = _coverages(index, out)
    service_request = next(index.of_type("ServiceRequest"), None)
    if service_request is not None:
        out.admission_request = _admission(service_request, index, out)
    return out
