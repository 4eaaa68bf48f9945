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
    assert re.search(r"Sanitaire \d+ · Grand Âge \d+", html.unescape(page.text))
    refused = api.client.post(f"/liberal/dossiers/{dossier['id']}/refus", data={"csrf_token": csrf},
                              follow_redirects=False)
    assert refused.status_code == 303
    after = html.unescape(api.client.get("/liberal").text)
    waiting, declined = after.split("Dossiers refusés", 1)
    assert dossier["numero"] not in waiting.split("en attente de votre acceptation", 1)[1]
    assert dossier["numero"] in declined
    # without the CSRF token the answer is refused
    assert api.client.post(f"/liberal/dossiers/{dossier['id']}/acceptation").status_code == 403
