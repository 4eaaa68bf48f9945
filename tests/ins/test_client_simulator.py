"""The INSi client against the simulator over real HTTP on loopback: every CR code, history, NIA, Corsica, the
first-name strategy, faults, timeouts, retries and the circuit breaker; requests validate against the XSDs."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from ins import soap
from ins.client import CircuitBreaker, InsiClient, InsiConfig
from ins.errors import CircuitOpen, InsiFault, InsiRejected, InsiTimeout, InsiTransportError
from ins.matricule import check_key
from ins.simulator import InsiSimulator
from orientation_core.identite.model import OID_INS_NIA, OID_INS_NIR, CodeCR, InsRef


def test_cr_00_returns_active_ins_key_oid_and_traits(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31"))
    assert r.cr is CodeCR.TROUVE
    assert r.ins == InsRef("2751263220749", "74", OID_INS_NIR)
    assert r.traits is not None and r.traits.lieu_naissance == "63220" and r.traits.prenoms == ("ZOE",)
    assert r.tentatives == 1


def test_tchitchi_catarina(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("TCHITCHI", ("CATARINA",), "F", "1936-06-21"))
    assert r.ins is not None and r.ins.valeur == "236066322083656"


def test_history_insactif_and_two_inshisto(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14"))
    assert r.ins is not None and r.ins.valeur == "109076322083489"
    assert len(r.historique) == 2 and all(check_key(h.matricule, h.cle) for h in r.historique)
    assert r.traits is not None and r.traits.prenoms == ("PIERRE-ALAIN", "LOUIS")  # ListePrenom split on spaces


def test_cr_01_houilles_pierre(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("HOUILLES", ("PIERRE",), "M", "1993-01-27", "92040"))
    assert r.cr is CodeCR.AUCUN and r.ins is None
    assert r.tentatives == 2  # first name, then with the birthplace


def test_cr_02_several_identical_identities_stays_02(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("BERNARD", ("LUCIE",), "F", "2001-09-09", "33063"))
    assert r.cr is CodeCR.PLUSIEURS and r.ins is None


def test_nia(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("NIAKATE", ("FATOUMATA", "AWA"), "F", "1988-04-12"))
    assert r.ins is not None and r.ins.oid == OID_INS_NIA
    assert r.traits is not None and r.traits.lieu_naissance == "99330"  # born abroad: 99 + country


def test_corsica(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("SANTONI", ("JEAN-BAPTISTE",), "M", "1962-05-19"))
    assert r.ins is not None and r.ins.matricule[5:7] == "2A" and check_key(r.ins.matricule, r.ins.cle)


def test_strategy_each_first_name(client: InsiClient, insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    # registered locally as HENRI PAUL; INSi knows PAUL HENRI: the first query (HENRI) answers 01
    r = client.rechercher(helpers["traits"]("LEFEBVRE", ("HENRI", "PAUL"), "M", "1960-03-03"))
    assert r.cr is CodeCR.TROUVE and r.tentatives == 2
    assert [q["Prenom"] for q in helpers["received"](insi)] == ["HENRI", "PAUL"]


def test_strategy_full_list_after_02(client: InsiClient, insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("DUPONT", ("MARIE", "CLAIRE"), "F", "1950-02-14"))
    assert r.cr is CodeCR.TROUVE and r.ins is not None and r.ins.matricule == "2500275056321"
    assert [q["Prenom"] for q in helpers["received"](insi)] == ["MARIE", "CLAIRE", "MARIE CLAIRE"]


def test_strategy_birthplace_last(client: InsiClient, insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("MARTIN", ("JEAN",), "M", "1948-05-01", "69123"))
    assert r.cr is CodeCR.TROUVE and r.ins is not None and r.ins.matricule == "1480569123330"
    sent = helpers["received"](insi)
    assert [("LieuNaissance" in q) for q in sent] == [False, True]


def test_carte_vitale(client: InsiClient) -> None:
    r = client.rechercher_carte_vitale("2751263220749", "1975-12-31", rang=1)
    assert r.cr is CodeCR.TROUVE and r.ins is not None and r.ins.cle == "74"


def test_verification_replays_and_compares(client: InsiClient, helpers: dict[str, Any]) -> None:
    t = helpers["traits"]("ECETINSI", ("PIERRE-ALAIN", "LOUIS"), "M", "2009-07-14")
    assert client.verifier(t, InsRef("1090763220834", "89", OID_INS_NIR)).conforme
    old = client.rechercher(t).historique[0]
    v = client.verifier(t, old)
    assert not v.conforme and v.motif == "INS devenu historique"
    v = client.verifier(helpers["traits"]("HOUILLES", ("PIERRE",), "M", "1993-01-27"),
                        InsRef("1930192040123", "00", OID_INS_NIR))
    assert not v.conforme and v.resultat.cr is CodeCR.AUCUN


def test_requests_validate_against_the_declared_structure(client: InsiClient, helpers: dict[str, Any]) -> None:
    t = helpers["traits"]("MARTIN", ("JEAN",), "M", "1948-05-01", "69123")
    for prenom, lieu in client.strategy(t):
        parsed = soap.parse_request(client.request_bytes(soap.OP_TRAITS, soap.recsans_body(t, prenom,
                                                                                           avec_lieu=lieu)))
        assert parsed.operation == soap.OP_TRAITS and parsed.message_id.startswith("uuid:")
        assert parsed.lps["IDAM"] and parsed.lps["Version"] and parsed.lps["Instance"]
    vit = client.request_bytes(soap.OP_VITALE, soap.recvit_body("2751263220749", "1975-12-31", rang=1))
    assert soap.parse_request(vit).operation == soap.OP_VITALE


def test_simulator_refuses_a_request_outside_the_contract(insi: InsiSimulator) -> None:
    bad = soap.envelope(soap.OP_TRAITS, soap.recvit_body("2751263220749", "1975-12-31"), soap.LpsContext())
    answer = httpx.post(insi.url, content=bad, headers={"Content-Type": soap.CONTENT_TYPE})
    assert answer.status_code == 400
    with pytest.raises(InsiRejected) as exc:
        soap.parse_response(answer.content)
    assert exc.value.erreur_code == "insi_001"
    with pytest.raises(soap.SoapStructureError):
        soap.parse_request(bad)


def test_service_fault_is_typed_retryable_and_retried(client: InsiClient, insi: InsiSimulator,
                                                      helpers: dict[str, Any]) -> None:
    with pytest.raises(InsiFault) as exc:
        client.rechercher_traits(helpers["traits"]("PANNE", ("SERVICE",), "M", "1970-01-01"))
    assert exc.value.retryable and exc.value.siram_code == "siram_40" and exc.value.erreur_code == "insi_102"
    assert len(helpers["received"](insi)) == 3  # first attempt + 2 bounded retries


def test_sender_fault_is_not_retried(client: InsiClient, insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    with pytest.raises(InsiRejected) as exc:
        client.rechercher_traits(helpers["traits"]("REFUS", ("REQUETE",), "F", "1970-01-01"))
    assert not exc.value.retryable and exc.value.erreur_code == "insi_501"
    assert len(helpers["received"](insi)) == 1
    assert client.breaker.state == "closed"


def test_injected_fault_then_recovery_within_retries(client: InsiClient, insi: InsiSimulator,
                                                     helpers: dict[str, Any]) -> None:
    helpers["control"](insi, faute="http503", nombre=2)
    r = client.rechercher_traits(helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31"))
    assert r.cr is CodeCR.TROUVE


def test_dropped_connection_is_a_transport_error(client: InsiClient, insi: InsiSimulator,
                                                 helpers: dict[str, Any]) -> None:
    helpers["control"](insi, faute="coupure")
    with pytest.raises(InsiTransportError):
        client.rechercher_traits(helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31"))


def test_timeout(insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    with InsiClient(InsiConfig(insi.url, read_timeout=0.2, max_retries=0)) as c:
        started = time.perf_counter()
        with pytest.raises(InsiTimeout):
            c.rechercher_traits(helpers["traits"]("LENT", ("REPONSE",), "M", "1980-08-08"))
        assert time.perf_counter() - started < 1.5


def test_circuit_breaker_opens_fails_fast_and_recovers(client: InsiClient, insi: InsiSimulator,
                                                       helpers: dict[str, Any]) -> None:
    t = helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31")
    helpers["control"](insi, faute="http503")
    for _ in range(3):
        with pytest.raises(InsiTransportError):
            client.rechercher_traits(t)
    assert client.breaker.state == "open"
    before = len(helpers["received"](insi))
    started = time.perf_counter()
    with pytest.raises(CircuitOpen):
        client.rechercher_traits(t)
    assert time.perf_counter() - started < 0.05  # fail fast
    assert len(helpers["received"](insi)) == before  # nothing sent
    helpers["control"](insi)  # INSi is back (empty injection)
    httpx.delete(insi.url.rsplit("/", 1)[0] + "/_simulateur/controle")
    time.sleep(0.35)
    assert client.rechercher_traits(t).cr is CodeCR.TROUVE  # half-open trial succeeds
    assert client.breaker.state == "closed"


def test_simulator_down_fails_fast_after_the_breaker_opens() -> None:
    with InsiSimulator() as dead:
        url = dead.url
    with InsiClient(InsiConfig(url, connect_timeout=0.2, max_retries=0, breaker_threshold=2)) as c:
        t = ("ADRUN", ("ZOE",), "F")
        import datetime as dt

        from orientation_core.identite.model import TraitsIdentite
        traits = TraitsIdentite(*t, dt.date(1975, 12, 31))
        for _ in range(2):
            with pytest.raises(InsiTransportError):
                c.rechercher_traits(traits)
        with pytest.raises(CircuitOpen):
            c.rechercher_traits(traits)


def test_breaker_unit_half_open_lets_one_trial() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=1, reset_after=10, clock=lambda: now[0])
    b.failure()
    with pytest.raises(CircuitOpen):
        b.before_call()
    now[0] = 11
    b.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        b.before_call()  # a second caller while the trial runs
    b.failure()
    assert b.state == "open"


def test_assertion_ps_travels_in_ws_security(insi: InsiSimulator, helpers: dict[str, Any]) -> None:
    assertion = b'<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="ps-1"/>'
    with InsiClient(InsiConfig(insi.url, assertion_ps=assertion)) as c:
        t = helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31")
        sent = c.request_bytes(soap.OP_TRAITS, soap.recsans_body(t, "ZOE"))
        assert b"wsse:Security" in sent and b'ID="ps-1"' in sent
        assert soap.parse_request(sent).operation == soap.OP_TRAITS
        assert c.rechercher(t).cr is CodeCR.TROUVE
    with InsiClient(InsiConfig(insi.url)) as c:  # organisation certificate mode: no WS-Security header
        assert b"Security" not in c.request_bytes(soap.OP_TRAITS, soap.recsans_body(t, "ZOE"))


def test_inbound_key_that_does_not_compute_is_flagged(client: InsiClient, helpers: dict[str, Any]) -> None:
    r = client.rechercher(helpers["traits"]("CLEFAUSSE", ("JEANNE",), "F", "1990-10-10"))
    assert r.cr is CodeCR.TROUVE and r.ins is not None
    assert not r.cle_valide and r.as_dict()["cle_valide"] is False
    assert client.rechercher(helpers["traits"]("ADRUN", ("ZOE",), "F", "1975-12-31")).cle_valide
