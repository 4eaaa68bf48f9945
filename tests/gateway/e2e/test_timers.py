"""The timers of DOMAIN.md §4 as the users see them in the browser, after a jump of the server's clock
(``live.clock``, the ``FrozenClock`` every timer reads):

* a manual relance is offered 72 h after the answer that awaits the other side — to the prescripteur after an
  accord de principe ("Relancer l'unité"), to the receveur after an acceptance with a date ("Relancer le
  prescripteur") — and before that the page says from when;
* the automatic relance raised by the timer sweep when nothing happened for two months, with the automatic
  cancellation date on the dashboard; the prescripteur may withdraw it and keep the dossier;
* 30 days after a receveur's relance left unanswered, the sweep cancels that demande, then archives it;
* 30 days after the automatic relance the sweep cancels the demandes ("Annulation automatique") and the dossier moves to « Annulées »;
  15 days after that it is archived (« Archivées »).

Sessions time out like the real ones: after a jump of days each user signs in again, as he would the next morning.
The sweep is the real task (``timers.sweep``), run in-process through the container's queue as the scheduler
would run it. Screenshots: test-artifacts/screenshots/timers-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from orientation_core.demande import service as demandes
from orientation_core.patients.model import TypeIdentifiantPatient

FINESS_CHU = "690001011"  # Hôpital Saint-Exupéry (demo): the IPPs are its own


def dossier_of(live: Any, ipp: str) -> tuple[int, str]:
    """(id, numero) of the demo patient's dossier."""
    with live.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, FINESS_CHU)
        assert patient is not None and patient.id is not None, ipp
        dossier = uow.dossiers.for_patient(patient.id)[0]
        assert dossier.id is not None
        return dossier.id, dossier.numero


def demande_to(live: Any, dossier_id: int, code_uf: str) -> int:
    with live.container.uow() as uow:
        found = uow.demandes.for_dossier(dossier_id)
        by_id = uow.directory.unites([d.unite_id for d in found])
        for d in found:
            if by_id[d.unite_id].code_uf == code_uf:
                assert d.id is not None
                return int(d.id)
    raise AssertionError(f"no demande of dossier {dossier_id} to UF {code_uf}")


def sweep(live: Any) -> None:
    """The periodic timer sweep, as the scheduler runs it (the live server's queue runs tasks at once)."""
    live.container.tasks.enqueue("timers.sweep")


def jump(live: Any, ui: dict[str, Any], signed_in: list[tuple[Any, str]], **delta: float) -> None:
    """Move the server's clock; the sessions have timed out meanwhile: each user signs in again where he was."""
    live.clock.advance(**delta)
    for page, login in signed_in:
        where = page.url.removeprefix(live.url)
        ui["sign_in"](page, login, where)
        assert page.url.removeprefix(live.url) == where


def paris(value: dt.datetime) -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y")


