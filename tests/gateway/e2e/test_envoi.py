"""Sending a dossier in the browser: Dr Martin searches SMR units by type and postcode and reads why each is
suggested, sends to two units, cancels one with a motive (then reactivates it), sees the receivers' answers, the
relance offered only once 72 h have passed (clock jump), confirms the accepted unit and sees the other one
cancelled. An incomplete dossier is refused with links to its volets and the ticked units kept. Every state:
screenshot and axe-core."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from orientation_core.patients.model import TypeIdentifiantPatient

CHU = "690001011"


def _dossier(live: Any, ipp: str) -> int:
    with live.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, CHU)
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == "sanitaire")
        assert dossier.id is not None
        return int(dossier.id)


def _demandes(live: Any, dossier_id: int) -> dict[str, int]:
    """code UF → demande id (the newest demande to each unit)."""
    with live.container.uow() as uow:
        found = uow.demandes.for_dossier(dossier_id)
        unites = uow.directory.unites([d.unite_id for d in found])
        return {unites[d.unite_id].code_uf: int(d.id or 0) for d in sorted(found, key=lambda d: d.id or 0)}


def _complete(live: Any, dossier_id: int, login: str) -> None:
    from gateway.demo import DEFAULTS
    from orientation_core.dossier import service as dossiers
    from orientation_core.dossier.volets import VOLETS, Module

    values = dict(DEFAULTS[Module.SANITAIRE]) | {
        "adresse": "3 rue Pasteur, 69007 Lyon", "service_demandeur": "Médecine interne",
        "date_hospitalisation": "2026-02-27", "type_orientation": "smr",
        "objectif_prise_en_charge": "Rééducation après chute", "pathologie_actuelle": "Fracture du poignet",
        "antecedents": "Aucun", "poids_kg": 70, "taille_cm": 170, "traitements": "Aucun", "allergies": "Aucune"}
    user_id = live.user_id(login)
    with live.container.uow() as uow:
        for volet in VOLETS[Module.SANITAIRE]:
            part = {k: v for k, v in values.items() if k in volet.fields}
            dossiers.modifier_volet(uow, live.container.env, user_id, dossier_id, volet.name, part)


def _answer(live: Any, login: str, demande_id: int, action: str, **fields: Any) -> None:
    """A receiving unit's answer, through the same use case as its pages."""
    from orientation_core.demande import service as demandes

    with live.container.uow() as uow:
        demandes.agir(uow, live.container.env, live.user_id(login), demande_id, action, demandes.Answer(**fields))


def _check(page: Any, ui: dict[str, Any], name: str) -> None:
    ui["shoot"](page, f"envoi-{name}")
    ui["assert_accessible"](page, f"envoi: {name}")


def test_search_send_cancel_answers_relance_and_confirm(page: Any, live: Any, gw: dict[str, Any],
                                                        ui: dict[str, Any]) -> None:
    dossier_id = _dossier(live, "100004")  # Mme Benali, UF 1101, draft
    _complete(live, dossier_id, gw["MARTIN"])
    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    assert page.get_by_role("heading", name=re.compile("^Envoi du dossier")).is_visible()
    assert page.get_by_text("Ce dossier n'a encore été envoyé à aucune unité.").is_visible()
    _check(page, ui, "initial")

    # search: SMR, within 20 km of 69003; each suggestion says why
    page.get_by_label("Type d'orientation").select_option(label="Soins médicaux et de réadaptation")
    page.get_by_label("Code postal de départ").fill("69003")
    page.get_by_label("Distance").select_option("20")
    page.get_by_label("Pansements").check()
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url(re.compile(r"code_postal=69003"))
    rows = page.locator("table.suggestions tbody tr")
    assert rows.count() == 3
    assert "HAD" not in page.locator("table.suggestions").inner_text()
    first = rows.first.inner_text()
    assert "1/1 besoin(s) pris en charge" in first and re.search(r"à \d+ km", first)
    assert "ne prend pas en charge : Pansements" in page.locator("tr[data-code-uf='2102']").inner_text()
    assert page.locator("#position").is_visible()
    _check(page, ui, "suggestions")

    # send to two units
    page.get_by_label("SMR polyvalent", exact=True).check()
    page.get_by_label("SMR gériatrique", exact=True).check()
    page.get_by_role("button", name="Envoyer aux unités sélectionnées").click()
    assert page.get_by_role("status").inner_text() == "Dossier envoyé à 2 unités."
    sent = _demandes(live, dossier_id)
    assert set(sent) == {"2101", "2103"}
    for code_uf in sent:
        row = page.locator(f"#demande-{sent[code_uf]}")
        assert row.get_attribute("data-statut") == "en_attente_de_reponse"
        assert "En attente de réponse" in row.inner_text()
    assert "Déjà sollicitée" in page.locator("tr[data-code-uf='2101']").inner_text()
    _check(page, ui, "envoye")

    # cancel one with a motive: first without (French message next to it), then with
    row = page.locator(f"#demande-{sent['2101']}")
    row.locator("summary").click()
    row.get_by_role("button", name=re.compile("^Annuler la demande")).click()
    row = page.locator(f"#demande-{sent['2101']}")
    assert row.get_by_role("alert").inner_text() == "Le motif est obligatoire."
    assert row.get_by_label("Motif de l'annulation").get_attribute("aria-invalid") == "true"
    _check(page, ui, "annulation-refusee")
    row.get_by_label("Motif de l'annulation").fill("La famille préfère le SMR gériatrique")
    row.get_by_role("button", name=re.compile("^Annuler la demande")).click()
    assert "annulée" in page.get_by_role("status").inner_text()
    row = page.locator(f"#demande-{sent['2101']}")
    assert row.get_attribute("data-statut") == "annulee"
    assert "La famille préfère le SMR gériatrique" in row.inner_text()
    _check(page, ui, "annulee")
    row.get_by_role("button", name=re.compile("^Réactiver")).click()
    assert page.locator(f"#demande-{sent['2101']}").get_attribute("data-statut") == "en_attente_de_reponse"

    # the receivers answer: accord de principe from SMR polyvalent, acceptance from SMR gériatrique
    today = live.clock.now().date()
    _answer(live, gw["DURAND"], sent["2101"], "accorder", date_debut=today + dt.timedelta(days=4),
            date_fin=today + dt.timedelta(days=9))
    _answer(live, gw["DURAND"], sent["2103"], "accepter", date_admission=today + dt.timedelta(days=6))
    page.reload()
    accord = page.locator(f"#demande-{sent['2101']}")
    assert "Accord de principe" in accord.inner_text()
    assert (f"entre le {today + dt.timedelta(days=4):%d/%m/%Y} et le {today + dt.timedelta(days=9):%d/%m/%Y}"
            in accord.inner_text())
    assert "Relance de l'unité possible à partir du" in accord.inner_text()
    assert accord.get_by_role("button", name=re.compile("^Relancer")).count() == 0
    assert f"Date d'admission proposée : {today + dt.timedelta(days=6):%d/%m/%Y}" in \
        page.locator(f"#demande-{sent['2103']}").inner_text()
    _check(page, ui, "reponses")

    # 72 h later the relance is offered (the session has expired meanwhile: signed in again)
    live.clock.advance(hours=73)
    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    page.locator(f"#demande-{sent['2101']}").get_by_role("button", name=re.compile("^Relancer")).click()
    assert page.get_by_role("status").inner_text() == "Relance envoyée à « SMR polyvalent »."
    assert "Relancée le" in page.locator(f"#demande-{sent['2101']}").inner_text()
    _check(page, ui, "relance")

    # confirm the accepted unit: the other one is cancelled, and the page says so
    page.locator(f"#demande-{sent['2103']}").get_by_role("button", name=re.compile("^Confirmer")).click()
    assert page.get_by_role("status").inner_text() == \
        "Demande confirmée auprès de « SMR gériatrique ». 1 autre demande annulée."
    assert page.locator(f"#demande-{sent['2103']}").get_attribute("data-statut") == "confirmee"
    other = page.locator(f"#demande-{sent['2101']}")
    assert other.get_attribute("data-statut") == "annulee"
    assert "Confirmée dans une autre structure" in other.inner_text()
    _check(page, ui, "confirmee")


