"""Identity vigilance over the HTTP API with a real INSi simulator on loopback: "Récupérer l'INS",
validation by document, "Vérifier l'INS", attributes, outage (never blocks, retry queued and run by the
``ins.lookup`` task), conflicts work list, duplicates; the INS never leaves unless the identity is qualified."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ins.simulator import InsiSimulator

MARTIN = "810100000017"  # prescripteur médical, forme_ins
BERNARD = "sbernard"  # prescripteur, not INS-trained

ADRUN = {"nom_naissance": "ADRUN", "prenoms": ["ZOE"], "date_naissance": "1975-12-31", "sexe": "F"}


@pytest.fixture(scope="module")
def sim() -> Iterator[InsiSimulator]:
    with InsiSimulator() as s:
        yield s


def _patient_with_dossier(api: Any, traits: dict[str, Any]) -> int:
    patient = api.ok(api.post(MARTIN, "/api/v1/patients", json=traits), 201)
    api.ok(api.post(MARTIN, "/api/v1/dossiers", json={
        "module": "sanitaire", "patient_id": patient["id"], "unite_id": api.unite_id("1101")}), 201)
    return int(patient["id"])


def _no_ins_in(body: Any, matricule: str) -> bool:
    return matricule not in json.dumps(body, default=str)


def test_recuperer_valider_verifier(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, ADRUN)
    base = f"/api/v1/patients/{pid}/identite"

    issue = api.ok(api.post(MARTIN, f"{base}/recuperer-ins"))
    assert issue["issue"] == "trouvee" and issue["statut"] == "recuperee" and issue["code_cr"] == "00"
    # récupérée: the INS stays inside; no API view shows it
    for path in (base, f"/api/v1/patients/{pid}"):
        assert _no_ins_in(api.ok(api.get(MARTIN, path)), "2751263220749")
    assert api.ok(api.get(MARTIN, base))["ins_recupere"] is True

    issue = api.ok(api.post(MARTIN, f"{base}/validation", json={"piece_identite": "CN"}))
    assert issue["statut"] == "qualifiee"
    view = api.ok(api.get(MARTIN, base))
    assert view["ins"]["valeur"] == "275126322074974" and view["piece_identite"] == "CN"
    assert api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}"))["statut_identite"] == "qualifiee"

    assert api.ok(api.post(MARTIN, f"{base}/verifier-ins"))["issue"] == "conforme"
    actions = [t["action"] for t in api.ok(api.get(MARTIN, base))["trace"]]
    assert actions == ["insi_interrogation", "ins_recupere", "piece_validee", "verification_reussie"]


def test_only_ins_trained_users(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, ADRUN)
    api.problem(api.post(BERNARD, f"/api/v1/patients/{pid}/identite/recuperer-ins"), 403, "identite.non_forme")


def test_outage_never_blocks_and_the_task_retries(make_api: Callable[..., Any]) -> None:
    with InsiSimulator() as later:
        url = later.url
    api = make_api(insi_url=url)  # nothing listens there now
    pid = _patient_with_dossier(api, ADRUN)
    issue = api.ok(api.post(MARTIN, f"/api/v1/patients/{pid}/identite/recuperer-ins"))
    assert issue["issue"] == "en_attente" and issue["statut"] == "provisoire"
    view = api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/identite"))
    assert [r["statut"] for r in view["recherches"]] == ["en_attente"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with InsiSimulator(port=port):
        api.clock.advance(minutes=2)  # past the backoff
        api.container.run_task("ins.lookup")
    view = api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/identite"))
    assert view["statut"] == "recuperee" and view["recherches"][0]["statut"] == "terminee"


def test_douteuse_forces_provisoire_and_forbids_insi(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, ADRUN)
    base = f"/api/v1/patients/{pid}/identite"
    api.ok(api.post(MARTIN, f"{base}/recuperer-ins"))
    assert api.ok(api.put(MARTIN, f"{base}/attributs/douteuse", json={"actif": True}))["statut"] == "provisoire"
    assert api.ok(api.get(MARTIN, base))["ins_recupere"] is False
    api.problem(api.post(MARTIN, f"{base}/recuperer-ins"), 409, "identite.transition_interdite")
    api.problem(api.put(MARTIN, f"{base}/attributs/fictive", json={"actif": True}), 409,
                "identite.attributs_incompatibles")


def test_different_ins_for_a_qualified_identity_goes_to_the_work_list(make_api: Callable[..., Any],
                                                                      sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, {"nom_naissance": "MARTIN", "prenoms": ["JEAN"], "date_naissance":
                                      "1948-05-01", "sexe": "M", "lieu_naissance_code": "69123"})
    base = f"/api/v1/patients/{pid}/identite"
    api.ok(api.post(MARTIN, f"{base}/recuperer-ins"))
    api.ok(api.post(MARTIN, f"{base}/validation", json={"piece_identite": "PA"}))
    # the birthplace was wrong: with 75056 INSi answers the other MARTIN JEAN
    with api.container.uow() as uow:
        patient = uow.patients.get(pid)
        patient.lieu_naissance_code = "75056"
    issue = api.ok(api.post(MARTIN, f"{base}/verifier-ins"))
    assert issue["issue"] == "non_conforme" and issue["statut"] == "validee" and issue["conflit_id"]
    conflits = api.ok(api.get(MARTIN, "/api/v1/identite/conflits"))
    assert [c["id"] for c in conflits] == [issue["conflit_id"]]
    assert api.ok(api.get(MARTIN, base))["ins"] is None
    decided = api.ok(api.post(MARTIN, f"/api/v1/identite/conflits/{issue['conflit_id']}", json={"appliquer": False}))
    assert decided["issue"] == "rejete" and api.ok(api.get(MARTIN, "/api/v1/identite/conflits")) == []


def test_duplicates_by_tolerant_traits(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, {"nom_naissance": "LE GALL-MARTIN", "prenoms": ["Zoé", "Anne"],
                                      "date_naissance": "1975-12-31", "sexe": "F"})
    twin = _patient_with_dossier(api, {"nom_naissance": "DURAND", "nom_utilise": "LEGALL MARTIN",
                                       "prenoms": ["ZOE"], "date_naissance": "1975-12-31", "sexe": "F"})
    other = _patient_with_dossier(api, {"nom_naissance": "PETIT", "prenoms": ["LUC"],
                                        "date_naissance": "1975-12-31", "sexe": "M"})
    found = api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/doublons"))
    ids = [c["patient_id"] for c in found]
    assert twin in ids and other not in ids
    assert found[0]["score"] >= 0.6 and found[0]["raisons"]


def test_pipeline_entry_point_queues_once_and_the_task_resolves(make_api: Callable[..., Any],
                                                                sim: InsiSimulator) -> None:
    from orientation_core.identite import service as identite
    from orientation_core.patients import service as patients
    from orientation_core.patients.model import Patient, Sexe

    api = make_api(insi_url=sim.url)
    c = api.container
    with c.uow() as uow:
        p = patients.register(uow, c.env, Patient("TCHITCHI", ["CATARINA"], dt.date(1936, 6, 21), Sexe.F))
        assert p.id is not None
        pid = p.id
        first = identite.demander_recherche(uow, c.env, pid, "HL7 A28")
        again = identite.demander_recherche(uow, c.env, pid, "HL7 A31")
        assert first is not None and again is first  # one pending look-up per patient
        assert identite.demander_recherche(uow, c.env, pid, "FHIR", autorise=False) is None  # sender forbids
    assert c.run_task("ins.lookup") == {"trouvee": 1}
    assert c.run_task("ins.lookup") == {}  # idempotent: nothing left
    with c.uow() as uow:
        patient = uow.patients.get(pid)
        assert patient.statut_identite.value == "recuperee"
        assert [i for i in uow.patients.identifiers(pid) if i.type.value.startswith("ins")] == []  # not qualified
        actions = [t.action for t in uow.identite.traces(pid)]
        assert actions == ["recherche_demandee", "insi_interrogation", "ins_recupere"]


def test_qualified_then_traits_changed_goes_back_to_provisoire(make_api: Callable[..., Any],
                                                               sim: InsiSimulator) -> None:
    from orientation_core.identite import service as identite

    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, ADRUN)
    base = f"/api/v1/patients/{pid}/identite"
    api.ok(api.post(MARTIN, f"{base}/recuperer-ins"))
    api.ok(api.post(MARTIN, f"{base}/validation", json={"piece_identite": "CN"}))
    c = api.container
    with c.uow() as uow:
        assert [i.valeur for i in uow.patients.identifiers(pid)] == ["275126322074974"]  # qualified: carried
        queued = identite.traits_modifies(uow, c.env, pid)
        assert queued is not None
    with c.uow() as uow:
        assert uow.patients.get(pid).statut_identite.value == "provisoire"
        assert uow.patients.identifiers(pid) == []
        assert uow.identite.etat(pid).piece_identite is None  # type: ignore[union-attr]


def test_ins_of_another_identity_is_a_conflict_not_applied(make_api: Callable[..., Any],
                                                           sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    first = _patient_with_dossier(api, ADRUN)
    api.ok(api.post(MARTIN, f"/api/v1/patients/{first}/identite/recuperer-ins"))
    api.ok(api.post(MARTIN, f"/api/v1/patients/{first}/identite/validation", json={"piece_identite": "CN"}))
    second = _patient_with_dossier(api, ADRUN | {"nom_utilise": "DUPRE"})
    issue = api.ok(api.post(MARTIN, f"/api/v1/patients/{second}/identite/recuperer-ins"))
    assert issue["issue"] == "conflit" and issue["statut"] == "provisoire"
    assert api.ok(api.get(MARTIN, f"/api/v1/patients/{second}/identite"))["ins_recupere"] is False
    found = api.ok(api.get(MARTIN, f"/api/v1/patients/{second}/doublons"))
    assert found[0]["patient_id"] == first and found[0]["score"] >= 0.9


def test_fhir_read_back_carries_the_ins_only_once_qualified(make_api: Callable[..., Any],
                                                            sim: InsiSimulator) -> None:
    """The FHIR output path that exists (ServiceRequest read-back of a dossier): récupérée → no INS;
    qualifiée → the INS-NIR identifier; douteuse afterwards → gone again."""
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, ADRUN)
    with api.container.uow() as uow:
        dossier_id = uow.dossiers.for_patient(pid)[0].id
    base = f"/api/v1/patients/{pid}/identite"
    path = f"/fhir/r4/ServiceRequest/dossier-{dossier_id}"

    def read() -> str:
        response = api.client.get(path, headers={"X-Aiguillage-Utilisateur": MARTIN, "Accept": "application/fhir+json"})
        assert response.status_code == 200, response.text
        return response.text

    api.ok(api.post(MARTIN, f"{base}/recuperer-ins"))
    assert "275126322074974" not in read()
    api.ok(api.post(MARTIN, f"{base}/validation", json={"piece_identite": "CN"}))
    body = read()
    assert "275126322074974" in body and "urn:oid:1.2.250.1.213.1.4.8" in body
    api.ok(api.put(MARTIN, f"{base}/attributs/douteuse", json={"actif": True}))
    assert "275126322074974" not in read()


@pytest.mark.parametrize(("carried", "issue", "statut"), [
    ("109076322083489", "conforme", "qualifiee"),  # the active INS
    ("109076322091112", "non_conforme", "validee"),  # an INS INSi now lists as historical
])
def test_identity_qualified_upstream_is_verified(make_api: Callable[..., Any], sim: InsiSimulator, carried: str,
                                                 issue: str, statut: str) -> None:
    """A DPI may send an identity already qualified (PID-32 VALI with its INS): "Vérifier l'INS" replays INSi
    against the INS the registry carries."""
    from orientation_core.patients import service as patients
    from orientation_core.patients.model import Patient, Sexe, StatutIdentite, TypeIdentifiantPatient

    api = make_api(insi_url=sim.url)
    c = api.container
    with c.uow() as uow:
        p = patients.register(uow, c.env, Patient("ECETINSI", ["PIERRE-ALAIN", "LOUIS"], dt.date(2009, 7, 14), Sexe.M,
                                                  statut_identite=StatutIdentite.QUALIFIEE),
                              [(TypeIdentifiantPatient.INS_NIR, carried, "1.2.250.1.213.1.4.8")])
        pid = p.id
    api.ok(api.post(MARTIN, "/api/v1/dossiers", json={"module": "sanitaire", "patient_id": pid,
                                                      "unite_id": api.unite_id("1101")}), 201)
    assert api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/identite"))["ins"]["valeur"] == carried
    result = api.ok(api.post(MARTIN, f"/api/v1/patients/{pid}/identite/verifier-ins"))
    assert (result["issue"], result["statut"]) == (issue, statut)
    if issue == "non_conforme":  # INS removed; the new active INS waits in the work list
        assert api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/identite"))["ins"] is None
        assert result["conflit_id"] is not None


def test_ins_with_a_wrong_key_is_not_taken(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    pid = _patient_with_dossier(api, {"nom_naissance": "CLEFAUSSE", "prenoms": ["JEANNE"],
                                      "date_naissance": "1990-10-10", "sexe": "F"})
    issue = api.ok(api.post(MARTIN, f"/api/v1/patients/{pid}/identite/recuperer-ins"))
    assert issue["issue"] == "cle_invalide" and issue["statut"] == "provisoire"
    view = api.ok(api.get(MARTIN, f"/api/v1/patients/{pid}/identite"))
    assert view["ins_recupere"] is False and view["trace"][-1]["action"] == "insi_cle_invalide"


def test_refused_request_and_nothing_to_verify(make_api: Callable[..., Any], sim: InsiSimulator) -> None:
    api = make_api(insi_url=sim.url)
    refused = _patient_with_dossier(api, {"nom_naissance": "REFUS", "prenoms": ["REQUETE"],
                                          "date_naissance": "1970-01-01", "sexe": "F"})
    problem = api.problem(api.post(MARTIN, f"/api/v1/patients/{refused}/identite/recuperer-ins"), 422,
                          "insi.requete_refusee")
    assert problem["details"]["erreur"] == "insi_501"
    provisoire = _patient_with_dossier(api, ADRUN)
    api.problem(api.post(MARTIN, f"/api/v1/patients/{provisoire}/identite/verifier-ins"), 409,
                "identite.transition_interdite")
    api.problem(api.put(MARTIN, f"/api/v1/patients/{provisoire}/identite/attributs/inconnu", json={"actif": True}),
                422, "requete.invalide")
