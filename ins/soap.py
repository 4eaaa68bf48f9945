"""The INSi SOAP 1.2 contract, both sides: envelopes (WS-Addressing, ContexteLPS, ContexteBAM, WS-Security
placeholder), bodies (RECSANSVITALE, RECVITALE, RESULTAT), faults (``siram:Erreur``), and their validation
against the XSDs in ``ins/schemas/`` (the message structure the client declares; the simulator enforces it).

Element names and namespaces follow the public INSi contract (WSDL DESIR_ICIR_EXP 1.5.0): operations
``rechercherInsAvecTraitsIdentite`` / ``rechercherInsAvecCarteVitale``, WS-Addressing Action
``urn:ServiceIdentiteCertifiee:1.0.0:<operation>``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from ins.errors import InsiFault, InsiProtocolError, InsiRejected
from ins.matricule import check_key
from orientation_core.identite.model import CodeCR, InsRef, ResultatInsi, TraitsIdentite

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
CTXLPS = "urn:siram:lps:ctxlps"
CTXBAM = "urn:siram:bam:ctxbam"
SIRAM = "urn:siram"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RECVIT = "http://www.cnamts.fr/INSiRecVit"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
NSMAP = {"soap": SOAP, "wsa": WSA, "ctxlps": CTXLPS, "ctxbam": CTXBAM, "siram": SIRAM}

ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"
OP_TRAITS = "rechercherInsAvecTraitsIdentite"
OP_VITALE = "rechercherInsAvecCarteVitale"
BODY_OF_OPERATION = {OP_TRAITS: f"{{{RECSANS}}}RECSANSVITALE", OP_VITALE: f"{{{RECVIT}}}RECVITALE"}
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
CR_LABELS = {CodeCR.TROUVE: "OK", CodeCR.AUCUN: "Aucune identite trouvee",
             CodeCR.PLUSIEURS: "Plusieurs identites trouvees"}

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SoapStructureError(Exception):
    """A message does not follow the declared structure; ``errors`` lists why (for tests and simulator)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / f"{name}.xsd"), _PARSER))


SCHEMA_OF = {
    f"{{{RECSANS}}}RECSANSVITALE": "insi_recsans",
    f"{{{RECVIT}}}RECVITALE": "insi_recvit",
    f"{{{RESULTAT}}}RESULTAT": "insi_resultat",
    f"{{{CTXLPS}}}ContexteLPS": "ctxlps",
    f"{{{CTXBAM}}}ContexteBAM": "ctxbam",
}


def _validate(element: etree._Element) -> list[str]:
    name = SCHEMA_OF.get(str(element.tag))
    if name is None:
        return [f"élément inattendu {element.tag}"]
    xsd = schema(name)
    # validate a standalone copy: the schema sees the element as a document root
    if xsd.validate(etree.fromstring(etree.tostring(element), _PARSER)):
        return []
    log: Iterable[Any] = xsd.error_log  # type: ignore[assignment]  # iterable at runtime, not in the stubs
    return [f"{name}: {e.message} (ligne {e.line})" for e in log]


# --------------------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LpsContext:
    """ContexteLPS: who calls (the software: IDAM authorisation number, version, instance) and ContexteBAM's
    emitter (the organisation)."""

    idam: str = "AIGUILLAGE-DEV"
    version: str = "0.1.0"
    instance: str = "00000000-0000-0000-0000-000000000000"
    nom: str = "urn:lps:aiguillage:0.1.0"
    emetteur: str = "aiguillage"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def recsans_body(traits: TraitsIdentite, prenom: str, *, avec_lieu: bool = False) -> etree._Element:
    """RECSANSVITALE: NomNaissance, Prenom (one first name or the whole list), Sexe, DateNaissance,
    LieuNaissance (only when the strategy adds it)."""
    body = etree.Element(f"{{{RECSANS}}}RECSANSVITALE", nsmap={None: RECSANS})  # type: ignore[dict-item]
    _sub(body, f"{{{RECSANS}}}NomNaissance", traits.nom_naissance)
    _sub(body, f"{{{RECSANS}}}Prenom", prenom)
    _sub(body, f"{{{RECSANS}}}Sexe", traits.sexe)
    _sub(body, f"{{{RECSANS}}}DateNaissance", traits.date_naissance.isoformat())
    if avec_lieu and traits.lieu_naissance:
        _sub(body, f"{{{RECSANS}}}LieuNaissance", traits.lieu_naissance)
    return body


