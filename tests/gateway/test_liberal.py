"""Médecin libéral space through the API and its page: a dossier prefilled from the DPI names Dr Moreau médecin
traitant (ROL ODRP, RPPS) and lands in his list awaiting acceptance; accept / "pas mon patient" (listed apart);
search by name and by dossier number; counters per module; other doctors and non-doctors see nothing of it."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi import Request, Response

from gateway import prefill
from gateway.auth import sessions
from gateway.intake.pipeline import apply_canonical
from gateway.settings import PROJECT_ROOT
from mappings.canonical import Canonical
from tests.gateway.conftest import LEROY, MARTIN, MOREAU, Api

HL7 = PROJECT_ROOT / "samples" / "hl7v2"


def prefilled_dossier(api: Api, module: str = "sanitaire") -> dict[str, Any]:
    """The ADT A01 golden sample (médecin traitant RPPS 10100000058 = Dr Moreau) through the registry and the
    prefill, then a dossier created by Dr Martin in UF 1101."""
    data = json.loads((HL7 / "adt_a01__nominal.expected.json").read_text(encoding="utf-8"))["canonical"]
    with api.container.uow() as uow:
        patient_id = apply_canonical(uow, api.container.env, Canonical.model_validate(data)).patient_id
        assert patient_id is not None
        prefill.refresh_patient(uow, api.container.env, patient_id)
    body = {"module": module, "patient_id": patient_id, "unite_id": api.unite_id("1101")}
    created: dict[str, Any] = api.ok(api.post(MARTIN, "/api/v1/dossiers", json=body), 201)
    return created


def test_prefilled_medecin_traitant_sees_the_dossier_awaiting_his_acceptance(api: Api) -> None:
    before = api.ok(api.get(MOREAU, "/api/v1/liberal"))
    dossier = prefilled_dossier(api)
    space = api.ok(api.get(MOREAU, "/api/v1/liberal"))
    waiting = [d for d in space["en_attente"] if d["dossier_id"] == dossier["id"]]
    assert len(waiting) == 1 and waiting[0]["numero"] == dossier["numero"]
    assert waiting[0]["reponse_libelle"] == "En attente de votre acceptation"
    assert space["compteurs"]["sanitaire"] == before["compteurs"]["sanitaire"] + 1
    # another doctor does not see it
    assert all(d["dossier_id"] != dossier["id"] for d in api.ok(api.get(LEROY, "/api/v1/liberal"))["en_attente"])


def test_accept_and_not_my_patient(api: Api) -> None:
    accepted = prefilled_dossier(api)
    declined = prefilled_dossier(api, module="grand_age")
    api.ok(api.post(MOREAU, f"/api/v1/liberal/dossiers/{accepted['id']}/acceptation"))
    api.ok(api.post(MOREAU, f"/api/v1/liberal/dossiers/{declined['id']}/refus"))
    space = api.ok(api.get(MOREAU, "/api/v1/liberal"))
    assert {d["dossier_id"] for d in space["en_attente"]} & {accepted["id"], declined["id"]} == set()
    assert [d["dossier_id"] for d in space["refuses"] if d["dossier_id"] == declined["id"]] == [declined["id"]]
    # a dossier that does not name him: nothing to answer, nothing revealed
    other = api.problem(api.post(LEROY, f"/api/v1/liberal/dossiers/{accepted['id']}/acceptation"), 404,
                        "introuvable")
    assert "ADRUN" not in other["detail"]
    # only doctors identified by their card have the space
    api.problem(api.get("sbernard", "/api/v1/liberal"), 403, "liberal.medecin")


def test_search_by_name_and_by_dossier_number(api: Api) -> None:
    dossier = prefilled_dossier(api)
    by_name = api.ok(api.get(MOREAU, "/api/v1/liberal/recherche", params={"q": "adr"}))
    assert dossier["id"] in {d["dossier_id"] for d in by_name}
    by_number = api.ok(api.get(MOREAU, "/api/v1/liberal/recherche", params={"q": dossier["numero"]}))
    assert [d["dossier_id"] for d in by_number] == [dossier["id"]]
    assert api.ok(api.get(LEROY, "/api/v1/liberal/recherche", params={"q": dossier["numero"]})) == []
    # his own dossiers (author) are found too: the demo's Grand Âge dossier of Mme Vidal
    assert any(d["module"] == "grand_age" for d in api.ok(api.get(MOREAU, "/api/v1/liberal/recherche",
                                                                  params={"q": "vidal"})))


def test_the_page_lists_counts_and_answers(make_api: Any) -> None:
    api = make_api()
    dossier = prefilled_dossier(api)
    with api.container.uow() as uow:
        user = uow.users.by_login(MOREAU)
        assert user is not None and user.id is not None
        moreau = user.id
    def sign_in(request: Request, response: Response) -> dict[str, str]:
        return {"csrf": sessions.open_session(api.container, response, moreau, method="test",
                                              request=request).csrf_token}

    api.client.app.add_api_route("/test/connexion", sign_in, methods=["POST"])
    answer = api.client.post("/test/connexion")
    assert answer.status_code == 200, answer.text
    csrf = answer.json()["csrf"]
    page = api.client.get("/liberal")
    assert page.status_code == 200 and dossier["numero"] in page.text
    shown = html.unescape(page.text)
    assert re.search(r"\d+ dossiers? à accepter", shown) and "Hébergement pour Personnes Âgées" in shown
    refused = api.client.post(f"/liberal/dossiers/{dossier['id']}/refus", data={"csrf_token": csrf},
                              follow_redirects=False)
    assert refused.status_code == 303
    after = html.unescape(api.client.get("/liberal").text)
    waiting, declined = after.split('id="refuses"', 1)
    assert dossier["numero"] not in waiting.split('id="a-accepter"', 1)[1]
    assert dossier["numero"] in declined
    # without the CSRF token the answer is refused
    assert api.client.post(f"/liberal/dossiers/{dossier['id']}/acceptation").status_code == 403


HTML = {"Accept": "text/html"}


def test_an_accepted_dossier_opens_for_its_medecin_traitant_only(api: Api) -> None:
    """Before accepting, the médecin traitant reads nothing of a unit's dossier; once he accepted it, it is in
    "Mes dossiers" and he reads it (read only); a doctor who declined it, or another doctor, does not."""
    dossier = prefilled_dossier(api)
    api.problem(api.get(MOREAU, f"/api/v1/dossiers/{dossier['id']}"), 403, "droits.refuse")
    api.ok(api.post(MOREAU, f"/api/v1/liberal/dossiers/{dossier['id']}/acceptation"))
    assert api.ok(api.get(MOREAU, f"/api/v1/dossiers/{dossier['id']}"))["numero"] == dossier["numero"]
    api.problem(api.patch(MOREAU, f"/api/v1/dossiers/{dossier['id']}/volets/soins_projet", json={"projet": "Domicile"}),
                403, "droits.refuse")
    mine = html.unescape(api.client.get("/liberal", headers=api.as_(MOREAU) | HTML).text).split('id="mes-dossiers"', 1)[1]
    assert f'href="/dossiers/{dossier["id"]}"' in mine.split('id="delegations"', 1)[0]
    api.problem(api.get(LEROY, f"/api/v1/dossiers/{dossier['id']}"), 403, "droits.refuse")
    api.ok(api.post(MOREAU, f"/api/v1/liberal/dossiers/{dossier['id']}/refus"))
    api.problem(api.get(MOREAU, f"/api/v1/dossiers/{dossier['id']}"), 403, "droits.refuse")


def test_create_a_dossier_from_the_space_keeps_typed_values_on_error(api: Api) -> None:
    bad = api.client.post("/liberal/nouveau", headers=api.as_(MOREAU) | HTML, data={
        "module": "grand_age", "nom_naissance": "Girard", "prenoms": "Jeanne", "date_naissance": "2090-01-01",
        "sexe": ""}, follow_redirects=False)
    shown = html.unescape(bad.text)
    assert bad.status_code == 422 and "La date de naissance ne peut pas être dans le futur." in shown
    assert "Choisissez le sexe." in shown and 'value="Girard"' in shown and 'value="2090-01-01"' in shown
    assert 'id="module-grand_age" name="module" value="grand_age" checked' in shown
    made = api.client.post("/liberal/nouveau", headers=api.as_(MOREAU) | HTML, data={
        "module": "grand_age", "nom_naissance": "Girard", "prenoms": "Jeanne Marie", "date_naissance": "1931-05-04",
        "sexe": "F"}, follow_redirects=False)
    assert made.status_code == 303, made.text
    dossier_id = int(made.headers["location"].rsplit("/", 1)[1])
    created = api.ok(api.get(MOREAU, f"/api/v1/dossiers/{dossier_id}"))
    assert created["module"] == "grand_age" and created["numero"].startswith("G")
    # his confrère Dr Leroy, in his délégation's window, sees it among the dossiers delegated to him
    delegated = html.unescape(api.client.get("/liberal", headers=api.as_(LEROY) | HTML).text).split('id="delegations"', 1)[1]
    assert "Dossiers de Luc Moreau" in delegated and created["numero"] in delegated
    # a non-doctor gets the French refusal page
    refused = api.client.get("/liberal/nouveau", headers=api.as_("sbernard") | HTML)
    assert refused.status_code == 403 and "réservé aux médecins" in html.unescape(refused.text)
