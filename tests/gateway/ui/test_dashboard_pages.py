"""The prescripteur dashboard pages through the application (TestClient, SQLite and PostgreSQL): the six sections,
status/unit/module filters, search, pagination, the icons, the rows fragment of the live refresh, the Excel export
(with the INS only for a qualified identity) and who may see it.

Demo (Dr Martin, UF 1101 and 1103): en cours S00000001 Lefèvre (accord de principe + refusée, relance possible),
S00000009 Faure-Dupont (automatic relance raised at T0), S00000010 / G00000011 Chabert (linked), S00000004 Benali
(draft); anticipée S00000005; retour à domicile S00000006; patients sortis S00000003; archivée S00000008; annulée
S00000007."""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape
from typing import Any

import pytest
from openpyxl import load_workbook

from gateway.ui import dashboard as dashboard_module
from orientation_core.patients.model import Identifiant, StatutIdentite, TypeIdentifiantPatient

HTML = {"Accept": "text/html"}
INS_QUALIFIED = "275126322074974"  # ADRUN ZOE persona, valid key
INS_UNQUALIFIED = "236066322083656"  # TCHITCHI CATARINA persona, valid key, held by a provisional identity


class Page:
    """A response whose ``text`` has its HTML entities decoded (French apostrophes, quotes)."""

    def __init__(self, response: Any) -> None:
        self.response, self.status_code, self.headers = response, response.status_code, response.headers
        self.content = response.content
        self.text = response.text if not response.headers.get("content-type", "").startswith("text/html") else \
            unescape(response.text)


def html(api: Any, gw: dict[str, Any], login: str, path: str) -> Any:
    return Page(api.client.get(path, headers={**HTML, gw["USER_HEADER"]: login}, follow_redirects=False))


def numeros(text: str) -> list[str]:
    """The dossier numbers of the table's rows, in order."""
    return re.findall(r'<tr data-dossier="([SG]\d{8})">', text)


def dossier_id(api: Any, numero: str) -> int:
    with api.container.uow() as uow:
        found = uow.dossiers.by_numero(numero)
        assert found is not None and found.id is not None
        return int(found.id)


# --- sections, filters, search, pagination ----------------------------------------------------------------------


