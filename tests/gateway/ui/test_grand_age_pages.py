"""Grand Âge pages through the HTTP client (both stores): the AGGIR grid form gives the GIR of the official table,
sub-variables scored by their adverbs, a missing variable keeps every typed value, a non-medical prescripteur is
refused, the linked Grand Âge dossier is created from a Sanitaire dossier."""

from __future__ import annotations

import re
from typing import Any

import pytest

from orientation_core.dossier.aggir import VARIABLES

HTML = {"Accept": "text/html"}


def _sanitaire(api: Any, ipp: str = "100001") -> int:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == "sanitaire")
        found: int | None = dossier.id
        assert found is not None
        return found


def _volet(api: Any, dossier_id: int, name: str = "medical") -> dict[str, Any]:
    with api.container.uow() as uow:
        return dict(uow.dossiers.get(dossier_id).volets.get(name, {}))


def _get(api: Any, login: str, path: str) -> Any:
    return api.client.get(path, headers=api.as_(login) | HTML)


def _post(api: Any, login: str, path: str, data: dict[str, Any]) -> Any:
    return api.client.post(path, data=data, headers=api.as_(login) | HTML, follow_redirects=False)


def _letters(letters: str) -> dict[str, Any]:
    """Ten letters in the grid's order (eight given: the two illustrative ones are A)."""
    letters = letters.ljust(len(VARIABLES), "A")
    return {f"v_{v.value}": c for v, c in zip(VARIABLES, letters, strict=True)}


@pytest.fixture
def grand_age(api: Any, gw: dict[str, Any]) -> int:
    """A Grand Âge dossier linked to Mme Lefèvre's Sanitaire dossier, created through the page's form."""
    source = _sanitaire(api)
    response = _post(api, gw["MARTIN"], f"/dossiers/{source}/dossier-grand-age", {})
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/dossiers/(\d+)", response.headers["location"])
    assert found is not None, response.headers["location"]
    return int(found.group(1))


def test_linked_grand_age_dossier_is_created_and_a_second_click_goes_to_it(api: Any, gw: dict[str, Any],
                                                                           grand_age: int) -> None:
    source = _sanitaire(api)
    with api.container.uow() as uow:
        linked, sanitaire = uow.dossiers.get(grand_age), uow.dossiers.get(source)
        assert linked.module.value == "grand_age"
        assert linked.dossier_lie_id == source and sanitaire.dossier_lie_id == grand_age
        assert linked.patient_id == sanitaire.patient_id
    # the shared administrative data came along (identity at least)
    assert _volet(api, grand_age, "administratif")["nom_naissance"] == "Lefèvre"
    again = _post(api, gw["MARTIN"], f"/dossiers/{source}/dossier-grand-age", {})
    assert again.status_code == 303 and again.headers["location"] == f"/dossiers/{grand_age}"


def test_linked_dossier_needs_a_sanitaire_dossier_and_the_right(api: Any, gw: dict[str, Any], grand_age: int
                                                                ) -> None:
    refused = _post(api, gw["MARTIN"], f"/dossiers/{grand_age}/dossier-grand-age", {})
    assert refused.status_code == 422 and "depuis un dossier Sanitaire" in refused.text
    intruder = _post(api, gw["HAD_RECEVEUR"], f"/dossiers/{_sanitaire(api, '100002')}/dossier-grand-age", {})
    assert intruder.status_code == 403


@pytest.mark.parametrize(("letters", "gir", "rang"), [
    ("CCCCCCCC", 1, 1), ("AACCCCCC", 2, 5), ("AAAABCBC", 3, 8), ("ACAAABBB", 4, 10), ("AAAAAABA", 5, 12),
    ("AAAAAAAA", 6, 13),
])
def test_each_gir_through_the_form(api: Any, gw: dict[str, Any], grand_age: int, letters: str, gir: int,
                                   rang: int) -> None:
    url = f"/dossiers/{grand_age}/aggir"
    blank = _get(api, gw["MARTIN"], url)
    assert blank.status_code == 200 and "Aucune grille enregistrée" in blank.text
    response = _post(api, gw["MARTIN"], url, _letters(letters))
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(f"{url}?enregistre=1")
    volet = _volet(api, grand_age)
    assert volet["gir"] == gir
    assert volet["grille_aggir"] == dict(zip((v.value for v in VARIABLES), letters.ljust(10, "A"), strict=True))
    page = _get(api, gw["MARTIN"], f"{url}?enregistre=1")
    assert page.status_code == 200
    assert "La grille AGGIR est enregistrée" in page.text
    assert f"GIR {gir}</span>" in page.text and f"rang {rang} " in page.text
    words = {1: "gravement altérées", 2: "la plupart des activités", 3: "plusieurs fois par jour",
             4: "une fois levée", 5: "aide ponctuelle", 6: "encore autonome"}
    assert re.search(rf'<p class="gir-sens">[^<]*{words[gir]}', page.text)
    # the saved grid comes back checked
    for variable, letter in zip(VARIABLES, letters.ljust(10, "A"), strict=True):
        assert re.search(rf'id="v-{variable.value}-{letter}" value="{letter}"\s+checked', page.text), variable


