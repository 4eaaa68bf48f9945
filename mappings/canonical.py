"""The canonical patient / stay / clinical context: what every intake (HL7 v2 PAM FR, FHIR R4 FR Core) maps to,
and what the registry and the prefill read. One shape for both sources, so one pipeline and one prefill.

Rules:
- Every timestamp is tz-aware (HL7 local times are read as Europe/Paris, then kept aware).
- Values are the sender's, normalised only where the domain says so (sex F/M/U, identity status codes).
- ``provenance`` maps a canonical path ("patient.nom_naissance", "clinical.poids_kg", "contacts[0].nom") to where
  the value came from in the source ("PID-5[1].1", "Patient.name[0].family"); prefill carries it to each field.
- Nothing here is trusted yet: the INS is kept with its check (``ins_key_valid``) and the identity status the
  sender declared; ``ins`` and the registry decide what to trust.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class Source(StrEnum):
    HL7V2 = "hl7v2"
    FHIR = "fhir"


class IdentifierKind(StrEnum):
    IPP = "ipp"  # PID-3 CX-5 "PI"; FHIR identifier type PI. Assigner = FINESS (or the sender's namespace)
    INS_NIR = "ins_nir"  # OID 1.2.250.1.213.1.4.8
    INS_NIA = "ins_nia"  # 1.2.250.1.213.1.4.9
    INS_NIR_TEST = "ins_nir_test"  # 1.2.250.1.213.1.4.10
    INS_NIR_DEMO = "ins_nir_demo"  # 1.2.250.1.213.1.4.11
    NSS = "nss"  # billing NIR, CX-5 "NH": never the INS
    NDA = "nda"  # PID-18 / PV1-19 visit number, CX-5 "AN"/"VN"
    OTHER = "other"


INS_OIDS: dict[str, IdentifierKind] = {
    "1.2.250.1.213.1.4.8": IdentifierKind.INS_NIR,
    "1.2.250.1.213.1.4.9": IdentifierKind.INS_NIA,
    "1.2.250.1.213.1.4.10": IdentifierKind.INS_NIR_TEST,
    "1.2.250.1.213.1.4.11": IdentifierKind.INS_NIR_DEMO,
}
INS_KINDS = frozenset(INS_OIDS.values())


class Identifier(_Model):
    kind: IdentifierKind
    value: str  # INS: the 15 characters (13 + key) as sent; "" with ``deleted`` for an A47 INS deletion
    assigner: str = ""  # IPP/NDA: FINESS or namespace id; INS: the OID
    deleted: bool = False  # PAM FR A47: PID-3 INS value `""` means the INS is removed


class IdentityStatus(StrEnum):
    """Identity status as the sender declared it (PID-32, FHIR identity-reliability), mapped to RNIV."""

    PROVISOIRE = "provisoire"  # PROV, VIDE, or nothing
    RECUPEREE = "recuperee"  # RECUP
    VALIDEE = "validee"  # VALI in the FR Core development branch (validated without INS)
    QUALIFIEE = "qualifiee"  # VALI in PID-32 / FR Core 2.1.0 table 0445; QUAL in the development branch


class Sexe(StrEnum):
    F = "F"
    M = "M"
    INCONNU = "U"


class Address(_Model):
    lines: list[str] = Field(default_factory=list)
    code_postal: str = ""
    ville: str = ""
    pays: str = ""  # ISO 3166 or INSEE country code, as sent
    use: str = ""  # home, temp, birth (PID-11 XAD-7 BDL), …


class Telecom(_Model):
    system: str = "phone"  # phone, email, fax
    value: str = ""
    use: str = ""  # home, work, mobile


class ContactRole(StrEnum):
    PERSONNE_CONFIANCE = "personne_confiance"  # NK1-7 K
    REPRESENTANT_LEGAL = "representant_legal"  # NK1-7 R
    PERSONNE_A_PREVENIR = "personne_a_prevenir"  # NK1-7 C
    AUTRE = "autre"


class Contact(_Model):
    role: ContactRole
    nom: str = ""
    prenom: str = ""
    lien: str = ""  # relationship (NK1-3, RelatedPerson.relationship): conjoint, enfant…
    telecoms: list[Telecom] = Field(default_factory=list)
    address: Address | None = None


class Practitioner(_Model):
    """A health professional: médecin traitant (ROL ODRP), requester, signatory."""

    idnps: str = ""  # national id: 8 + RPPS, 0 + ADELI (OID 1.2.250.1.71.4.2.1)
    rpps: str = ""  # 11 digits
    adeli: str = ""
    nom: str = ""
    prenom: str = ""
    telecoms: list[Telecom] = Field(default_factory=list)
    address: Address | None = None


class Coverage(_Model):
    kind: str  # "AMO" (régime obligatoire) or "AMC" (mutuelle / complémentaire)
    organisme: str = ""  # name of the insurer
    organisme_id: str = ""  # IN1-3 / Coverage.payor identifier
    numero_adherent: str = ""
    debut: dt.date | None = None
    fin: dt.date | None = None


class Patient(_Model):
    identifiers: list[Identifier] = Field(default_factory=list)
    nom_naissance: str = ""  # PID-5 type L; HumanName use official
    prenoms: list[str] = Field(default_factory=list)  # birth first names in order (XPN-3, birth-list-given-name)
    nom_utilise: str = ""  # PID-5 type D; HumanName use usual
    prenom_utilise: str = ""
    date_naissance: dt.date | None = None
    sexe: Sexe = Sexe.INCONNU
    lieu_naissance_code: str = ""  # INSEE code (PID-11 BDL XAD-9, fr-core-patient-birth-place)
    addresses: list[Address] = Field(default_factory=list)
    telecoms: list[Telecom] = Field(default_factory=list)
    situation_familiale: str = ""  # PID-16 / maritalStatus code
    date_deces: AwareDatetime | None = None
    identity_status: IdentityStatus = IdentityStatus.PROVISOIRE
    identity_status_raw: str = ""  # PID-32 / extension code as sent, e.g. "VALI"
    identity_attributes: list[str] = Field(default_factory=list)  # homonyme, douteuse, fictive
    identity_source: str = ""  # ZFD-5 / methodCollection: SM, CV, INSI…
    insi_query_date: dt.date | None = None  # ZFD-6 / dateInterrogationINSi
    identity_document: str = ""  # ZFD-7 / validationMode: CN, PA…
    ins_key_valid: bool | None = None  # None when no INS was sent; False → warning, INS not trusted

    def identifier(self, kind: IdentifierKind) -> Identifier | None:
        return next((i for i in self.identifiers if i.kind is kind), None)

    @property
    def ins(self) -> Identifier | None:
        return next((i for i in self.identifiers if i.kind in INS_KINDS and not i.deleted), None)


class MovementAction(StrEnum):
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    CANCEL = "CANCEL"


class Movement(_Model):
    """ZBE (PAM FR): one movement of a stay; FHIR Encounter.location history maps here too."""

    id: str = ""  # ZBE-1
    start: AwareDatetime | None = None  # ZBE-2
    action: MovementAction = MovementAction.INSERT  # ZBE-4
    historic: bool = False  # ZBE-5
    original_trigger: str = ""  # ZBE-6, for UPDATE/CANCEL (Z99 corrections, A11…)
    uf_medicale: str = ""  # ZBE-7
    uf_soins: str = ""  # ZBE-8
    nature: str = ""  # ZBE-9: S, H, M, L, D, SM


class Stay(_Model):
    nda: str = ""  # PID-18 / PV1-19 / Encounter.identifier
    etablissement_finess: str = ""  # assigner of the NDA, or MSH-4 facility
    patient_class: str = ""  # PV1-2: I, O, E, R, N…
    uf: str = ""  # PV1-3 point of care / responsible UF
    location: str = ""  # PV1-3 as sent (room, bed)
    admit_at: AwareDatetime | None = None  # PV1-44
    discharge_at: AwareDatetime | None = None  # PV1-45
    expected_discharge_at: AwareDatetime | None = None
    attending: Practitioner | None = None  # PV1-7
    movement: Movement | None = None


class ClinicalKind(StrEnum):
    ANTECEDENT = "antecedent"
    ACTUEL = "actuel"  # current pathology / problem


class Condition(_Model):
    kind: ClinicalKind = ClinicalKind.ACTUEL
    code: str = ""
    system: str = ""  # CIM-10, SNOMED CT…
    text: str = ""
    onset: dt.date | None = None


class Medication(_Model):
    code: str = ""
    system: str = ""
    text: str = ""
    dosage: str = ""


class Allergy(_Model):
    code: str = ""
    system: str = ""
    text: str = ""
    criticality: str = ""


class Clinical(_Model):
    poids_kg: float | None = None  # LOINC 29463-7
    taille_cm: float | None = None  # LOINC 8302-2
    conditions: list[Condition] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    date_intervention: dt.date | None = None  # surgery date


class Module(StrEnum):
    SANITAIRE = "sanitaire"
    GRAND_AGE = "grand_age"


class AdmissionRequest(_Model):
    """What the DPI asks (FHIR ServiceRequest; the deep link's context): module, orientation, reason."""

    module: Module
    type_orientation: str = ""  # SMR, HAD, USP, EHPAD, USLD…
    requester: Practitioner | None = None
    reason: str = ""
    desired_date: dt.date | None = None
    type_accueil: str = ""  # Grand Âge: permanent, temporaire, jour, nuit
    external_id: str = ""  # ServiceRequest.identifier / id at the sender


class Issue(_Model):
    """A warning or error found while mapping: kept on the message, shown to the operator."""

    severity: str = "warning"  # warning | error
    code: str  # stable, e.g. "ins.cle_invalide", "pid32.absent"
    location: str = ""  # "PID-3[2]" or a FHIRPath
    message: str = ""  # French, for the operator


class Canonical(_Model):
    """One inbound message or resource set, mapped."""

    source: Source
    message_id: str  # MSH-10, or Bundle.id / resource id
    sender: str = ""  # MSH-3^MSH-4, or the FHIR client id
    event: str = ""  # A01, A28… (HL7 trigger); "Patient", "Bundle" for FHIR
    sent_at: AwareDatetime | None = None  # MSH-7 / meta.lastUpdated / Bundle.timestamp
    received_at: AwareDatetime | None = None
    patient: Patient | None = None
    prior_identifiers: list[Identifier] = Field(default_factory=list)  # A40 MRG-1 merged-away; A47 MRG-1 old ids
    stay: Stay | None = None
    contacts: list[Contact] = Field(default_factory=list)
    coverages: list[Coverage] = Field(default_factory=list)
    medecin_traitant: Practitioner | None = None  # ROL-3 ODRP; FHIR generalPractitioner
    clinical: Clinical | None = None
    admission_request: AdmissionRequest | None = None
    issues: list[Issue] = Field(default_factory=list)
    provenance: dict[str, str] = Field(default_factory=dict)