@pytest.mark.parametrize(("section", "expected", "absent"), [
    ("", {"S00000001", "S00000009", "S00000010", "G00000011", "S00000004"}, {"S00000005", "S00000007"}),
    ("anticipees", {"S00000005"}, {"S00000001"}),
    ("retour_domicile", {"S00000006"}, {"S00000001"}),
    ("patients_sortis", {"S00000003"}, {"S00000001"}),
    ("archivees", {"S00000008"}, {"S00000007"}),
    ("annulees", {"S00000007"}, {"S00000008"}),
])
def test_each_section_lists_its_dossiers_and_marks_its_tab(api: Any, gw: dict[str, Any], section: str,
                                                           expected: set[str], absent: set[str]) -> None:
    response = html(api, gw, gw["MARTIN"], f"/tableau-de-bord?section={section}")
    assert response.status_code == 200
    shown = set(numeros(response.text))
    assert expected <= shown and not absent & shown
    tabs = response.text.split('aria-label="Sections du tableau de bord"')[1].split("</nav>")[0]
    current = re.search(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', tabs)
    assert current is not None
    assert current.group(1) == {"": "Demandes en cours", "anticipees": "Anticipées",
                                "retour_domicile": "Retour à domicile avant SSR", "patients_sortis": "Patients sortis",
                                "archivees": "Archivées", "annulees": "Annulées"}[section]


def test_rows_show_patient_identity_module_unit_and_each_demande_status(api: Any, gw: dict[str, Any]) -> None:
    text = html(api, gw, gw["MARTIN"], "/tableau-de-bord").text
    row = text.split('<tr data-dossier="S00000001">')[1].split("</tr>")[0]
    assert f'href="/dossiers/{dossier_id(api, "S00000001")}"' in row
    assert "LEFÈVRE Jeanne" in row and "identité provisoire" in row
    assert "Sanitaire" in row and "Médecine interne" in row
    assert "SMR polyvalent : <span class=\"badge orange statut\">Accord de principe</span> <span class=\"discret\">" \
        "(relance possible)</span>" in row
    assert "SMR locomoteur : <span class=\"badge rouge statut\">Refusée</span>" in row
    assert "Relance possible" in row  # accord de principe older than 72 h
    draft = text.split('<tr data-dossier="S00000004">')[1].split("</tr>")[0]
    assert "Aucune demande envoyée" in draft


def test_status_filters_keep_dossiers_having_one_demande_in_a_checked_status(api: Any, gw: dict[str, Any]) -> None:
    refused = html(api, gw, gw["MARTIN"], "/tableau-de-bord?statut=refusee")
    assert numeros(refused.text) == ["S00000001"]
    assert 'value="refusee" checked' in refused.text
    both = html(api, gw, gw["MARTIN"], "/tableau-de-bord?statut=accord_de_principe&statut=demande_de_precision")
    assert set(numeros(both.text)) == {"S00000001", "S00000009", "G00000011"}
    assert "Filtres appliqués" in both.text and "Demande de précision, Accord de principe" in both.text
    # an unknown status in a hand-edited address is ignored, not a 422
    assert set(numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?statut=nimporte").text)) >= {"S00000001"}


def test_search_by_name_prefix_or_dossier_number(api: Any, gw: dict[str, Any]) -> None:
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=lef").text) == ["S00000001"]
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=Faure").text) == ["S00000009"]
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=S00000009").text) == ["S00000009"]
    assert set(numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=chabert").text)) == {
        "S00000010", "G00000011"}
    empty = html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=zzzz")
    assert numeros(empty.text) == [] and "Aucun dossier dans cette section." in empty.text
    assert 'value="zzzz"' in empty.text  # what was typed stays in the field
    # searching another section's patient from this section finds nothing here
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?recherche=perrin").text) == []
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?section=annulees&recherche=perrin").text) == [
        "S00000007"]


def test_unit_and_module_filters(api: Any, gw: dict[str, Any]) -> None:
    geriatrie = api.unite_id("1103")
    text = html(api, gw, gw["MARTIN"], f"/tableau-de-bord?unite_id={geriatrie}").text
    assert set(numeros(text)) == {"S00000009", "S00000010", "G00000011"}
    assert f'<option value="{geriatrie}" selected>' in text
    assert numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?module=grand_age").text) == ["G00000011"]
    assert "G00000011" not in numeros(html(api, gw, gw["MARTIN"], "/tableau-de-bord?module=sanitaire").text)


def test_a_unit_the_user_does_not_hold_is_refused_with_a_french_page(api: Any, gw: dict[str, Any]) -> None:
    foreign = api.unite_id("1102")  # Dr Lambert's unit, not Dr Martin's
    response = html(api, gw, gw["MARTIN"], f"/tableau-de-bord?unite_id={foreign}")
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "Vous n'avez pas accès au tableau de bord de cette unité." in response.text
    assert html(api, gw, gw["MARTIN"], f"/tableau-de-bord/export.xlsx?unite_id={foreign}").status_code == 403


def test_pagination_walks_the_pages_keeping_the_filters(api: Any, gw: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_module, "PAGE_SIZES", (2, 10, 25))
    first = html(api, gw, gw["MARTIN"], "/tableau-de-bord?par_page=2&module=sanitaire")
    assert len(numeros(first.text)) == 2
    assert "Page précédente" not in first.text
    link = re.search(r'<a href="([^"]+)" rel="next">Page suivante</a>', first.text)
    assert link is not None
    next_url = link.group(1)
    assert "module=sanitaire" in next_url and "par_page=2" in next_url and "page=2" in next_url
    second = html(api, gw, gw["MARTIN"], next_url)
    assert len(numeros(second.text)) == 2 and not set(numeros(second.text)) & set(numeros(first.text))
    assert "Page précédente" in second.text and "Page 2" in second.text
    third = html(api, gw, gw["MARTIN"], next_url.replace("page=2", "page=3"))
    assert len(numeros(third.text)) == 0 or "Page suivante" not in third.text
    seen = numeros(first.text) + numeros(second.text) + numeros(third.text)
    assert set(seen) == {"S00000001", "S00000009", "S00000010", "S00000004"}


# --- icons ----------------------------------------------------------------------------------------------------------


def test_icons_attachment_internal_note_linked_dossier_and_automatic_relance(api: Any, gw: dict[str, Any]) -> None:
    lefevre = dossier_id(api, "S00000001")
    api.ok(api.put(gw["MARTIN"], f"/api/v1/dossiers/{lefevre}/bloc-note",
                   {"texte": "Fille joignable après 18 h <à rappeler>"}))
    for nom in ("ordonnance.pdf", "radio.png"):
        api.ok(api.post(gw["MARTIN"], f"/api/v1/dossiers/{lefevre}/pieces-jointes",
                        {"nom": nom, "type_mime": "application/pdf", "taille": 1000}), 201)
    text = html(api, gw, gw["MARTIN"], "/tableau-de-bord").text
    row = text.split('<tr data-dossier="S00000001">')[1].split("</tr>")[0]
    assert "2 pièces jointes" in row
    assert f'aria-describedby="note-{lefevre}"' in row and 'aria-label="Note interne"' in row
    assert f'role="tooltip" id="note-{lefevre}"' in row
    assert "Fille joignable après 18 h <à rappeler>" in row
    chabert = text.split('<tr data-dossier="S00000010">')[1].split("</tr>")[0]
    assert f'href="/dossiers/{dossier_id(api, "G00000011")}"' in chabert and "Dossier Grand Âge lié" in chabert
    faure = text.split('<tr data-dossier="S00000009">')[1].split("</tr>")[0]
    assert "Relance automatique le 02/03/2026" in faure and "annulation automatique le 01/04/2026" in faure


# --- live refresh fragment ------------------------------------------------------------------------------------------


def test_rows_fragment_has_the_same_rows_and_shows_a_status_changed_by_the_receiving_unit(
        api: Any, gw: dict[str, Any]) -> None:
    page = html(api, gw, gw["MARTIN"], "/tableau-de-bord?statut=accord_de_principe")
    refresh = re.search(r'data-refresh="([^"]+)"', page.text)
    assert refresh is not None
    url = refresh.group(1)
    assert url == "/tableau-de-bord/lignes?statut=accord_de_principe"
    before = html(api, gw, gw["MARTIN"], url)
    assert before.status_code == 200 and "<html" not in before.text and "<tr" in before.text
    assert numeros(before.text) == numeros(page.text)
    lefevre = dossier_id(api, "S00000001")
    demande = next(d for d in api.ok(api.get(gw["MARTIN"], f"/api/v1/dossiers/{lefevre}"))["demandes"]
                   if d["statut"] == "accord_de_principe")
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{demande['id']}/accepter",
                    {"date_admission": (gw["T0"] + dt.timedelta(days=5)).date().isoformat()}))
    after = html(api, gw, gw["MARTIN"], "/tableau-de-bord/lignes")
    row = after.text.split('<tr data-dossier="S00000001">')[1].split("</tr>")[0]
    assert "Acceptée" in row and "Accord de principe" not in row