def recvit_body(matricule_od: str, date_naissance: str, *, matricule_individu: str = "", rang: int | None = None,
                nom_naissance: str = "") -> etree._Element:
    """RECVITALE: what the Vitale card carries (insured person's and beneficiary's matricules, birth date as
    written on the card, birth rank)."""
    body = etree.Element(f"{{{RECVIT}}}RECVITALE", nsmap={None: RECVIT})  # type: ignore[dict-item]
    if matricule_individu:
        ind = _sub(body, f"{{{RECVIT}}}MatriculeIndividu")
        _sub(ind, f"{{{RECVIT}}}NumIdentifiant", matricule_individu[:13])
    od = _sub(body, f"{{{RECVIT}}}MatriculeOD")
    _sub(od, f"{{{RECVIT}}}NumIdentifiant", matricule_od[:13])
    if nom_naissance:
        _sub(body, f"{{{RECVIT}}}NomNaissance", nom_naissance)
    _sub(body, f"{{{RECVIT}}}DateNaissance", date_naissance)
    if rang is not None:
        _sub(body, f"{{{RECVIT}}}RangNaissance", str(rang))
    return body


def envelope(operation: str, body: etree._Element, lps: LpsContext, *, now: dt.datetime | None = None,
             message_id: str | None = None, assertion_ps: bytes | None = None) -> bytes:
    """A SOAP 1.2 request: ContexteBAM, ContexteLPS, WS-Addressing Action and MessageID, and a WS-Security
    header carrying the signed "assertion PS" when the caller authenticates with a CPS card instead of the
    organisation certificate (mutual TLS, the default: then no WS-Security header is sent)."""
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = _sub(env, f"{{{SOAP}}}Header")
    bam = _sub(header, f"{{{CTXBAM}}}ContexteBAM", Version="01_02")
    _sub(bam, f"{{{CTXBAM}}}Id", str(uuid.uuid4()))
    _sub(bam, f"{{{CTXBAM}}}Temps", at)
    _sub(bam, f"{{{CTXBAM}}}Emetteur", lps.emetteur)
    _sub(bam, f"{{{CTXBAM}}}COUVERTURE")
    ctx = _sub(header, f"{{{CTXLPS}}}ContexteLPS", Nature="CTXLPS", Version="01_00")
    _sub(ctx, f"{{{CTXLPS}}}Id", str(uuid.uuid4()))
    _sub(ctx, f"{{{CTXLPS}}}Temps", at)
    _sub(ctx, f"{{{CTXLPS}}}Emetteur", lps.emetteur)
    lps_el = _sub(ctx, f"{{{CTXLPS}}}LPS")
    _sub(lps_el, f"{{{CTXLPS}}}IDAM", lps.idam, R="4")
    _sub(lps_el, f"{{{CTXLPS}}}Version", lps.version)
    _sub(lps_el, f"{{{CTXLPS}}}Instance", lps.instance)
    _sub(lps_el, f"{{{CTXLPS}}}Nom", lps.nom)
    _sub(header, f"{{{WSA}}}Action", ACTION_PREFIX + operation)
    _sub(header, f"{{{WSA}}}MessageID", message_id or f"uuid:{uuid.uuid4()}")
    if assertion_ps is not None:
        security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        security.append(etree.fromstring(assertion_ps, _PARSER))
    soap_body = _sub(env, f"{{{SOAP}}}Body")
    soap_body.append(body)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


@dataclass
class ParsedRequest:
    operation: str
    message_id: str
    body: etree._Element
    lps: dict[str, str] = field(default_factory=dict)


