"""INSi simulator: the same SOAP 1.2 contract over plain HTTP on loopback, answering from a persona file.

Every request is checked against the declared structure (``ins.soap.parse_request``: envelope, WS-Addressing,
ContexteLPS, ContexteBAM, body XSD); a non-conforming request gets a Sender fault, as INSi would. Matching
follows INSi: birth name, sex and birth date must match; ``Prenom`` must be the persona's first first name or
its whole list; ``LieuNaissance``, when sent, must match. Several personae → CR 02, none → CR 01.

Fault and delay injection: per persona (``faute``, ``delai_ms``, ``reponse`` in the file) or for the next
requests through the control endpoint (``POST /_simulateur/controle`` with ``{"faute": "service" | "requete" |
"http503" | "coupure", "delai_ms": 200, "nombre": 3}``; ``DELETE`` resets). ``GET /_simulateur/requetes``
lists what was received (operation, traits sent), ``DELETE`` clears it.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ins import soap
from orientation_core.identite.model import CodeCR, InsRef, TraitsIdentite
from orientation_core.patients.model import normalize_name

DEFAULT_PERSONAE = Path(__file__).resolve().parent.parent / "samples" / "insi" / "personae.json"
CONTROL = "/_simulateur/controle"
REQUESTS = "/_simulateur/requetes"


@dataclass(frozen=True)
class Persona:
    id: str
    traits: TraitsIdentite
    ins: InsRef | None = None
    historique: tuple[InsRef, ...] = ()
    reponse: CodeCR | None = None  # forced CR
    faute: str = ""  # service / requete
    delai_ms: int = 0
    carte_vitale: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Persona:
        return cls(
            id=data["id"],
            traits=TraitsIdentite(data["nom_naissance"], tuple(data["prenoms"]), data["sexe"],
                                  dt.date.fromisoformat(data["date_naissance"]), data.get("lieu_naissance", "")),
            ins=InsRef.from_dict(data["ins"]) if data.get("ins") else None,
            historique=tuple(InsRef.from_dict(h) for h in data.get("historique", [])),
            reponse=CodeCR(data["reponse"]) if data.get("reponse") else None,
            faute=(data.get("faute") or {}).get("type", ""),
            delai_ms=int(data.get("delai_ms", 0)),
            carte_vitale=data.get("carte_vitale") or {},
        )


def load_personae(path: Path | None = None) -> list[Persona]:
    doc = json.loads((path or DEFAULT_PERSONAE).read_text(encoding="utf-8"))
    return [Persona.from_json(p) for p in doc["personae"]]


@dataclass
class Injection:
    faute: str = ""
    delai_ms: int = 0
    nombre: int | None = None  # None: until reset


class SimulatorState:
    def __init__(self, personae: list[Persona]) -> None:
        self.personae = personae
        self.lock = threading.Lock()
        self.injection: Injection | None = None
        self.received: list[dict[str, Any]] = []

    def take_injection(self) -> Injection | None:
        with self.lock:
            inj = self.injection
            if inj is None:
                return None
            if inj.nombre is not None:
                inj.nombre -= 1
                if inj.nombre <= 0:
                    self.injection = None
            return inj

    def search_traits(self, body: Any) -> list[Persona]:
        def text(tag: str) -> str:
            return (body.findtext(f"{{{soap.RECSANS}}}{tag}") or "").strip()

        nom, prenom, sexe = normalize_name(text("NomNaissance")), normalize_name(text("Prenom")), text("Sexe")
        date, lieu = text("DateNaissance"), text("LieuNaissance")
        found = []
        for p in self.personae:
            t = p.traits
            if normalize_name(t.nom_naissance) != nom or t.sexe != sexe or t.date_naissance.isoformat() != date:
                continue
            if prenom not in (normalize_name(t.prenoms[0]), normalize_name(" ".join(t.prenoms))):
                continue
            if lieu and lieu != t.lieu_naissance:
                continue
            found.append(p)
        return found

    def search_vitale(self, body: Any) -> list[Persona]:
        ns = soap.RECVIT
        individu = (body.findtext(f"{{{ns}}}MatriculeIndividu/{{{ns}}}NumIdentifiant") or "").strip()
        od = (body.findtext(f"{{{ns}}}MatriculeOD/{{{ns}}}NumIdentifiant") or "").strip()
        date = (body.findtext(f"{{{ns}}}DateNaissance") or "").strip()
        rang = (body.findtext(f"{{{ns}}}RangNaissance") or "1").strip()
        found = []
        for p in self.personae:
            by_individu = bool(individu) and p.ins is not None and p.ins.matricule == individu
            by_card = (not individu and p.carte_vitale.get("matricule_od") == od
                       and p.traits.date_naissance.isoformat() == date and str(p.carte_vitale.get("rang", 1)) == rang)
            if by_individu or by_card:
                found.append(p)
        return found


def _answer(state: SimulatorState, raw: bytes, client_cn: str = "") -> tuple[int, bytes, float]:
    """(HTTP status, body, delay in seconds) for one SOAP request."""
    try:
        request = soap.parse_request(raw)
    except soap.SoapStructureError as exc:
        with state.lock:
            state.received.append({"operation": "?", "erreurs": exc.errors})
        return 400, soap.fault(sender=True, siram_code="siram_10", reason="Requête non conforme au contrat.",
                               erreur_code="insi_001", message="; ".join(exc.errors)[:500]), 0.0
    body = request.body
    entry: dict[str, Any] = {"operation": request.operation, "message_id": request.message_id, "lps": request.lps,
                             "client_cn": client_cn}
    if request.operation == soap.OP_TRAITS:
        entry |= {etree_local(c.tag): (c.text or "") for c in body}
        matches = state.search_traits(body)
    else:
        entry |= {"vitale": True}
        matches = state.search_vitale(body)
    with state.lock:
        state.received.append(entry)
    delay = max((p.delai_ms for p in matches), default=0) / 1000
    for p in matches:
        if p.faute:
            return (*_fault_for(p.faute), delay)
        if p.reponse is not None:
            return 200, soap.response(p.reponse), delay
    real = [p for p in matches if p.ins is not None]
    if not real:
        return 200, soap.response(CodeCR.AUCUN), delay
    if len(real) > 1:
        return 200, soap.response(CodeCR.PLUSIEURS), delay
    p = real[0]
    assert p.ins is not None
    return 200, soap.response(CodeCR.TROUVE, soap.Individu(p.ins, p.traits, p.historique)), delay


def _fault_for(kind: str) -> tuple[int, bytes]:
    if kind == "requete":
        return 400, soap.fault(sender=True, siram_code="siram_20", reason="Requête refusée.",
                               erreur_code="insi_501", message="Les traits d'identité transmis sont incomplets.")
    return 500, soap.fault(sender=False, siram_code="siram_40",
                           reason="Le service est temporairement inaccessible.", erreur_code="insi_102",
                           message="L'appel au service de recherche renvoie une erreur technique.")


def etree_local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: tests and benchmarks run thousands of requests

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json")

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _client_cn(self) -> str:
        """CN of the client's certificate under mutual TLS (INSi reads the organisation from it)."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return ""
        subject: Any = (self.connection.getpeercert() or {}).get("subject", ())
        return next((str(value) for rdn in subject for key, value in rdn if key == "commonName"), "")

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == REQUESTS:
            with state.lock:
                self._json(200, list(state.received))
        elif self.path in ("/", "/healthz"):
            self._json(200, {"simulateur": "INSi", "personae": len(state.personae)})
        else:
            self._json(404, {"erreur": "introuvable"})

    def do_DELETE(self) -> None:
        state = self.server.state
        with state.lock:
            if self.path == REQUESTS:
                state.received.clear()
            elif self.path == CONTROL:
                state.injection = None
            else:
                self._json(404, {"erreur": "introuvable"})
                return
        self._json(200, {"ok": True})

    def do_POST(self) -> None:
        state = self.server.state
        raw = self._read()
        if self.path == CONTROL:
            data = json.loads(raw or b"{}")
            with state.lock:
                state.injection = Injection(faute=data.get("faute") or "", delai_ms=int(data.get("delai_ms", 0)),
                                            nombre=data.get("nombre"))
            self._json(200, {"ok": True})
            return
        injection = state.take_injection()
        if injection is not None:
            if injection.delai_ms:
                time.sleep(injection.delai_ms / 1000)
            if injection.faute == "coupure":
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the connection reset, no answer
                return
            if injection.faute == "http503":
                self._send(503, b"Service Unavailable", "text/plain")
                return
            if injection.faute in ("service", "requete"):
                status, body = _fault_for(injection.faute)
                self._send(status, body, soap.CONTENT_TYPE)
                return
        status, body, delay = _answer(state, raw, self._client_cn())
        if delay:
            time.sleep(delay)
        self._send(status, body, soap.CONTENT_TYPE)


@dataclass(frozen=True)
class TlsFiles:
    """HTTPS with mutual TLS, as INSi: the server's certificate and key, and the CA that must have signed the
    client's organisation certificate (CN INSI-AUTO / INSI-MANU)."""

    cert: Path
    key: Path
    client_ca: Path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimulatorState, tls: TlsFiles | None = None) -> None:
        super().__init__(address, _Handler)
        self.state = state
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert), str(tls.key))
            context.load_verify_locations(str(tls.client_ca))
            context.verify_mode = ssl.CERT_REQUIRED  # no organisation certificate, no answer
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # an injected "coupure" closes the socket under the handler: not an error of the simulator
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class InsiSimulator:
    """``with InsiSimulator() as sim: InsiClient(InsiConfig(sim.url))…`` — a real HTTP server in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, personae: Path | None = None,
                 tls: TlsFiles | None = None) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the INSi simulator listens on loopback only")
        self.state = SimulatorState(load_personae(personae))
        self.tls = tls
        self._server = _Server((host, port), self.state, tls)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/insi"

    def start(self) -> InsiSimulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="insi-sim", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> InsiSimulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