# --- export ---------------------------------------------------------------------------------------------------------


def _qualify(api: Any, numero: str, ins: str, *, qualified: bool) -> None:
    with api.container.uow() as uow:
        dossier = uow.dossiers.by_numero(numero)
        assert dossier is not None
        patient = uow.patients.get(dossier.patient_id)
        if qualified:
            patient.statut_identite = StatutIdentite.QUALIFIEE
        uow.patients.add_identifier(Identifiant(dossier.patient_id, TypeIdentifiantPatient.INS_NIR, ins,
                                                "1.2.250.1.213.1.4.8"))


def test_excel_export_of_the_current_view_with_the_ins_only_for_a_qualified_identity(
        api: Any, gw: dict[str, Any]) -> None:
    _qualify(api, "S00000001", INS_QUALIFIED, qualified=True)
    _qualify(api, "S00000009", INS_UNQUALIFIED, qualified=False)
    page = html(api, gw, gw["MARTIN"], "/tableau-de-bord?module=sanitaire")
    assert 'href="/tableau-de-bord/export.xlsx?module=sanitaire"' in page.text
    response = html(api, gw, gw["MARTIN"], "/tableau-de-bord/export.xlsx?module=sanitaire")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["Dossiers"]
    rows: list[tuple[Any, ...]] = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("N° de dossier", "Patient", "Statut de l'identité")
    by_numero = {r[0]: r for r in rows[1:]}
    assert set(by_numero) == {"S00000001", "S00000009", "S00000010", "S00000004"}  # the view: no Grand Âge row
    lefevre, faure = by_numero["S00000001"], by_numero["S00000009"]
    assert lefevre[1] == "LEFÈVRE Jeanne" and lefevre[2] == "identité qualifiée" and lefevre[3] == INS_QUALIFIED
    assert faure[2] == "identité provisoire" and not faure[3]
    assert all(INS_UNQUALIFIED not in str(cell) for row in rows for cell in row)
    assert "SMR polyvalent : Accord de principe" in lefevre[7] and "SMR locomoteur : Refusée" in lefevre[7]
    assert isinstance(lefevre[8], dt.datetime)  # a real Excel date, Paris wall-clock time
    assert sheet.cell(row=2, column=9).number_format == "DD/MM/YYYY HH:MM"
    assert (faure[13].date(), faure[14].date()) == (dt.date(2026, 3, 2), dt.date(2026, 4, 1))
    about: dict[Any, Any] = {r[0]: r[1] for r in book["À lire"].iter_rows(values_only=True)}
    assert about["Section"] == "Demandes en cours" and about["Module"] == "Sanitaire"
    assert about["Dossiers exportés"] == 4 and "Attention" not in about


