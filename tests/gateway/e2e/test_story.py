"""The whole orientation story in a real browser (issue 8), as the users would play it, several users at once in
their own browser contexts:

the DPI pushes the patient's context (a FHIR transaction Bundle: patient, stay, diagnosis, weight, treatments,
allergies, contacts, cover, admission request) → the DPI's "Demande d'admission" button (a launch signed with the
demo DPI client's key, as ``/demo/bouton-dpi`` and samples/dpi_simulator.py sign it) → the prefilled Sanitaire
dossier, DPI badges on the prefilled values → the volets completed through their
forms → the sending page: three SMR units of the Tilleuls chosen among the suggestions → a receveur signed in for
real (identifier, password, code e-mailed over SMTP) refuses one with a motive → the receveur médical gives an
accord de principe with a date range on another, then accepts with a date → the prescripteur sees each answer,
confirms the accepted unit and sees the demande still waiting cancelled → the receveur finalises the admission →
the prescripteur's dashboard shows the dossier among the patients gone out, admission finalised.

Every page on the way is screenshotted (test-artifacts/screenshots/story-*.png) and checked by axe-core.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.auth import launch_demo
from gateway.settings import PROJECT_ROOT

BUNDLE = PROJECT_ROOT / "samples" / "fhir" / "bundle-transaction-sanitaire.json"  # Mme ADRUN (MARCHAND) Zoé
IPP, FINESS = "200451", "690001011"  # her IPP at Hôpital Saint-Exupéry, as in the Bundle
PASSWORD = "Aiguillage2026"  # every demo account (samples/demo/demo.json: mot_de_passe_demo)
PETIT_EMAIL = "j.petit@tilleuls.invalid"

# What the prescripteur types where the DPI left a required field empty (only empty fields are filled: what the
# DPI prefilled stays as it came).
VOLETS: dict[str, dict[str, str]] = {
    "orientation": {"objectif_prise_en_charge": "Rééducation à la marche et reprise d'autonomie",
                    "type_orientation": "smr", "accord_patient": "true"},
    "medical": {"pathologie_actuelle": "Pneumopathie d'inhalation, déconditionnement à l'effort",
                "antecedents": "Maladie de Parkinson", "poids_kg": "52", "taille_cm": "156",
                "traitements": "Lévodopa 100 mg x3", "allergies": "Aucune connue"},
    "soins_projet": {"soins_infirmiers": "Surveillance de la saturation, aide à la prise des traitements",
                     "dependance": "Aide partielle à la toilette et à l'habillage",
                     "projet": "Retour à domicile avec aides après rééducation"},
    "administratif_social": {"adresse": "3 place Bellecour, 69002 Lyon", "service_demandeur": "Médecine interne",
                             "date_hospitalisation": "2026-02-24", "type_logement": "appartement"},
    "pieces_jointes": {"verifiees": "true"},
}
STEP = {"n": 0}
NOTE = "Fille joignable après 18 h ; ne pas appeler le fils (conflit familial)."
REPORT_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
              b"endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def step(page: Any, ui: dict[str, Any], name: str, *, axe: bool = True) -> None:
    """Screenshot (numbered in story order) and axe-core on the page as it is now."""
    STEP["n"] += 1
    ui["shoot"](page, f"story-{STEP['n']:02d}-{name}")
    if axe:
        ui["assert_accessible"](page, name)


def new_page(browser: Any, live: Any) -> Any:
    """A browser context of its own (another user at another desk)."""
    context = browser.new_context(base_url=live.url, locale="fr-FR", timezone_id="Europe/Paris",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    return opened


def units(live: Any, dossier_id: int) -> dict[str, int]:
    """The dossier's demandes by the receiving unit's UF code."""
    with live.container.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT u.code_uf, d.id FROM demande d JOIN unite u ON u.id = d.unite_id "
                                    "WHERE d.dossier_id = :d"), {"d": dossier_id}).all()
    return {str(code): int(demande_id) for code, demande_id in rows}


def set_field(form: Any, name: str, value: str) -> None:
    """Type ``value`` into the form's control named ``name`` whatever its kind, unless it already holds a value."""
    control = form.locator(f"[name='{name}']")
    assert control.count() > 0, f"no field named {name!r} in the form"
    first = control.first
    tag = first.evaluate("e => e.tagName.toLowerCase()")
    kind = (first.get_attribute("type") or "").lower()
    if kind == "checkbox" and control.count() == 1:
        first.check()
    elif kind in ("checkbox", "radio"):
        answered = form.locator(f"[name='{name}']:checked")
        if answered.count() and (answered.first.get_attribute("value") or "") not in ("", "non", "false"):
            return
        chosen = form.locator(f"[name='{name}'][value='{value}']")
        if chosen.count() == 0:  # a yes / no / not given choice: the yes
            chosen = form.locator(f"[name='{name}']:is([value='true'], [value='oui'], [value='1'], [value='on'])")
        assert chosen.count() > 0, f"no choice {value!r} for {name!r}"
        chosen.first.check()
    elif tag == "select":
        if first.input_value():
            return
        values = [v for v in first.locator("option").evaluate_all("os => os.map(o => o.value)") if v]
        first.select_option(value if value in values else values[0])
    elif not first.input_value().strip():
        first.fill(value)