def test_incomplete_dossier_refused_with_links_and_selection_kept(page: Any, live: Any, gw: dict[str, Any],
                                                                  ui: dict[str, Any]) -> None:
    dossier_id = _dossier(live, "100004")  # volets still to fill
    ui["sign_in"](page, gw["BERNARD"], f"/dossiers/{dossier_id}/envoi")
    page.goto(f"/dossiers/{dossier_id}/envoi?recherche=1&type=smr&code_postal=69007")
    assert "département 69 (approximation)" in page.locator("#position").inner_text()
    assert page.locator("#dossier-incomplet").is_visible()
    page.get_by_label("SMR locomoteur", exact=True).check()
    page.get_by_label("SMR gériatrique", exact=True).check()
    page.get_by_role("button", name="Envoyer aux unités sélectionnées").click()
    refus = page.locator("#err-envoi")
    assert "Le dossier n'est pas complet" in refus.inner_text()
    assert refus.get_by_role("link", name="Compléter le volet Orientation").get_attribute("href") == \
        f"/dossiers/{dossier_id}/volets/orientation"
    assert page.get_by_label("SMR locomoteur", exact=True).is_checked()
    assert page.get_by_label("SMR gériatrique", exact=True).is_checked()
    assert not page.get_by_label("SMR polyvalent", exact=True).is_checked()
    assert page.get_by_label("Code postal de départ").input_value() == "69007"
    _check(page, ui, "dossier-incomplet")


def test_dossier_actions_retour_domicile_cancel_and_reactivate(page: Any, live: Any, gw: dict[str, Any],
                                                               ui: dict[str, Any]) -> None:
    dossier_id = _dossier(live, "100001")  # Mme Lefèvre: accord de principe and a refusal
    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    assert "Pas de place avant six semaines" in page.locator("table.demandes").inner_text()
    page.get_by_label("Date du retour à domicile").fill("2026-03-06")
    page.get_by_role("button", name="Enregistrer la date").click()
    assert page.get_by_role("status").inner_text() == "Date de retour à domicile avant SSR enregistrée."
    assert page.get_by_text("le 06/03/2026").is_visible()
    page.get_by_role("button", name="Annuler le dossier").click()
    assert "Le motif d'annulation est obligatoire." in page.locator("#err-annulation").inner_text()
    page.get_by_label("Motif de l'annulation du dossier").fill("Patient décédé")
    page.get_by_role("button", name="Annuler le dossier").click()
    assert page.get_by_role("status").inner_text() == "Dossier annulé, avec toutes ses demandes en cours."
    assert "Confirmée" not in page.locator("table.demandes").inner_text()
    assert page.get_by_role("heading", name="Réactiver le dossier").is_visible()
    _check(page, ui, "dossier-annule")
    page.get_by_role("button", name="Réactiver le dossier").click()
    assert page.get_by_role("status").inner_text() == "Dossier réactivé."
    _check(page, ui, "dossier-reactive")
