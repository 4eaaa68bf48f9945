"""The prescripteur dashboard in Chromium: every section (screenshot and axe-core each), the status filter, the search,
pagination, the internal note read by hovering and by keyboard, the Excel download, and a status changed by a
receiving unit appearing without a reload (the page's own 20-second refresh, with the browser's clock fast-forwarded).
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from playwright.sync_api import expect

from gateway.ui import dashboard as dashboard_module
from orientation_core.demande import service as demandes
from orientation_core.dossier import service as dossiers

SECTIONS = (("Demandes en cours", "en-cours", "S00000001"), ("Anticipées", "anticipees", "S00000005"),
            ("Retour à domicile avant SSR", "retour-domicile", "S00000006"),
            ("Patients sortis", "patients-sortis", "S00000003"), ("Archivées", "archivees", "S00000008"),
            ("Annulées", "annulees", "S00000007"))


def _dossier_id(live: Any, numero: str) -> int:
    with live.container.uow() as uow:
        found = uow.dossiers.by_numero(numero)
        assert found is not None and found.id is not None
        return int(found.id)


def _rows(page: Any) -> Any:
    return page.locator("#lignes tr[data-dossier]")


def test_each_section_is_shown_and_accessible(page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    expect(page.get_by_role("heading", level=1, name="Mes dossiers")).to_be_visible()
    tabs = page.get_by_role("navigation", name="Sections du tableau de bord")
    for label, slug, numero in SECTIONS:
        tabs.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=2, name=label)).to_be_visible()
        expect(tabs.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        expect(page.get_by_role("link", name=numero, exact=True)).to_be_visible()
        ui["shoot"](page, f"dashboard-{slug}")
        ui["assert_accessible"](page, f"tableau de bord : {label}")


def test_filter_search_paginate_and_read_the_internal_note(page: Any, live: Any, gw: dict[str, Any],
                                                           ui: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setattr(dashboard_module, "PAGE_SIZES", (2, 10, 25, 50))
    lefevre = _dossier_id(live, "S00000001")
    with live.container.uow() as uow:
        dossiers.modifier_bloc_note(uow, live.container.env, live.user_id(gw["MARTIN"]), lefevre,
                                    "Fille joignable après 18 h")
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    expect(_rows(page)).to_have_count(5)

    # status filter: the dossiers with a refused demande
    page.get_by_label("Refusée").check()
    page.get_by_role("button", name="Filtrer").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("LEFÈVRE Jeanne")
    expect(page.get_by_label("Refusée")).to_be_checked()
    ui["shoot"](page, "dashboard-filtre-refusee")

    # search by name, then by number; an unknown name gets the French empty state
    page.get_by_role("link", name="Effacer les filtres").click()
    page.get_by_label("Nom du patient ou n° de dossier").fill("faure")
    page.get_by_role("button", name="Filtrer").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("S00000009")
    expect(_rows(page).first).to_contain_text("annulation automatique le 01/04/2026")
    page.get_by_label("Nom du patient ou n° de dossier").fill("10")
    page.get_by_role("button", name="Filtrer").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("Dossier Grand Âge lié")
    page.get_by_label("Nom du patient ou n° de dossier").fill("personne")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_text("Aucun dossier dans cette section.")).to_be_visible()
    expect(page.get_by_label("Nom du patient ou n° de dossier")).to_have_value("personne")
    ui["shoot"](page, "dashboard-recherche-vide")
    ui["assert_accessible"](page, "tableau de bord : recherche sans résultat")

    # pagination, two per page, module filter kept
    page.get_by_role("link", name="Effacer les filtres").click()
    page.get_by_label("Module").select_option(label="Sanitaire")
    page.get_by_label("Dossiers par page").select_option("2")
    page.get_by_role("button", name="Filtrer").click()
    expect(_rows(page)).to_have_count(2)
    first_page = set(_rows(page).evaluate_all("rows => rows.map(r => r.dataset.dossier)"))
    pagination = page.get_by_role("navigation", name="Pagination")
    pagination.get_by_role("link", name="Page suivante").click()
    expect(pagination).to_contain_text("Page 2")
    expect(_rows(page)).to_have_count(2)
    second_page = set(_rows(page).evaluate_all("rows => rows.map(r => r.dataset.dossier)"))
    assert not first_page & second_page and "G00000011" not in first_page | second_page
    expect(page.get_by_label("Module")).to_have_value("sanitaire")
    ui["shoot"](page, "dashboard-page-2")
    ui["assert_accessible"](page, "tableau de bord : page 2")

    # the internal note: on hover, and by keyboard focus (its text is the button's description)
    page.goto("/tableau-de-bord?recherche=lef")
    note = page.get_by_role("button", name="Note interne")
    expect(note).to_have_accessible_description("Fille joignable après 18 h")
    tooltip = page.get_by_role("tooltip")
    assert tooltip.bounding_box()["width"] < 5  # tucked away until asked for
    note.hover()
    expect(tooltip).to_contain_text("Fille joignable après 18 h")
    assert tooltip.bounding_box()["width"] > 100
    ui["shoot"](page, "dashboard-note-survol")
    page.mouse.move(0, 0)
    page.get_by_label("Nom du patient ou n° de dossier").focus()
    page.keyboard.press("Tab")  # on to the next focusable: the Filtrer button, then onwards until the note
    for _ in range(40):
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Note interne":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Note interne"
    assert tooltip.bounding_box()["width"] > 100
    page.keyboard.press("Escape")  # dismissed without moving the focus (WCAG 1.4.13)
    assert tooltip.bounding_box()["width"] < 5
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Note interne"
    ui["assert_accessible"](page, "tableau de bord : note interne")


def test_excel_export_downloads_the_current_view(page: Any, live: Any, gw: dict[str, Any],
                                                 ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord?section=annulees")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter la vue (Excel)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("tableau-de-bord-annulees-")
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))  # the temp file has no extension
    rows = list(book["Dossiers"].iter_rows(values_only=True))
    assert rows[0][0] == "N° de dossier"
    assert [r[0] for r in rows[1:]] == ["S00000007"]
    assert rows[1][1] == "PERRIN Georges" and "Unité de soins palliatifs : Annulée" in str(rows[1][7])


def test_a_status_changed_by_the_receiving_unit_appears_without_reload(page: Any, live: Any, gw: dict[str, Any],
                                                                     ui: dict[str, Any]) -> None:
    page.clock.install()  # the page's own 20-second refresh, on a browser clock the test moves
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    row = page.locator('#lignes tr[data-dossier="S00000001"]')
    expect(row).to_contain_text("Accord de principe")
    expect(page.locator("#lignes")).to_have_attribute("data-refresh-seconds", "20")
    page.evaluate("window.__sans_rechargement = true")
    lefevre = _dossier_id(live, "S00000001")
    with live.container.uow() as uow:
        demande = next(d for d in uow.demandes.for_dossier(lefevre) if d.statut.value == "accord_de_principe")
        assert demande.id is not None
        demandes.agir(uow, live.container.env, live.user_id(gw["DURAND"]), demande.id, "accepter",
                      demandes.Answer(date_admission=(gw["T0"] + dt.timedelta(days=5)).date()))
    page.clock.run_for(10_000)
    expect(row).to_contain_text("Accord de principe")  # not yet: the refresh runs every 20 s
    page.clock.run_for(11_000)
    expect(row).to_contain_text("Acceptée")
    expect(row).not_to_contain_text("Accord de principe")
    assert page.evaluate("window.__sans_rechargement") is True  # the same page, not a reload
    ui["shoot"](page, "dashboard-rafraichi")