def complete_volet(page: Any, dossier_id: int, volet: str, values: dict[str, str]) -> None:
    page.goto(f"/dossiers/{dossier_id}/volets/{volet}")
    form = page.locator(f"form[action$='/volets/{volet}']")
    if form.count() == 0:
        form = page.locator("main form").filter(has=page.locator("[name='csrf_token']"))
    form = form.first
    for name, value in values.items():
        set_field(form, name, value)
    with page.expect_navigation():
        form.locator("[type='submit']").last.click()


def sign_in_with_password_and_code(page: Any, live: Any, login: str, email: str, suite: str) -> None:
    """The real sign-in: identifier and password, then the 6-digit code received by e-mail (DOMAIN.md §6)."""
    page.goto(f"/connexion/mot-de-passe?suite={suite}")
    page.get_by_label(re.compile("^Identifiant")).fill(login)
    page.get_by_label(re.compile("^Mot de passe")).fill(PASSWORD)
    sent_before = len([m for m in live.smtp.to(email) if "code de connexion" in str(m["Subject"])])
    page.get_by_role("button", name="Recevoir mon code par e-mail").click()
    page.wait_for_url(re.compile("/connexion/code"))
    code = live.smtp.last_code(email, after=sent_before)
    page.get_by_label(re.compile("^Code à 6 chiffres")).fill(code)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(re.escape(suite.split("?")[0]) + r"(\?|$)"))


def demande_row(page: Any, numero: str, unite_nom: str) -> Any:
    return page.locator("tbody tr").filter(has_text=numero).filter(has_text=unite_nom)