def test_sub_variables_scored_by_their_adverbs(api: Any, gw: dict[str, Any], grand_age: int) -> None:
    url = f"/dossiers/{grand_age}/aggir"
    four = ["spontanement", "totalement", "correctement", "habituellement"]
    data = _letters("AAAAAAAA") | {
        # élimination: urinaire done fully (A), fécale not at all (C): AC gives C
        "v_elimination": "S", "sv_elimination_urinaire": four,
        # habillage: haut A, moyen C (nothing ticked), bas B (two adverbs): B
        "v_habillage": "S", "sv_habillage_haut": four, "sv_habillage_bas": ["spontanement", "totalement"],
    }
    response = _post(api, gw["MARTIN"], url, data)
    assert response.status_code == 303, response.text
    volet = _volet(api, grand_age)
    grille = volet["grille_aggir"]
    assert "elimination" not in grille and "habillage" not in grille
    assert grille["sous_variables"]["elimination"]["urinaire"] == dict.fromkeys(four, True)
    assert grille["sous_variables"]["elimination"]["fecale"] == dict.fromkeys(four, False)
    assert grille["sous_variables"]["habillage"]["bas"] == {"spontanement": True, "totalement": True,
                                                            "correctement": False, "habituellement": False}
    # A A A B A C A A: groups A–F stay below their thresholds; G: habillage B 200 + élimination C 500 = 700
    # ≥ 650 → rang 10, GIR 4
    assert volet["gir"] == 4
    page = _get(api, gw["MARTIN"], url).text
    assert "GIR 4</span>" in page and "rang 10 (groupe G, total 700)" in page
    assert "Élimination : cotation retenue <strong>C</strong>" in page
    assert "Habillage : cotation retenue <strong>B</strong>" in page
    assert re.search(r'id="sv-habillage-bas-totalement"\s+checked', page)
    assert not re.search(r'id="sv-habillage-bas-correctement"\s+checked', page)


def test_adverbs_ticked_without_choosing_the_mode_count_as_the_answer(api: Any, gw: dict[str, Any],
                                                                      grand_age: int) -> None:
    data = _letters("AAAAAAAA")
    del data["v_toilette"]
    data["sv_toilette_haut"] = ["spontanement"]  # no script: the user ticked adverbs only
    response = _post(api, gw["MARTIN"], f"/dossiers/{grand_age}/aggir", data)
    assert response.status_code == 303, response.text
    assert "toilette" in _volet(api, grand_age)["grille_aggir"]["sous_variables"]


def test_missing_variable_gets_its_message_and_keeps_what_was_typed(api: Any, gw: dict[str, Any],
                                                                     grand_age: int) -> None:
    url = f"/dossiers/{grand_age}/aggir"
    data = _letters("BCABACBA")
    del data["v_orientation"], data["v_communication_a_distance"]
    data |= {"v_alimentation": "S", "sv_alimentation_manger": ["correctement", "habituellement"]}
    response = _post(api, gw["MARTIN"], url, data)
    assert response.status_code == 422
    page = response.text
    assert "La grille est incomplète : Orientation, Communication à distance" in page
    assert 'id="erreur-orientation">Cotez la variable « Orientation » : A, B ou C, ou par ses sous-variables.' \
        in page
    assert 'id="erreur-communication_a_distance">Cotez la variable « Communication à distance » : A, B ou C.' \
        in page
    assert 'aria-describedby="erreur-orientation"' in page
    # every answer given is still there
    assert re.search(r'id="v-coherence-B" value="B"\s+checked', page)
    assert re.search(r'id="v-elimination-C" value="C"\s+checked', page)
    assert re.search(r'id="v-alimentation-S" value="S"\s+checked', page)
    assert re.search(r'id="sv-alimentation-manger-habituellement"\s+checked', page)
    assert not re.search(r'id="v-orientation-\w" value="\w"\s+checked', page)
    assert "grille_aggir" not in _volet(api, grand_age)  # nothing saved