def parse_request(xml: bytes) -> ParsedRequest:
    """Check a request against the declared structure (envelope, headers, body schema); raises
    ``SoapStructureError`` listing every problem. Used by the simulator and by the tests."""
    errors: list[str] = []
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapStructureError([f"XML illisible : {exc}"]) from exc
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapStructureError([f"enveloppe SOAP 1.2 attendue, reçu {root.tag}"])
    header = root.find(f"{{{SOAP}}}Header")
    body = root.find(f"{{{SOAP}}}Body")
    if header is None or body is None:
        raise SoapStructureError(["Header et Body SOAP obligatoires"])
    action = header.findtext(f"{{{WSA}}}Action") or ""
    message_id = header.findtext(f"{{{WSA}}}MessageID") or ""
    if not action.startswith(ACTION_PREFIX):
        errors.append(f"wsa:Action inattendue : {action!r}")
    if not message_id:
        errors.append("wsa:MessageID manquant")
    lps: dict[str, str] = {}
    for tag in (f"{{{CTXBAM}}}ContexteBAM", f"{{{CTXLPS}}}ContexteLPS"):
        el = header.find(tag)
        if el is None:
            errors.append(f"en-tête {tag} manquant")
        else:
            errors += _validate(el)
    ctx = header.find(f"{{{CTXLPS}}}ContexteLPS/{{{CTXLPS}}}LPS")
    if ctx is not None:
        lps = {etree.QName(c).localname: (c.text or "") for c in ctx}
    children = list(body)
    if len(children) != 1:
        errors.append("le Body SOAP doit contenir un seul élément")
        raise SoapStructureError(errors)
    operation = action[len(ACTION_PREFIX):]
    expected = BODY_OF_OPERATION.get(operation)
    if expected is None:
        errors.append(f"opération inconnue {operation!r}")
    elif children[0].tag != expected:
        errors.append(f"l'opération {operation} attend {expected}, reçu {children[0].tag}")
    errors += _validate(children[0])
    if errors:
        raise SoapStructureError(errors)
    return ParsedRequest(operation, message_id, children[0], lps)


# --------------------------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Individu:
    ins: InsRef
    traits: TraitsIdentite
    historique: tuple[InsRef, ...] = ()


def _ins_el(parent: etree._Element, tag: str, ins: InsRef, with_type: bool) -> None:
    el = _sub(parent, f"{{{RESULTAT}}}{tag}")
    ident = _sub(el, f"{{{RESULTAT}}}IdIndividu")
    _sub(ident, f"{{{RESULTAT}}}NumIdentifiant", ins.matricule)
    _sub(ident, f"{{{RESULTAT}}}Cle", ins.cle)
    if with_type:
        _sub(ident, f"{{{RESULTAT}}}TypeMatricule", "NIA" if ins.oid.endswith(".9") else "NIR")
    _sub(el, f"{{{RESULTAT}}}OID", ins.oid)