def test_the_whole_story_from_the_dpi_button_to_the_finalised_admission(
        browser: Any, page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    STEP["n"] = 0
    today = live.clock.now().date()

    # --- 1. The DPI pushes Mme Marchand's context, then its button: Dr Martin lands, signed in, on her prefilled
    #        Sanitaire dossier ---------------------------------------------------------------------------------------
    pushed = httpx.post(f"{live.url}/fhir/r4", content=BUNDLE.read_bytes(), timeout=30,
                        headers={"Content-Type": "application/fhir+json", "X-Aiguillage-Client-FHIR": "dpi-demo"})
    assert pushed.status_code == 200, pushed.text
    page.goto(launch_demo.launch_url(live.url, live.container.settings.samples_dir, user=gw["MARTIN"],
                                     patient={"ipp": IPP, "finess": FINESS}, now=live.clock.now().timestamp()))
    page.wait_for_url(re.compile(r"/dossiers/\d+$"))
    dossier_id = int(page.url.rsplit("/", 1)[1])
    assert "marchand" in page.locator("main").inner_text().lower(), "the patient's name is not in the header"
    assert page.locator(".badge.provenance").count() > 0, "no value of the dossier shows it came from the DPI"
    with live.container.uow() as uow:
        dossier = uow.dossiers.get(dossier_id)
        numero = dossier.numero
        assert dossier.module.value == "sanitaire"
    step(page, ui, "dossier-prerempli")

    # --- 2. The volets completed through their forms -------------------------------------------------------------
    for volet, values in VOLETS.items():
        complete_volet(page, dossier_id, volet, values)
        if volet == "orientation":
            step(page, ui, "volet-enregistre")
    # an attachment (the hospital report, a PDF) and an internal note for the colleagues of the ward
    page.goto(f"/dossiers/{dossier_id}")
    pieces = page.locator("#pieces-jointes")
    pieces.get_by_label("Fichier").set_input_files(
        {"name": "compte-rendu-hospitalisation.pdf", "mimeType": "application/pdf", "buffer": REPORT_PDF})
    with page.expect_navigation():
        pieces.get_by_role("button", name="Joindre le fichier").click()
    assert page.locator("#pieces-jointes").get_by_role("rowheader", name="compte-rendu-hospitalisation.pdf").is_visible()
    note = page.locator("#bloc-note")
    note.get_by_label("Note interne").fill(NOTE)
    with page.expect_navigation():
        note.get_by_role("button", name="Enregistrer la note").click()
    page.goto(f"/dossiers/{dossier_id}")
    assert page.locator("#bloc-note textarea").input_value() == NOTE
    for volet in VOLETS:
        section = page.locator(f"#section-{volet}")
        assert "Volet complet" in section.locator(".badge").first.inner_text(), volet
    step(page, ui, "dossier-complet")

    # --- 3. Sending: SMR units suggested with their reasons; three of the Tilleuls chosen ------------------------
    page.goto(f"/dossiers/{dossier_id}/envoi?recherche=1&type=smr&code_postal=69003")
    suggestions = page.locator("table.suggestions tbody tr")
    assert suggestions.count() >= 3
    assert page.locator("table.suggestions .raisons li").count() > 0, "no reason shown for the suggestions"
    step(page, ui, "envoi-suggestions")
    for code_uf in ("2101", "2102", "2103"):
        page.locator(f"tr[data-code-uf='{code_uf}'] input[type='checkbox']").check()
    page.get_by_role("button", name="Envoyer aux unités sélectionnées").click()
    page.wait_for_load_state()
    sent = units(live, dossier_id)
    assert set(sent) == {"2101", "2102", "2103"}
    for code_uf, demande_id in sent.items():
        assert page.locator(f"#demande-{demande_id}").get_attribute("data-statut") == "en_attente_de_reponse", code_uf
    assert page.locator("#demande-{} .badge".format(sent["2101"])).inner_text().strip().lower().startswith(
        "en attente")
    step(page, ui, "envoi-envoye")

    # --- 4. Julie Petit (receveur, SMR) signs in for real and refuses for SMR polyvalent -------------------------
    petit = new_page(browser, live)
    try:
        sign_in_with_password_and_code(petit, live, gw["PETIT"], PETIT_EMAIL, "/receveur")
        step(petit, ui, "receveur-tableau")
        row = demande_row(petit, numero, "SMR polyvalent")
        assert row.count() == 1, "the demande to SMR polyvalent is not in the receveur's list"
        row.get_by_role("link", name=numero).click()
        petit.wait_for_url(re.compile(f"/receveur/demandes/{sent['2101']}$"))
        assert petit.locator("#medical-masque").is_visible(), "a non-medical receveur must not see the médical volet"
        assert "compte-rendu-hospitalisation.pdf" in petit.locator("main").inner_text(), "the attachment reaches the unit"
        assert NOTE not in petit.locator("main").inner_text(), "the internal note never leaves the établissement"
        step(petit, ui, "receveur-demande")
        form = petit.locator("#form-refuser")
        motifs = [v for v in form.locator("select[name='motif_choix'] option").evaluate_all(
            "os => os.map(o => o.value)") if v]
        form.locator("select[name='motif_choix']").select_option(motifs[0])
        form.locator("textarea[name='motif_precision']").fill("Plus de lit avant trois semaines.")
        form.get_by_role("button", name="Refuser la demande").click()
        petit.wait_for_load_state()
        assert petit.locator("#titre-etat ~ p .badge").first.inner_text().strip().lower().startswith("refus")
        step(petit, ui, "receveur-refus")
    finally:
        petit.context.close()

    # --- 5. Dr Durand (receveur médical): accord de principe with a date range, then acceptance with a date -------
    durand = new_page(browser, live)
    try:
        ui["sign_in"](durand, gw["DURAND"], "/receveur")
        demande_row(durand, numero, "SMR gériatrique").get_by_role("link", name=numero).click()
        durand.wait_for_url(re.compile(f"/receveur/demandes/{sent['2103']}$"))
        assert durand.locator("#medical-masque").count() == 0
        assert durand.get_by_text("Fracture du col du fémur droit").first.is_visible(), \
            "the receveur médical reads the médical volet (the DPI's diagnosis)"
        debut, fin = today + dt.timedelta(days=5), today + dt.timedelta(days=12)
        form = durand.locator("#form-accorder")
        form.locator("[name='date_debut']").fill(debut.isoformat())
        form.locator("[name='date_fin']").fill(fin.isoformat())
        form.get_by_role("button", name="Donner l'accord de principe").click()
        durand.wait_for_load_state()
        assert durand.get_by_text(f"du {debut:%d/%m/%Y} au {fin:%d/%m/%Y}").first.is_visible()
        step(durand, ui, "receveur-accord-de-principe")
        admission = today + dt.timedelta(days=7)
        form = durand.locator("#form-accepter")
        form.locator("[name='date_admission']").fill(admission.isoformat())
        form.get_by_role("button", name="Accepter avec cette date").click()
        durand.wait_for_load_state()
        assert durand.locator("#titre-etat ~ p .badge").first.inner_text().strip().lower().startswith("accept")
        step(durand, ui, "receveur-acceptation")

        # --- 6. The prescripteur sees each answer, confirms the Tilleuls gériatrique; the one waiting is cancelled
        page.goto(f"/dossiers/{dossier_id}/envoi")
        assert page.locator(f"#demande-{sent['2101']}").get_attribute("data-statut") == "refusee"
        assert "Plus de lit avant trois semaines" in page.locator(f"#demande-{sent['2101']}").inner_text()
        assert page.locator(f"#demande-{sent['2103']}").get_attribute("data-statut") == "acceptee"
        assert f"{admission:%d/%m/%Y}" in page.locator(f"#demande-{sent['2103']}").inner_text()
        step(page, ui, "prescripteur-reponses")
        page.locator(f"#demande-{sent['2103']}").get_by_role("button", name=re.compile("^Confirmer")).click()
        page.wait_for_load_state()
        assert page.locator(f"#demande-{sent['2103']}").get_attribute("data-statut") == "confirmee"
        assert page.locator(f"#demande-{sent['2102']}").get_attribute("data-statut") == "annulee"
        assert page.locator(f"#demande-{sent['2102']} .badge").inner_text().strip().lower().startswith("annul")
        assert page.locator(f"#demande-{sent['2101']}").get_attribute("data-statut") == "refusee"
        step(page, ui, "prescripteur-confirmation")

        # --- 7. The receveur finalises the admission -----------------------------------------------------------
        durand.goto(f"/receveur/demandes/{sent['2103']}")
        durand.locator("#form-finaliser_admission").get_by_role("button", name="Finaliser l'admission").click()
        durand.wait_for_load_state()
        assert "admission finalis" in durand.locator("#titre-etat ~ p .badge").first.inner_text().lower()
        step(durand, ui, "receveur-admission-finalisee")
    finally:
        durand.context.close()

    # --- 8. The prescripteur's dashboard: the dossier among the patients gone out, admission finalised ----------
    page.goto("/tableau-de-bord?section=patients_sortis")
    row = page.locator(f"tr[data-dossier='{numero}']")
    assert row.count() == 1, "the admitted dossier is not in « Patients sortis »"
    assert "admission finalis" in row.inner_text().lower()
    assert "1 pièce jointe" in row.locator(".indicateur.piece").inner_text(), "no attachment icon on the row"
    assert row.get_by_role("button", name="Note interne").count() == 1, "no internal-note icon on the row"
    step(page, ui, "tableau-de-bord-patients-sortis")
    page.goto("/tableau-de-bord")
    assert page.locator(f"tr[data-dossier='{numero}']").count() == 0, "an admitted dossier is no longer en cours"

    # --- 9. Every step is in the dossier's history --------------------------------------------------------------
    page.goto(f"/dossiers/{dossier_id}/historique")
    history = page.locator("main").inner_text()
    for event in ("Demande refusée", "Accord de principe", "Demande acceptée", "Proposition confirmée",
                  "Admission finalisée"):
        assert event in history, f"« {event} » is not in the dossier's history"
    step(page, ui, "historique")


def test_the_demo_dpi_button_lands_signed_in_on_a_new_sanitaire_dossier(page: Any, live: Any,
                                                                         ui: dict[str, Any]) -> None:
    """``/demo/bouton-dpi`` (demo profile): the same signed launch for the demo patient, Mme Dubois, whose only
    dossier is closed (admitted): a new Sanitaire draft is opened in Dr Martin's unit."""
    page.goto("/demo/bouton-dpi")
    page.wait_for_url(re.compile(r"/dossiers/\d+$"))
    dossier_id = int(page.url.rsplit("/", 1)[1])
    assert "dubois" in page.locator("main").inner_text().lower()
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    with live.container.uow() as uow:
        dossier = uow.dossiers.get(dossier_id)
        assert dossier.module.value == "sanitaire" and dossier.etat.value == "brouillon"
    ui["shoot"](page, "story-bouton-dpi-demo")
