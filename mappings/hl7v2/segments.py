"""Segment readers shared by the message families: MSH, PID, PV1/PV2, ZBE, ROL, NK1, IN1/IN2, ZFD, MRG.

Each reader writes canonical values and records where each one came from in ``Canonical.provenance``
("patient.nom_naissance" → "PID-5[1].1"). Nothing here decides trust: the INS is kept with its key check and the
declared PID-32 status, and an issue says why it must not be trusted.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from mappings.canonical import (
    INS_OIDS,
    Address,
    Canonical,
    Contact,
    ContactRole,
    Coverage,
    Identifier,
    IdentifierKind,
    IdentityStatus,
    Issue,
    Movement,
    MovementAction,
    Patient,
    Practitioner,
    Sexe,
    Stay,
    Telecom,
)
from mappings.hl7v2.er7 import Message, Rep, Segment
from orientation_core.identite.cle import ins_key_valid

PARIS = ZoneInfo("Europe/Paris")  # HL7 times without an offset are French local time (PAM FR)
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")

# PID-32 (PAM FR 2.11, table "statut de l'identité" and attributes) → RNIV status / attribute.
PID32_STATUS: dict[str, IdentityStatus] = {
    "VIDE": IdentityStatus.PROVISOIRE,
    "PROV": IdentityStatus.PROVISOIRE,
    "RECUP": IdentityStatus.RECUPEREE,
    "VALI": IdentityStatus.QUALIFIEE,
    "QUAL": IdentityStatus.QUALIFIEE,
}
PID32_ATTRIBUTES: dict[str, str] = {"HOMA": "homonyme", "DOUT": "douteuse", "FICT": "fictive"}
# NK1-7 contact role (PAM FR): K personne de confiance, R représentant légal, C personne à prévenir.
NK1_ROLES: dict[str, ContactRole] = {
    "K": ContactRole.PERSONNE_CONFIANCE,
    "R": ContactRole.REPRESENTANT_LEGAL,
    "C": ContactRole.PERSONNE_A_PREVENIR,
}
ADDRESS_USE: dict[str, str] = {"H": "home", "BDL": "birth", "C": "temp", "O": "work", "B": "work", "M": "postal"}
MOVEMENT_EVENTS_INSERT = frozenset({"A05", "A01", "A04", "A06", "A07", "A02", "A03", "A21", "A22", "A54"})
MOVEMENT_EVENTS_CANCEL: dict[str, tuple[str, ...]] = {
    # cancel event → the inserts it cancels (PAM FR pairs)
    "A38": ("A05",), "A11": ("A01", "A04"), "A12": ("A02",), "A13": ("A03",),
    "A52": ("A21",), "A53": ("A22",), "A55": ("A54",),
}
MOVEMENT_EVENTS = MOVEMENT_EVENTS_INSERT | frozenset(MOVEMENT_EVENTS_CANCEL) | {"Z99"}
IDENTITY_EVENTS = frozenset({"A28", "A31", "A47", "A40"})
SUPPORTED_EVENTS = MOVEMENT_EVENTS | IDENTITY_EVENTS


def issue(canonical: Canonical, code: str, location: str, message: str, severity: str = "warning") -> None:
    canonical.issues.append(Issue(severity=severity, code=code, location=location, message=message))


def parse_dtm(value: str) -> dt.datetime | None:
    """HL7 DTM → aware datetime; no offset means Europe/Paris. None when empty or not a date."""
    match = _DTM.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, offset = match.groups()
    try:
        micro = int((frac or "0").ljust(6, "0")[:6])
        tz: dt.tzinfo = PARIS
        if offset:
            sign = 1 if offset[0] == "+" else -1
            tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        return dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                           int(second or 0), micro, tzinfo=tz)
    except ValueError:
        return None


def parse_date(value: str) -> dt.date | None:
    parsed = parse_dtm(value)
    return parsed.date() if parsed is not None else None


def _hd(rep: Rep, component: int) -> tuple[str, str]:
    """An HD inside a component: (namespace, universal id)."""
    return rep.sub(component, 1), rep.sub(component, 2)


# ---- MSH ------------------------------------------------------------------------------------------------------------

def read_msh(msg: Message, canonical: Canonical) -> None:
    msh = msg.msh
    canonical.sender = msg.sender
    canonical.event = msg.event
    canonical.sent_at = parse_dtm(msh.value(7))
    canonical.provenance.update({"message_id": "MSH-10", "sender": "MSH-3^MSH-4", "event": "MSH-9.2",
                                 "sent_at": "MSH-7"})


def facility_id(msg: Message) -> str:
    """MSH-4: the universal id (FINESS) when sent, else the namespace."""
    rep = msg.msh.field(4).first
    return rep.component(2) or rep.component(1)


# ---- PID ------------------------------------------------------------------------------------------------------------

def read_cx(rep: Rep) -> tuple[str, str, str, str]:
    """CX → (value, assigner namespace, assigner OID/FINESS, type code): CX-1, CX-4.1, CX-4.2, CX-5."""
    ns, uid = _hd(rep, 4)
    return rep.component(1), ns, uid, rep.component(5)


def identifier_from_cx(rep: Rep) -> Identifier | None:
    value, ns, uid, type_code = read_cx(rep)
    if rep.is_null or (not value and not type_code):
        return None
    deleted = rep.raw.startswith('""') and value == '""'
    if type_code == "INS" or uid in INS_OIDS:
        kind = INS_OIDS.get(uid, IdentifierKind.INS_NIR)
        if deleted:  # PAM FR A47: PID-3 INS value "" removes the INS
            return Identifier(kind=kind, value="", assigner=uid, deleted=True)
        return Identifier(kind=kind, value=value, assigner=uid)
    kinds = {"PI": IdentifierKind.IPP, "NH": IdentifierKind.NSS, "AN": IdentifierKind.NDA, "VN": IdentifierKind.NDA}
    kind = kinds.get(type_code, IdentifierKind.OTHER)
    return Identifier(kind=kind, value=value, assigner=uid or ns)


def read_identifiers(msg: Message, seg: Segment, field_no: int, canonical: Canonical,
                     target: list[Identifier], path: str) -> None:
    for i, rep in enumerate(seg.field(field_no).reps, start=1):
        ident = identifier_from_cx(rep)
        if ident is None:
            continue
        canonical.provenance[f"{path}[{len(target)}]"] = f"{seg.name}-{field_no}[{i}]"
        target.append(ident)


def read_xpn_names(seg: Segment, field_no: int, patient: Patient, canonical: Canonical, prefix: str) -> None:
    """PID-5: type L = birth name (XPN-2 first first name, XPN-3 the full birth first-name list), D = used name."""
    loc = f"{seg.name}-{field_no}"
    for i, rep in enumerate(seg.field(field_no).reps, start=1):
        kind = rep.component(7) or "L"
        family, given, others = rep.sub(1, 1), rep.component(2), rep.component(3)
        if kind == "L":
            patient.nom_naissance = family
            canonical.provenance[f"{prefix}.nom_naissance"] = f"{loc}[{i}].1"
            patient.prenoms = others.split() if others else ([given] if given else [])
            canonical.provenance[f"{prefix}.prenoms"] = f"{loc}[{i}].3" if others else f"{loc}[{i}].2"
        elif kind == "D":
            patient.nom_utilise = family
            patient.prenom_utilise = given
            canonical.provenance[f"{prefix}.nom_utilise"] = f"{loc}[{i}].1"
            if given:
                canonical.provenance[f"{prefix}.prenom_utilise"] = f"{loc}[{i}].2"
    if not patient.nom_naissance and patient.nom_utilise:
        issue(canonical, "pid5.nom_naissance_absent", loc, "Nom de naissance (PID-5 de type L) absent.")


def read_xad(rep: Rep) -> Address:
    lines = [x for x in (rep.sub(1, 1), rep.component(2)) if x]
    use_code = rep.component(7)
    return Address(lines=lines, ville=rep.component(3), code_postal=rep.component(5), pays=rep.component(6),
                   use=ADDRESS_USE.get(use_code, use_code.lower()))


def read_xtn(rep: Rep) -> Telecom | None:
    use_code, equipment = rep.component(2), rep.component(3)
    if use_code == "NET" or equipment in ("Internet", "X.400"):
        value, system = rep.component(4) or rep.component(1), "email"
    else:
        value = rep.component(12) or rep.component(1)
        system = "fax" if equipment == "FX" else "phone"
    if not value:
        return None
    use = "mobile" if equipment == "CP" else {"PRN": "home", "WPN": "work", "ORN": "home"}.get(use_code, "")
    return Telecom(system=system, value=value, use=use)


def read_pid(msg: Message, canonical: Canonical) -> Patient | None:
    pid = msg.segment("PID")
    if pid is None:
        return None
    patient = Patient()
    read_identifiers(msg, pid, 3, canonical, patient.identifiers, "patient.identifiers")
    read_xpn_names(pid, 5, patient, canonical, "patient")
    born = pid.value(7)
    if born:
        patient.date_naissance = parse_date(born)
        canonical.provenance["patient.date_naissance"] = "PID-7"
        if patient.date_naissance is None:
            issue(canonical, "pid7.invalide", "PID-7", f"Date de naissance illisible : « {born} ».")
    sex = pid.value(8)
    if sex:
        patient.sexe = Sexe(sex) if sex in ("F", "M") else Sexe.INCONNU
        canonical.provenance["patient.sexe"] = "PID-8"
    for i, rep in enumerate(pid.field(11).reps, start=1):
        if rep.empty or rep.is_null:
            continue
        address = read_xad(rep)
        if rep.component(7) == "BDL":  # PAM FR: the birthplace INSEE code is XAD-9 of the BDL repetition
            patient.lieu_naissance_code = rep.component(9)
            canonical.provenance["patient.lieu_naissance_code"] = f"PID-11[{i}].9"
        canonical.provenance[f"patient.addresses[{len(patient.addresses)}]"] = f"PID-11[{i}]"
        patient.addresses.append(address)
    for field_no in (13, 14):
        for i, rep in enumerate(pid.field(field_no).reps, start=1):
            telecom = read_xtn(rep)
            if telecom is not None:
                if field_no == 14 and not telecom.use:
                    telecom.use = "work"
                canonical.provenance[f"patient.telecoms[{len(patient.telecoms)}]"] = f"PID-{field_no}[{i}]"
                patient.telecoms.append(telecom)
    if pid.value(16):
        patient.situation_familiale = pid.value(16)
        canonical.provenance["patient.situation_familiale"] = "PID-16"
    if pid.value(29):
        patient.date_deces = parse_dtm(pid.value(29))
        canonical.provenance["patient.date_deces"] = "PID-29"
    read_pid32(pid, patient, canonical)
    check_ins(patient, canonical)
    return patient


def read_pid32(pid: Segment, patient: Patient, canonical: Canonical) -> None:
    codes = [rep.value for rep in pid.field(32).reps if rep.value]
    for code in codes:
        if code in PID32_STATUS:
            patient.identity_status = PID32_STATUS[code]
            patient.identity_status_raw = code
        elif code in PID32_ATTRIBUTES:
            patient.identity_attributes.append(PID32_ATTRIBUTES[code])
        else:
            issue(canonical, "pid32.inconnu", "PID-32", f"Code de statut d'identité inconnu : « {code} ».")
    if codes:
        canonical.provenance["patient.identity_status"] = "PID-32"
    if "douteuse" in patient.identity_attributes and "fictive" in patient.identity_attributes:
        issue(canonical, "pid32.attributs_incompatibles", "PID-32",
              "Les attributs « douteuse » et « fictive » ne peuvent pas être combinés.")
    if {"douteuse", "fictive"} & set(patient.identity_attributes) and patient.identity_status is not (
            IdentityStatus.PROVISOIRE):
        issue(canonical, "pid32.statut_force_provisoire", "PID-32",
              "Identité douteuse ou fictive : statut ramené à provisoire.")
        patient.identity_status = IdentityStatus.PROVISOIRE


def check_ins(patient: Patient, canonical: Canonical) -> None:
    """PAM FR: the INS is trusted only with PID-32 VALI and a key that computes; otherwise an issue."""
    ins = patient.ins
    if ins is None:
        return
    loc = canonical.provenance.get(f"patient.identifiers[{patient.identifiers.index(ins)}]", "PID-3")
    patient.ins_key_valid = ins_key_valid(ins.value)
    if not patient.ins_key_valid:
        issue(canonical, "ins.cle_invalide", loc,
              "La clé de l'INS ne correspond pas au matricule : INS non fiable, ignoré.")
    if patient.identity_status_raw not in ("VALI", "QUAL"):
        issue(canonical, "ins.sans_vali", loc,
              "INS transmis sans statut d'identité VALI (PID-32) : INS ignoré.")


# ---- MRG ------------------------------------------------------------------------------------------------------------

def read_mrg(msg: Message, canonical: Canonical) -> None:
    mrg = msg.segment("MRG")
    if mrg is None:
        return
    read_identifiers(msg, mrg, 1, canonical, canonical.prior_identifiers, "prior_identifiers")


# ---- PV1 / PV2 / ZBE -----------------------------------------------------------------------------------------------

def read_xcn(rep: Rep) -> Practitioner | None:
    """XCN (PAM FR / ANS): XCN-1 id, XCN-2 family, XCN-3 given, XCN-9 ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO,
    XCN-13 RPPS / ADELI / IDNPS."""
    ident, kind = rep.component(1), rep.component(13)
    if not ident and not rep.sub(2, 1):
        return None
    doc = Practitioner(nom=rep.sub(2, 1), prenom=rep.component(3))
    if kind == "RPPS":
        doc.rpps, doc.idnps = ident, f"8{ident}"
    elif kind == "ADELI":
        doc.adeli, doc.idnps = ident, f"0{ident}"
    else:  # IDNPS or unspecified national id: 8 + RPPS, 0 + ADELI
        doc.idnps = ident
        if ident.startswith("8") and len(ident) == 12:
            doc.rpps = ident[1:]
        elif ident.startswith("0") and len(ident) == 10:
            doc.adeli = ident[1:]
    return doc


def _xon_code(rep: Rep) -> str:
    """XON: XON-10 organisation identifier (the UF code in PAM FR), else XON-1 name."""
    return rep.component(10) or rep.component(1)


def read_stay(msg: Message, canonical: Canonical) -> Stay | None:
    pv1, pid = msg.segment("PV1"), msg.segment("PID")
    if pv1 is None and (pid is None or not pid.value(18)):
        return None
    stay = Stay()
    nda_rep = pid.field(18).first if pid is not None and pid.value(18) else None
    nda_loc = "PID-18"
    if nda_rep is None and pv1 is not None and pv1.value(19):
        nda_rep, nda_loc = pv1.field(19).first, "PV1-19"
    if nda_rep is not None:
        value, ns, uid, _ = read_cx(nda_rep)
        stay.nda = value
        stay.etablissement_finess = uid or ns
        canonical.provenance["stay.nda"] = f"{nda_loc}.1"
        if stay.etablissement_finess:
            canonical.provenance["stay.etablissement_finess"] = f"{nda_loc}.4"
    if not stay.etablissement_finess:
        stay.etablissement_finess = facility_id(msg)
        canonical.provenance["stay.etablissement_finess"] = "MSH-4"
    if pv1 is not None:
        if pv1.value(2):
            stay.patient_class = pv1.value(2)
            canonical.provenance["stay.patient_class"] = "PV1-2"
        loc = pv1.field(3).first
        if not loc.empty:
            stay.uf = loc.component(1)
            stay.location = "^".join(p for p in (loc.component(1), loc.component(2), loc.component(3)) if p)
            canonical.provenance["stay.uf"] = "PV1-3.1"
            canonical.provenance["stay.location"] = "PV1-3"
        attending = read_xcn(pv1.field(7).first)
        if attending is not None:
            stay.attending = attending
            canonical.provenance["stay.attending"] = "PV1-7[1]"
        if pv1.value(44):
            stay.admit_at = parse_dtm(pv1.value(44))
            canonical.provenance["stay.admit_at"] = "PV1-44"
        if pv1.value(45):
            stay.discharge_at = parse_dtm(pv1.value(45))
            canonical.provenance["stay.discharge_at"] = "PV1-45"
    pv2 = msg.segment("PV2")
    if pv2 is not None and pv2.value(9):
        stay.expected_discharge_at = parse_dtm(pv2.value(9))
        canonical.provenance["stay.expected_discharge_at"] = "PV2-9"
    stay.movement = read_zbe(msg, canonical)
    return stay


def read_zbe(msg: Message, canonical: Canonical) -> Movement | None:
    zbe = msg.segment("ZBE")
    if zbe is None:
        return None
    action_raw = zbe.value(4)
    movement = Movement(
        id=zbe.value(1),
        start=parse_dtm(zbe.value(2)),
        action=MovementAction(action_raw) if action_raw in MovementAction.__members__ else MovementAction.INSERT,
        historic=zbe.value(5) == "Y",
        original_trigger=zbe.value(6),
        uf_medicale=_xon_code(zbe.field(7).first),
        uf_soins=_xon_code(zbe.field(8).first),
        nature=zbe.value(9),
    )
    for path, loc in (("id", "ZBE-1"), ("start", "ZBE-2"), ("action", "ZBE-4"), ("historic", "ZBE-5"),
                      ("original_trigger", "ZBE-6"), ("uf_medicale", "ZBE-7.10"), ("uf_soins", "ZBE-8.10"),
                      ("nature", "ZBE-9")):
        if getattr(movement, path) not in ("", None, False):
            canonical.provenance[f"stay.movement.{path}"] = loc
    return movement


# ---- ROL / NK1 / IN1 / IN2 / ZFD -----------------------------------------------------------------------------------

def read_rol(msg: Message, canonical: Canonical) -> None:
    for seg in msg.segments("ROL"):
        if seg.value(3) != "ODRP":  # ROL-3 ODRP = médecin traitant (PAM FR)
            continue
        if seg.value(2) == "DE":  # ROL-2 action DE: the role is deleted at the sender
            continue
        doc = read_xcn(seg.field(4).first)
        if doc is None:
            issue(canonical, "rol.medecin_traitant_vide", f"ROL[{seg.index}]-4",
                  "Médecin traitant (ROL ODRP) sans identifiant ni nom.")
            continue
        for i, rep in enumerate(seg.field(12).reps, start=1):
            telecom = read_xtn(rep)
            if telecom is not None:
                doc.telecoms.append(telecom)
                canonical.provenance[f"medecin_traitant.telecoms[{i - 1}]"] = f"ROL[{seg.index}]-12[{i}]"
        canonical.medecin_traitant = doc
        canonical.provenance["medecin_traitant"] = f"ROL[{seg.index}]-4"


def read_nk1(msg: Message, canonical: Canonical) -> None:
    for seg in msg.segments("NK1"):
        role_code = seg.value(7)
        name = seg.field(2).first
        contact = Contact(role=NK1_ROLES.get(role_code, ContactRole.AUTRE), nom=name.sub(1, 1),
                          prenom=name.component(2), lien=seg.value(3))
        address = seg.field(4).first
        if not address.empty:
            contact.address = read_xad(address)
        for rep in seg.field(5).reps:
            telecom = read_xtn(rep)
            if telecom is not None:
                contact.telecoms.append(telecom)
        n = len(canonical.contacts)
        canonical.provenance[f"contacts[{n}]"] = f"NK1[{seg.index}]"
        canonical.provenance[f"contacts[{n}].role"] = f"NK1[{seg.index}]-7"
        canonical.provenance[f"contacts[{n}].nom"] = f"NK1[{seg.index}]-2.1"
        canonical.contacts.append(contact)


def read_in1(msg: Message, canonical: Canonical) -> None:
    segs = msg.all_segments
    for pos, seg in enumerate(segs):
        if seg.name != "IN1":
            continue
        plan = seg.value(2)
        kind = plan if plan in ("AMO", "AMC") else (seg.value(15) if seg.value(15) in ("AMO", "AMC") else
                                                    ("AMO" if seg.index == 1 else "AMC"))
        company = seg.field(3).first
        coverage = Coverage(kind=kind, organisme=seg.value(4), organisme_id=company.component(1),
                            numero_adherent=seg.value(36) or seg.value(49),
                            debut=parse_date(seg.value(12)), fin=parse_date(seg.value(13)))
        n = len(canonical.coverages)
        where = f"IN1[{seg.index}]"
        canonical.provenance[f"coverages[{n}].kind"] = f"{where}-2" if plan in ("AMO", "AMC") else f"{where}-15"
        canonical.provenance[f"coverages[{n}].organisme_id"] = f"{where}-3"
        canonical.provenance[f"coverages[{n}].organisme"] = f"{where}-4"
        if coverage.numero_adherent:
            canonical.provenance[f"coverages[{n}].numero_adherent"] = f"{where}-36" if seg.value(36) else (
                f"{where}-49")
        nxt = segs[pos + 1] if pos + 1 < len(segs) else None
        if nxt is not None and nxt.name == "IN2" and not coverage.numero_adherent and nxt.value(1):
            coverage.numero_adherent = nxt.value(1)  # IN2-1 insured's id when IN1 carries none
            canonical.provenance[f"coverages[{n}].numero_adherent"] = f"IN2[{nxt.index}]-1"
        canonical.coverages.append(coverage)


def read_zfd(msg: Message, patient: Patient | None, canonical: Canonical) -> None:
    zfd = msg.segment("ZFD")
    if zfd is None or patient is None:
        return
    if zfd.value(5):  # ZFD-5 mode d'obtention de l'identité
        patient.identity_source = zfd.value(5)
        canonical.provenance["patient.identity_source"] = "ZFD-5"
    if zfd.value(6):  # ZFD-6 date de l'interrogation INSi
        patient.insi_query_date = parse_date(zfd.value(6))
        canonical.provenance["patient.insi_query_date"] = "ZFD-6"
    if zfd.value(7):  # ZFD-7 type de justificatif d'identité
        patient.identity_document = zfd.value(7)
        canonical.provenance["patient.identity_document"] = "ZFD-7"