def test_export_takes_every_page_and_caps_with_a_note(api: Any, gw: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_module, "EXPORT_BATCH", 2)  # several pages of the query behind one export
    full = load_workbook(io.BytesIO(html(api, gw, gw["MARTIN"], "/tableau-de-bord/export.xlsx?page=2").content))
    assert full["Dossiers"].max_row == 1 + 5  # every page of the view, whatever page the user was on
    monkeypatch.setattr(dashboard_module, "EXPORT_MAX", 3)
    capped = load_workbook(io.BytesIO(html(api, gw, gw["MARTIN"], "/tableau-de-bord/export.xlsx").content))
    assert capped["Dossiers"].max_row == 1 + 3
    about: dict[Any, Any] = {r[0]: r[1] for r in capped["À lire"].iter_rows(values_only=True)}
    assert "Export limité aux 3 premiers dossiers" in about["Attention"]


# --- who may see it -------------------------------------------------------------------------------------------------


def test_a_receveur_or_liberal_doctor_is_sent_to_his_own_space_and_others_get_a_french_403(api: Any, gw: dict[str, Any]) -> None:
    response = html(api, gw, gw["PETIT"], "/tableau-de-bord")
    assert response.status_code == 303 and response.headers["location"] == "/receveur"
    for path in ("/tableau-de-bord/lignes", "/tableau-de-bord/export.xlsx"):
        assert html(api, gw, gw["PETIT"], path).status_code == 403
    liberal = html(api, gw, gw["MOREAU"], "/tableau-de-bord")
    assert liberal.status_code == 303 and liberal.headers["location"] == "/liberal"
    refused = html(api, gw, gw["ADMIN"], "/tableau-de-bord")
    assert refused.status_code == 403 and "réservé aux prescripteurs" in refused.text
    anonymous = api.client.get("/tableau-de-bord", headers=HTML, follow_redirects=False)
    assert anonymous.status_code in (302, 303, 307) and "/connexion" in anonymous.headers["location"]


def test_a_non_medical_prescripteur_sees_only_his_units(api: Any, gw: dict[str, Any]) -> None:
    shown = set(numeros(html(api, gw, gw["BERNARD"], "/tableau-de-bord").text))  # UF 1101 and 1102
    assert {"S00000001", "S00000004"} <= shown and not {"S00000009", "S00000010", "G00000011"} & shown
