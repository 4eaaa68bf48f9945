"""The browser harness itself: a signed-in page renders in Chromium with the shared layout, passes axe-core, and an
anonymous visit goes to the sign-in page."""

from __future__ import annotations

from typing import Any


def _dossier_id(live: Any, ipp: str = "100001") -> int:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with live.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = uow.dossiers.for_patient(patient.id)[0]
        assert dossier.id is not None
        return dossier.id


def test_signed_in_page_has_the_layout_and_no_serious_axe_violation(page: Any, live: Any, gw: dict[str, Any],
                                                                     ui: dict[str, Any]) -> None:
    dossier_id = _dossier_id(live)
    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}")
    assert page.url.endswith(f"/dossiers/{dossier_id}")
    assert page.get_by_role("navigation", name="Navigation principale").is_visible()
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    ui["shoot"](page, "harness-dossier")
    ui["assert_accessible"](page, "dossier")


def test_anonymous_visit_goes_to_sign_in_and_a_wrong_address_gets_a_french_page(page: Any) -> None:
    page.goto("/")
    assert "/connexion" in page.url
    response = page.goto("/pas-une-page")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="Page introuvable").is_visible()