def test_non_medical_prescripteur_is_refused(api: Any, gw: dict[str, Any], grand_age: int) -> None:
    url = f"/dossiers/{grand_age}/aggir"
    assert _post(api, gw["MARTIN"], url, _letters("AACCCCCC")).status_code == 303
    page = _get(api, gw["BERNARD"], url)
    assert page.status_code == 403
    assert "il faut une habilitation médicale" in page.text
    assert "GIR 2" not in page.text and 'name="v_coherence"' not in page.text  # the médical volet stays closed
    refused = _post(api, gw["BERNARD"], url, _letters("AAAAAAAA"))
    assert refused.status_code == 403 and "il faut une habilitation médicale" in refused.text
    assert _volet(api, grand_age)["gir"] == 2  # unchanged


def test_grid_of_a_sanitaire_dossier_is_refused_in_french(api: Any, gw: dict[str, Any]) -> None:
    page = _get(api, gw["MARTIN"], f"/dossiers/{_sanitaire(api)}/aggir")
    assert page.status_code == 409 and "dossier Grand Âge" in page.text


def test_paper_gir_is_shown_then_replaced_by_the_grid(api: Any, gw: dict[str, Any]) -> None:
    """Mme Chabert's demo Grand Âge dossier holds a GIR 2 typed from paper, without a grid."""
    with api.container.uow() as uow:
        linked = uow.dossiers.get(_sanitaire(api, "100010")).dossier_lie_id
    url = f"/dossiers/{linked}/aggir"
    page = _get(api, gw["MARTIN"], url).text
    assert "GIR 2 saisi sans grille" in page
    assert _post(api, gw["MARTIN"], url, _letters("AAAAAABA")).status_code == 303
    assert _volet(api, linked)["gir"] == 5


def _vidal(api: Any) -> int:
    """Dr Moreau's (médecin libéral) Grand Âge dossier for Mme Vidal."""
    from orientation_core.patients.model import TypeIdentifiantPatient

    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100011", "690001011")
        assert patient is not None and patient.id is not None
        found: int | None = uow.dossiers.for_patient(patient.id)[0].id
        assert found is not None
        return found


def test_medecin_liberal_and_his_confrere_fill_the_grid_his_assistant_may_not(api: Any, gw: dict[str, Any]
                                                                               ) -> None:
    url = f"/dossiers/{_vidal(api)}/aggir"
    assert _get(api, gw["MOREAU"], url).status_code == 200
    assert _post(api, gw["MOREAU"], url, _letters("AAAAAABA")).status_code == 303
    assert _volet(api, _vidal(api))["gir"] == 5
    # Dr Leroy, confrère with a délégation: the same rights, the medical volet included
    assert _post(api, gw["LEROY"], url, _letters("AAAABCBC")).status_code == 303
    assert _volet(api, _vidal(api))["gir"] == 3
    # the assistant's délégation never carries the medical volets
    refused = _get(api, gw["GARNIER"], url)
    assert refused.status_code == 403 and "il faut une habilitation médicale" in refused.text


def test_cancelled_dossier_refuses_the_grid_and_keeps_what_was_typed(api: Any, gw: dict[str, Any],
                                                                     grand_age: int) -> None:
    from orientation_core.dossier import service as dossiers

    with api.container.uow() as uow:
        dossiers.annuler_dossier(uow, api.container.env, api.user_id(gw["MARTIN"]), grand_age, "Erreur de saisie")
    response = _post(api, gw["MARTIN"], f"/dossiers/{grand_age}/aggir", _letters("CCCCCCCC"))
    assert response.status_code == 409
    assert "Ce dossier est annulé : réactivez-le pour le modifier." in response.text
    assert re.search(r'id="v-coherence-C" value="C"\s+checked', response.text)
    assert "grille_aggir" not in _volet(api, grand_age)


def test_grid_saved_through_the_api_with_lettered_sub_variables_is_shown(api: Any, gw: dict[str, Any],
                                                                         grand_age: int) -> None:
    grille = {"coherence": "A", "orientation": "A", "toilette": "B", "alimentation": "A", "elimination": "A",
              "transferts": "A", "deplacement_interieur": "A",
              "sous_variables": {"habillage": {"haut": "A", "moyen": "C", "bas": "A"}}}
    api.ok(api.patch(gw["MARTIN"], f"/api/v1/dossiers/{grand_age}/volets/medical", json={"grille_aggir": grille}))
    page = _get(api, gw["MARTIN"], f"/dossiers/{grand_age}/aggir").text
    # sub-variables given as letters cannot be shown as adverbs: the variable shows its derived letter (ACA → B)
    assert re.search(r'id="v-habillage-B" value="B"\s+checked', page)
    assert re.search(r'id="v-toilette-B" value="B"\s+checked', page)
    assert not re.search(r'id="v-deplacement_exterieur-\w" value="\w"\s+checked', page)  # not given yet
    # H: toilette B 2000 + habillage B 2000 = 4000 → rang 11, GIR 4
    assert "GIR 4</span>" in page and "rang 11 (groupe H, total 4000)" in page