def response(cr: CodeCR, individu: Individu | None = None) -> bytes:
    """A RESULTAT answer in its SOAP 1.2 envelope."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    body = _sub(env, f"{{{SOAP}}}Body")
    res = etree.SubElement(body, f"{{{RESULTAT}}}RESULTAT", nsmap={None: RESULTAT})  # type: ignore[dict-item]
    cr_el = _sub(res, f"{{{RESULTAT}}}CR")
    _sub(cr_el, f"{{{RESULTAT}}}CodeCR", cr.value)
    _sub(cr_el, f"{{{RESULTAT}}}LibelleCR", CR_LABELS[cr])
    if individu is not None:
        ind = _sub(res, f"{{{RESULTAT}}}INDIVIDU")
        _ins_el(ind, "INSACTIF", individu.ins, with_type=False)
        for histo in individu.historique:
            _ins_el(ind, "INSHISTO", histo, with_type=True)
        tiq = _sub(ind, f"{{{RESULTAT}}}TIQ")
        t = individu.traits
        _sub(tiq, f"{{{RESULTAT}}}NomNaissance", t.nom_naissance)
        _sub(tiq, f"{{{RESULTAT}}}ListePrenom", " ".join(t.prenoms))
        _sub(tiq, f"{{{RESULTAT}}}Sexe", t.sexe)
        _sub(tiq, f"{{{RESULTAT}}}DateNaissance", t.date_naissance.isoformat())
        if t.lieu_naissance:
            _sub(tiq, f"{{{RESULTAT}}}LieuNaissance", t.lieu_naissance)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault(*, sender: bool, siram_code: str, reason: str, erreur_code: str, message: str,
          severite: str = "fatal") -> bytes:
    """A SOAP 1.2 fault with the ``siram:Erreur`` detail INSi uses (code ``insi_xxx``, severity)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    body = _sub(env, f"{{{SOAP}}}Body")
    f = _sub(body, f"{{{SOAP}}}Fault")
    code = _sub(f, f"{{{SOAP}}}Code")
    _sub(code, f"{{{SOAP}}}Value", "soap:Sender" if sender else "soap:Receiver")
    sub = _sub(code, f"{{{SOAP}}}Subcode")
    _sub(sub, f"{{{SOAP}}}Value", f"soap:{siram_code}")
    r = _sub(f, f"{{{SOAP}}}Reason")
    text = _sub(r, f"{{{SOAP}}}Text", reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    detail = _sub(f, f"{{{SOAP}}}Detail")
    err = etree.SubElement(detail, f"{{{SIRAM}}}Erreur", nsmap={"siram": SIRAM}, severite=severite,
                           code=erreur_code)
    err.text = message
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def _local(value: str) -> str:
    return value.split(":", 1)[1] if ":" in value else value


def _ins_of(el: etree._Element) -> InsRef:
    ident = el.find(f"{{{RESULTAT}}}IdIndividu")
    assert ident is not None  # schema-checked
    return InsRef(matricule=ident.findtext(f"{{{RESULTAT}}}NumIdentifiant") or "",
                  cle=ident.findtext(f"{{{RESULTAT}}}Cle") or "",
                  oid=el.findtext(f"{{{RESULTAT}}}OID") or "")


def parse_response(xml: bytes) -> ResultatInsi:
    """RESULTAT → ``ResultatInsi``; a fault → ``InsiRejected`` (Sender) or ``InsiFault`` (Receiver, retryable);
    anything else → ``InsiProtocolError``."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InsiProtocolError("Réponse INSi illisible (XML invalide).") from exc
    body = root.find(f"{{{SOAP}}}Body")
    if root.tag != f"{{{SOAP}}}Envelope" or body is None or len(body) != 1:
        raise InsiProtocolError("Réponse INSi hors contrat (enveloppe SOAP 1.2 attendue).")
    payload = body[0]
    if payload.tag == f"{{{SOAP}}}Fault":
        raise _fault_error(payload)
    errors = _validate(payload)
    if payload.tag != f"{{{RESULTAT}}}RESULTAT" or errors:
        raise InsiProtocolError("Réponse INSi hors contrat.", details={"erreurs": errors[:5]})
    cr = CodeCR(payload.findtext(f"{{{RESULTAT}}}CR/{{{RESULTAT}}}CodeCR") or "")
    individu = payload.find(f"{{{RESULTAT}}}INDIVIDU")
    if cr is not CodeCR.TROUVE or individu is None:
        return ResultatInsi(cr)
    actif = individu.find(f"{{{RESULTAT}}}INSACTIF")
    tiq = individu.find(f"{{{RESULTAT}}}TIQ")
    assert actif is not None and tiq is not None  # schema-checked
    traits = TraitsIdentite(
        nom_naissance=tiq.findtext(f"{{{RESULTAT}}}NomNaissance") or "",
        prenoms=tuple((tiq.findtext(f"{{{RESULTAT}}}ListePrenom") or "").split()),
        sexe=tiq.findtext(f"{{{RESULTAT}}}Sexe") or "",
        date_naissance=dt.date.fromisoformat(tiq.findtext(f"{{{RESULTAT}}}DateNaissance") or ""),
        lieu_naissance=tiq.findtext(f"{{{RESULTAT}}}LieuNaissance") or "",
    )
    historique = tuple(_ins_of(h) for h in individu.findall(f"{{{RESULTAT}}}INSHISTO"))
    active = _ins_of(actif)
    return ResultatInsi(cr, active, historique, traits, cle_valide=check_key(active.matricule, active.cle))


def _fault_error(f: etree._Element) -> InsiFault | InsiRejected:
    code = _local(f.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value") or "")
    siram = _local(f.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "")
    reason = (f.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text") or "").strip()
    erreur = f.find(f"{{{SOAP}}}Detail/{{{SIRAM}}}Erreur")
    erreur_code = erreur.get("code", "") if erreur is not None else ""
    severite = erreur.get("severite", "") if erreur is not None else ""
    text = (erreur.text or "").strip() if erreur is not None else ""
    message = f"INSi : {text or reason or 'erreur sans détail'} ({erreur_code or siram or code})"
    cls = InsiRejected if code == "Sender" else InsiFault
    return cls(message, fault_code=code, siram_code=siram, erreur_code=erreur_code, severite=severite)