def other_user(browser: Any, live: Any) -> Any:
    context = browser.new_context(base_url=live.url, locale="fr-FR", timezone_id="Europe/Paris",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    return opened


def test_manual_relances_appear_72_hours_after_the_answer_that_awaits_the_other_side(
        browser: Any, page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    # Mme Da Silva's dossier (Dr Martin, UF 1101) waits for SMR locomoteur (2102): Dr Durand gives an accord de
    # principe now.
    dossier_id, _ = dossier_of(live, "100006")
    demande_id = demande_to(live, dossier_id, "2102")
    start = live.clock.now()
    with live.container.uow() as uow:
        demandes.agir(uow, live.container.env, live.user_id(gw["DURAND"]), demande_id, "accorder",
                      demandes.Answer(date_debut=start.date() + dt.timedelta(days=10),
                                      date_fin=start.date() + dt.timedelta(days=20)))

    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    row = page.locator(f"#demande-{demande_id}")
    assert row.get_attribute("data-statut") == "accord_de_principe"
    assert row.get_by_role("button", name=re.compile("^Relancer l'unité")).count() == 0
    assert f"Relance de l'unité possible à partir du {paris(start + dt.timedelta(hours=72))}" in row.inner_text()
    ui["shoot"](page, "timers-01-relance-unite-pas-encore")

    jump(live, ui, [(page, gw["MARTIN"])], hours=73)
    row = page.locator(f"#demande-{demande_id}")
    relancer = row.get_by_role("button", name=re.compile("^Relancer l'unité"))
    assert relancer.is_visible(), "72 h after the accord de principe the prescripteur may relance the unit"
    ui["shoot"](page, "timers-02-relance-unite-possible")
    ui["assert_accessible"](page, "envoi, relance possible")
    relancer.click()
    page.wait_for_load_state()
    row = page.locator(f"#demande-{demande_id}")
    assert f"Relancée le {paris(live.clock.now())}" in row.inner_text()
    assert row.get_by_role("button", name=re.compile("^Relancer l'unité")).count() == 0  # not twice in 72 h
    ui["shoot"](page, "timers-03-unite-relancee")

    # The unit accepts with a date: now the receveur waits for the prescripteur's confirmation.
    durand = other_user(browser, live)
    try:
        ui["sign_in"](durand, gw["DURAND"], f"/receveur/demandes/{demande_id}")
        accepted_at = live.clock.now()
        form = durand.locator("#form-accepter")
        form.locator("[name='date_admission']").fill((accepted_at.date() + dt.timedelta(days=8)).isoformat())
        form.get_by_role("button", name="Accepter avec cette date").click()
        durand.wait_for_load_state()
        relance = durand.locator("#form-relancer_prescripteur")
        assert relance.get_by_role("button", name="Relancer le prescripteur").count() == 0
        assert f"possible à partir du {paris(accepted_at + dt.timedelta(hours=72))}" in relance.inner_text()
        ui["shoot"](durand, "timers-04-relance-prescripteur-pas-encore")

        jump(live, ui, [(durand, gw["DURAND"])], hours=73)
        relance = durand.locator("#form-relancer_prescripteur")
        assert relance.get_by_role("button", name="Relancer le prescripteur").is_visible()
        ui["shoot"](durand, "timers-05-relance-prescripteur-possible")
        ui["assert_accessible"](durand, "demande reçue, relance possible")
        relance.get_by_role("button", name="Relancer le prescripteur").click()
        durand.wait_for_load_state()
        assert f"envoyée le {paris(live.clock.now())}" in durand.locator("#titre-etat ~ dl").inner_text()
    finally:
        durand.context.close()

    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    assert f"L'unité vous a relancé le {paris(live.clock.now())}" in page.locator(f"#demande-{demande_id}").inner_text()
    ui["shoot"](page, "timers-06-prescripteur-relance-par-l-unite")

    # The prescripteur does nothing for 30 days after the unit's relance: the sweep cancels that demande
    # (reactivable 15 days), then archives it.
    jump(live, ui, [(page, gw["MARTIN"])], days=30)
    sweep(live)
    page.reload()
    row = page.locator(f"#demande-{demande_id}")
    assert row.get_attribute("data-statut") == "annulee"
    assert "Annulation automatique" in row.inner_text(), \
        "the sending page must say why the demande was cancelled, even when the unit had proposed a date"
    assert "Réactivable jusqu'au" in row.inner_text()
    ui["shoot"](page, "timers-06b-demande-annulee-apres-relance")
    jump(live, ui, [(page, gw["MARTIN"])], days=16)
    sweep(live)
    page.reload()
    assert page.locator(f"#demande-{demande_id}").get_attribute("data-statut") == "archivee"


def test_automatic_relance_then_automatic_cancellation_then_archival_on_the_dashboard(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    # Mme Lefèvre's dossier: an accord de principe 5 days ago (demo), nothing since.
    dossier_id, numero = dossier_of(live, "100001")
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    row = page.locator(f"tr[data-dossier='{numero}']")
    assert row.count() == 1
    assert "Relance automatique" not in row.inner_text()

    # Two months without action: the sweep raises the automatic relance; the dashboard shows it with the date of
    # the automatic cancellation 30 days later.
    jump(live, ui, [(page, gw["MARTIN"])], days=57)
    sweep(live)
    raised = live.clock.now()
    page.reload()
    row = page.locator(f"tr[data-dossier='{numero}']")
    text = row.inner_text()
    assert f"Relance automatique le {paris(raised)}" in text
    assert f"annulation automatique le {paris(raised + dt.timedelta(days=30))}" in text
    ui["shoot"](page, "timers-07-relance-automatique")
    ui["assert_accessible"](page, "tableau de bord, relance automatique")

    page.goto(f"/dossiers/{dossier_id}/envoi")
    warning = page.locator("#relance-auto")
    assert warning.is_visible()
    assert "relancé automatiquement" in warning.inner_text()
    assert warning.get_by_role("button", name=re.compile("Conserver le dossier")).is_visible()
    ui["shoot"](page, "timers-08-relance-automatique-dossier")

    # Thirty days more, nothing done: the sweep cancels the live demandes and the dossier.
    jump(live, ui, [(page, gw["MARTIN"])], days=30)
    sweep(live)
    page.goto("/tableau-de-bord")
    assert page.locator(f"tr[data-dossier='{numero}']").count() == 0, "a cancelled dossier left « en cours »"
    page.goto("/tableau-de-bord?section=annulees")
    row = page.locator(f"tr[data-dossier='{numero}']")
    assert row.count() == 1, "the automatically cancelled dossier is in « Annulées »"
    assert "annul" in row.inner_text().lower()
    ui["shoot"](page, "timers-09-annulation-automatique")
    ui["assert_accessible"](page, "tableau de bord, annulées")
    page.goto(f"/dossiers/{dossier_id}/envoi")
    assert "Annulation automatique" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Réactiver le dossier").is_visible()  # reactivable for 15 days
    ui["shoot"](page, "timers-10-dossier-annule-reactivable")

    # Fifteen days after the cancellation: archived, read-only, no longer reactivable.
    jump(live, ui, [(page, gw["MARTIN"])], days=16)
    sweep(live)
    page.goto("/tableau-de-bord?section=archivees")
    assert page.locator(f"tr[data-dossier='{numero}']").count() == 1, "the dossier is in « Archivées »"
    ui["shoot"](page, "timers-11-archive")
    page.goto(f"/dossiers/{dossier_id}/envoi")
    assert page.get_by_role("button", name="Réactiver le dossier").count() == 0


def test_the_prescripteur_withdraws_an_automatic_relance_and_keeps_the_dossier(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    # Mme Faure-Dupont's dossier: accord de principe 70 days ago; the sweep at the demo load raised the relance.
    dossier_id, numero = dossier_of(live, "100009")
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    assert "Relance automatique" in page.locator(f"tr[data-dossier='{numero}']").inner_text()
    page.goto(f"/dossiers/{dossier_id}/envoi")
    page.locator("#relance-auto").get_by_role("button", name=re.compile("Conserver le dossier")).click()
    page.wait_for_load_state()
    assert page.locator("#relance-auto").count() == 0
    assert "Relance automatique retirée" in page.locator("main").inner_text()
    ui["shoot"](page, "timers-12-relance-automatique-retiree")

    # Thirty-one days later the sweep does not cancel it: the relance was withdrawn.
    jump(live, ui, [(page, gw["MARTIN"])], days=31)
    sweep(live)
    page.goto("/tableau-de-bord")
    row = page.locator(f"tr[data-dossier='{numero}']")
    assert row.count() == 1, "a dossier whose relance was withdrawn stays « en cours »"
