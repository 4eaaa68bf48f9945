"""INSi client: lxml envelopes over httpx, SOAP 1.2, mutual TLS with the organisation certificate.

Resilience: per-call timeouts, bounded retries (transport errors, timeouts, service faults), and a circuit
breaker that fails fast once INSi keeps failing, so an outage costs a prescriber microseconds, not timeouts;
the use cases then leave the identity provisoire and queue a retry (``orientation_core.identite.service``).

Search strategy (DOMAIN.md §7): traits with the first first name; on CR 01/02, each other first name, then the
whole list, then the list with the birthplace. Verification replays the search and compares with the stored INS.
Implements the core's ``IdentityVerifier`` port.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from lxml import etree

from ins import soap
from ins.errors import (
    CircuitOpen,
    InsiFault,
    InsiProtocolError,
    InsiRejected,
    InsiTimeout,
    InsiTransportError,
)
from orientation_core.identite.errors import InsiIndisponible
from orientation_core.identite.model import CodeCR, InsRef, ResultatInsi, TraitsIdentite, Verification
from orientation_core.patients.model import normalize_name


@dataclass(frozen=True)
class InsiConfig:
    url: str
    lps: soap.LpsContext = field(default_factory=soap.LpsContext)
    cert_path: Path | None = None  # organisation certificate (CN INSI-AUTO / INSI-MANU), PEM
    key_path: Path | None = None
    ca_path: Path | None = None  # CA bundle that signs the INSi server certificate
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    max_retries: int = 2  # after the first attempt
    retry_backoff: float = 0.1  # seconds, doubled at each retry
    breaker_threshold: int = 5  # consecutive failed calls that open the circuit
    breaker_reset: float = 30.0  # seconds before one trial call is let through
    assertion_ps: bytes | None = None  # signed CPS "assertion PS" (WS-Security) instead of mutual TLS


def tls_context(config: InsiConfig) -> ssl.SSLContext:
    """Server authentication against the configured CA (else the system store), and the organisation certificate
    presented to INSi (mutual TLS) when its paths are set."""
    context = ssl.create_default_context(cafile=str(config.ca_path) if config.ca_path else None)
    if config.cert_path and config.key_path:
        context.load_cert_chain(str(config.cert_path), str(config.key_path))
    return context


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``reset_after`` seconds (one
    trial call) → closed on success, open again on failure."""

    def __init__(self, threshold: int, reset_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.reset_after else "open"

    def before_call(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            if self._clock() - self._opened_at < self.reset_after or self._trial:
                raise CircuitOpen("Service INSi indisponible (trop d'échecs récents) : nouvelle tentative plus "
                                  "tard.")
            self._trial = True  # half-open: this call is the trial

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial = False


class InsiClient:
    def __init__(self, config: InsiConfig, *, transport: httpx.BaseTransport | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        self.config = config
        self.breaker = breaker or CircuitBreaker(config.breaker_threshold, config.breaker_reset)
        self._http = httpx.Client(
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            verify=tls_context(config), transport=transport, trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InsiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one exchange -------------------------------------------------------------------------------------------

    def request_bytes(self, operation: str, body: etree._Element) -> bytes:
        return soap.envelope(operation, body, self.config.lps, assertion_ps=self.config.assertion_ps)

    def call(self, operation: str, body: etree._Element) -> ResultatInsi:
        """One SOAP operation with bounded retries, behind the circuit breaker."""
        self.breaker.before_call()
        payload = self.request_bytes(operation, body)
        attempt = 0
        while True:
            try:
                result = self._exchange(operation, payload)
            except InsiRejected:
                self.breaker.success()  # INSi answered: the service is up, our request is wrong
                raise
            except InsiIndisponible:
                attempt += 1
                if attempt > self.config.max_retries:
                    self.breaker.failure()
                    raise
                time.sleep(self.config.retry_backoff * 2 ** (attempt - 1))
                continue
            self.breaker.success()
            return result

    def _exchange(self, operation: str, payload: bytes) -> ResultatInsi:
        headers = {"Content-Type": f'{soap.CONTENT_TYPE}; action="{soap.ACTION_PREFIX}{operation}"'}
        try:
            response = self._http.post(self.config.url, content=payload, headers=headers)
        except httpx.TimeoutException as exc:
            raise InsiTimeout("Le service INSi n'a pas répondu à temps.") from exc
        except httpx.HTTPError as exc:
            raise InsiTransportError(f"Service INSi injoignable ({type(exc).__name__}).") from exc
        is_soap = response.headers.get("content-type", "").startswith(("application/soap+xml", "text/xml",
                                                                        "application/xml"))
        if response.status_code == 200 or (response.status_code in (400, 500) and is_soap):
            try:
                return soap.parse_response(response.content)
            except InsiProtocolError:
                if response.status_code == 200:
                    raise
        if 400 <= response.status_code < 500:
            raise InsiRejected(f"INSi refuse la requête (HTTP {response.status_code}).", fault_code="http",
                               siram_code="", erreur_code=str(response.status_code), severite="fatal")
        raise InsiTransportError(f"Service INSi en erreur (HTTP {response.status_code}).",
                                 details={"http": response.status_code})

    # -- operations ---------------------------------------------------------------------------------------------

    def rechercher_traits(self, traits: TraitsIdentite, prenom: str | None = None, *,
                          avec_lieu: bool = False) -> ResultatInsi:
        """One rechercherInsAvecTraitsIdentite call (RECSANSVITALE)."""
        body = soap.recsans_body(traits, prenom or traits.prenoms[0], avec_lieu=avec_lieu)
        return self.call(soap.OP_TRAITS, body)

    def rechercher_carte_vitale(self, matricule_od: str, date_naissance: str, *, matricule_individu: str = "",
                                rang: int | None = None, nom_naissance: str = "") -> ResultatInsi:
        """One rechercherInsAvecCarteVitale call (RECVITALE), from what the Vitale card carries."""
        body = soap.recvit_body(matricule_od, date_naissance, matricule_individu=matricule_individu, rang=rang,
                                nom_naissance=nom_naissance)
        return self.call(soap.OP_VITALE, body)

    def strategy(self, traits: TraitsIdentite) -> list[tuple[str, bool]]:
        """The successive (Prenom, with birthplace) queries of the search strategy."""
        prenoms = [p for p in traits.prenoms if p]
        liste = " ".join(prenoms)
        queries: list[tuple[str, bool]] = [(prenoms[0], False)]
        queries += [(p, False) for p in prenoms[1:]]
        if len(prenoms) > 1:
            queries.append((liste, False))
        if traits.lieu_naissance:
            queries.append((liste, True))
        seen: set[tuple[str, bool]] = set()
        return [q for q in queries if not (q in seen or seen.add(q))]  # type: ignore[func-returns-value]

    def rechercher(self, traits: TraitsIdentite) -> ResultatInsi:
        """The traits search with the first-name strategy; stops at the first CR 00."""
        several = False
        calls = 0
        for prenom, avec_lieu in self.strategy(traits):
            calls += 1
            result = self.rechercher_traits(traits, prenom, avec_lieu=avec_lieu)
            if result.cr is CodeCR.TROUVE:
                return replace(result, tentatives=calls)
            several = several or result.cr is CodeCR.PLUSIEURS
        return ResultatInsi(CodeCR.PLUSIEURS if several else CodeCR.AUCUN, tentatives=calls)

    def verifier(self, traits: TraitsIdentite, ins: InsRef) -> Verification:
        """Replay the traits search and compare INS and strict traits with what is stored."""
        result = self.rechercher(traits)
        if result.cr is CodeCR.AUCUN:
            return Verification(False, result, "aucune identité trouvée")
        if result.cr is CodeCR.PLUSIEURS or result.ins is None or result.traits is None:
            return Verification(False, result, "plusieurs identités trouvées")
        if result.ins != ins:
            why = "INS devenu historique" if ins in result.historique else "INS différent"
            return Verification(False, result, why)
        if not same_traits(traits, result.traits):
            return Verification(False, result, "traits différents")
        return Verification(True, result)


def same_traits(a: TraitsIdentite, b: TraitsIdentite) -> bool:
    return (normalize_name(a.nom_naissance) == normalize_name(b.nom_naissance)
            and [normalize_name(p) for p in a.prenoms] == [normalize_name(p) for p in b.prenoms]
            and a.sexe == b.sexe and a.date_naissance == b.date_naissance)


__all__ = ["CircuitBreaker", "InsiClient", "InsiConfig", "InsiFault", "UnconfiguredInsi"]


class UnconfiguredInsi:
    """The verifier used when no INSi endpoint is configured: every call is "unavailable", so identities stay
    provisoire and look-ups wait in the queue until an endpoint is set."""

    def rechercher(self, traits: TraitsIdentite) -> ResultatInsi:
        raise InsiIndisponible("Aucun service INSi n'est configuré (AIGUILLAGE_INSI_URL).",
                               code="insi.non_configure")

    def verifier(self, traits: TraitsIdentite, ins: InsRef) -> Verification:
        return Verification(False, self.rechercher(traits))
