"""Administration pages over HTTP (TestClient, both stores): who may open them, each form, its French errors next
to the field and the typed values kept."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

HTML = {"Accept": "text/html"}


def page(api: Any, login: str, path: str) -> Any:
    return api.client.get(path, headers={"X-Aiguillage-Utilisateur": login, **HTML})


def post(api: Any, login: str, path: str, data: dict[str, Any]) -> Any:
    return api.client.post(path, headers={"X-Aiguillage-Utilisateur": login, **HTML}, data=data,
                           follow_redirects=False)


def etab_id(api: Any, finess: str) -> int:
    with api.container.uow() as uow:
        etab = uow.directory.etablissement_by_finess(finess)
        assert etab is not None and etab.id is not None
        return etab.id


def error_of(html: str, field: str) -> str:
    found = re.search(rf'<span id="{field}-erreur" class="erreur">([^<]*)</span>', html)
    assert found, f"no error next to {field}"
    return html_lib.unescape(found.group(1))


def value_of(html: str, field: str) -> str:
    found = re.search(rf'<input id="{field}" name="{field}" type="[a-z]+" value="([^"]*)"', html)
    assert found, f"no input {field}"
    return html_lib.unescape(found.group(1))


def test_only_referents_and_administrators_open_the_administration(api: Any, gw: dict[str, Any]) -> None:
    for login in (gw["MARTIN"], gw["DURAND"], gw["MOREAU"]):
        for path in ("/admin", "/admin/unites", "/admin/utilisateurs", "/admin/clients-dpi", "/admin/habilitations",
                     f"/admin/utilisateurs/{api.user_id(gw['BERNARD'])}"):
            response = page(api, login, path)
            assert response.status_code == 403, (login, path, response.status_code)
            assert "réservée aux référents" in response.text or "administrateur" in response.text
    overview = page(api, gw["REFERENT_CHU"], "/admin")
    assert overview.status_code == 200
    assert "Hôpital Saint-Exupéry (démo)" in overview.text and "690001011" in overview.text
    assert "Centre SMR Les Tilleuls" not in overview.text  # only his own établissement
    assert page(api, gw["REFERENT_CHU"], "/admin/clients-dpi").status_code == 403  # administrators only
    admin = page(api, gw["ADMIN"], "/admin")
    assert admin.status_code == 200 and admin.text.count('<th scope="row">') >= 6  # every établissement
    # a référent cannot open another établissement's pages
    other = etab_id(api, "690002027")
    assert page(api, gw["REFERENT_CHU"], f"/admin/unites?etablissement_id={other}").status_code == 403
    assert page(api, gw["REFERENT_CHU"], f"/admin/utilisateurs/{api.user_id(gw['DURAND'])}").status_code == 404


def test_referent_creates_a_unit_and_errors_keep_what_was_typed(api: Any, gw: dict[str, Any]) -> None:
    ref = gw["REFERENT_CHU"]
    listing = page(api, ref, "/admin/unites")
    assert listing.status_code == 200 and "Médecine interne" in listing.text
    typed = {"code_uf": "1101", "nom": "Unité doublon", "type": "mco", "besoins_acceptes": "oxygene",
             "code_postal": "69003", "latitude": "45,76", "longitude": "4,85", "capacite": "12"}
    response = post(api, ref, "/admin/unites", typed)
    assert response.status_code == 409
    assert error_of(response.text, "code_uf") == "L'UF 1101 existe déjà dans cet établissement."
    assert value_of(response.text, "nom") == "Unité doublon" and value_of(response.text, "latitude") == "45,76"
    bad = post(api, ref, "/admin/unites", typed | {"code_uf": "1190", "code_postal": "6900", "latitude": "nord"})
    assert bad.status_code == 422 and "un nombre est attendu" in error_of(bad.text, "latitude")
    bad = post(api, ref, "/admin/unites", typed | {"code_uf": "1190", "code_postal": "6900"})
    assert bad.status_code == 422 and error_of(bad.text, "code_postal") == "Code postal invalide : « 6900 »."
    bad = post(api, ref, "/admin/unites", typed | {"code_uf": "1190", "type": ""})
    assert error_of(bad.text, "type") == "Choisissez le type de l'unité."
    created = post(api, ref, "/admin/unites", typed | {"code_uf": "1190", "nom": "Pneumologie"})
    assert created.status_code == 303
    listing = page(api, ref, created.headers["location"])
    assert "Unité créée." in listing.text and "Pneumologie" in listing.text and "Oxygene" in listing.text
    with api.container.uow() as uow:
        unite = uow.directory.unite_by_code(etab_id(api, "690001011"), "1190")
        assert unite is not None and unite.latitude == 45.76 and unite.capacite == 12
        assert unite.besoins_acceptes == ["oxygene"]
    # a référent cannot create a unit in another établissement, even with a crafted form
    other = etab_id(api, "690002027")
    assert post(api, ref, "/admin/unites", typed | {"etablissement_id": str(other), "code_uf": "9"}
                ).status_code == 403


def test_referent_creates_an_account_with_its_first_habilitation(api: Any, gw: dict[str, Any]) -> None:
    ref = gw["REFERENT_CHU"]
    unit = api.unite_id("1102")
    typed = {"nom": "Durand", "prenom": "Léa", "email": "lea.durand", "identifiant_local": "ldurand",
             "profession": "infirmier", "role": "prescripteur", "portee": f"u{unit}"}
    bad = post(api, ref, "/admin/utilisateurs", typed)
    assert bad.status_code == 422
    assert error_of(bad.text, "email") == "Adresse e-mail invalide : « lea.durand »."
    assert value_of(bad.text, "nom") == "Durand" and value_of(bad.text, "identifiant_local") == "ldurand"
    assert f'<option value="u{unit}" selected>' in bad.text
    taken = post(api, ref, "/admin/utilisateurs", typed | {"email": "lea@chu.invalid", "identifiant_local": "jpetit"})
    assert taken.status_code == 422
    assert "Un compte existe déjà pour l'identifiant jpetit" in error_of(taken.text, "identifiant_local")
    wrong = post(api, ref, "/admin/utilisateurs", typed | {"email": "lea@chu.invalid", "role": "referent"})
    assert "établissement entier" in error_of(wrong.text, "portee")
    rpps = post(api, ref, "/admin/utilisateurs", typed | {"email": "lea@chu.invalid", "identifiant_national": "8123"})
    assert "Identifiant national invalide" in error_of(rpps.text, "identifiant_national")
    created = post(api, ref, "/admin/utilisateurs", typed | {"email": "lea@chu.invalid"})
    assert created.status_code == 303, created.text
    detail = page(api, ref, created.headers["location"])
    assert detail.status_code == 200
    assert "Compte créé avec sa première habilitation." in detail.text
    assert "1102 — Chirurgie orthopédique" in detail.text and "Prescripteur" in detail.text
    listing = page(api, ref, "/admin/utilisateurs")
    assert "Léa Durand" in listing.text


def test_habilitations_added_and_removed_unlock_and_deactivate(api: Any, gw: dict[str, Any]) -> None:
    ref = gw["REFERENT_CHU"]
    bernard = api.user_id(gw["BERNARD"])
    path = f"/admin/utilisateurs/{bernard}"
    duplicate = post(api, ref, f"{path}/habilitations", {"role": "prescripteur", "portee": f"u{api.unite_id('1101')}"})
    assert duplicate.status_code == 409 and error_of(duplicate.text, "portee") == "Cette habilitation existe déjà."
    missing = post(api, ref, f"{path}/habilitations", {"role": "prescripteur", "portee": ""})
    assert missing.status_code == 422 and "Choisissez une unité" in error_of(missing.text, "portee")
    added = post(api, ref, f"{path}/habilitations", {"role": "prescripteur", "portee": f"u{api.unite_id('1103')}"})
    assert added.status_code == 303
    detail = page(api, ref, added.headers["location"]).text
    assert "Habilitation ajoutée." in detail and "1103 — Gériatrie aiguë" in detail
    with api.container.uow() as uow:
        hab = next(h for h in uow.users.habilitations(bernard) if h.unite_id == api.unite_id("1103"))
    removed = post(api, ref, f"{path}/habilitations/{hab.id}/retrait", {})
    assert removed.status_code == 303
    detail = page(api, ref, removed.headers["location"]).text
    assert "Habilitation retirée." in detail and "1103 — Gériatrie aiguë" not in detail.split("Ajouter une habilitation")[0]
    # locked after failed sign-ins: the référent unlocks
    import datetime as dt

    with api.container.uow() as uow:
        compte = uow.accounts.get(bernard)
        assert compte is not None
        compte.verrouille_jusqu_a = api.clock.now() + dt.timedelta(minutes=30)
    assert "Verrouillé" in page(api, ref, path).text
    unlocked = post(api, ref, f"{path}/deverrouillage", {})
    detail = page(api, ref, unlocked.headers["location"]).text
    assert "Compte déverrouillé." in detail and "Déverrouiller le compte" not in detail
    assert post(api, ref, f"{path}/activation", {"actif": "non"}).status_code == 303
    detail = page(api, ref, path).text
    assert "Désactivé" in detail and "Réactiver le compte" in detail
    assert "Activation / désactivation" in detail and "Déverrouillage" in detail and "Habilitation retirée" in detail
    reactivated = post(api, ref, f"{path}/activation", {"actif": "oui"})
    assert "Compte réactivé." in page(api, ref, reactivated.headers["location"]).text
    # his own account is not managed here
    me = api.user_id(ref)
    assert page(api, ref, f"/admin/utilisateurs/{me}").status_code == 403


def test_administrator_registers_an_etablissement_with_field_errors(api: Any, gw: dict[str, Any]) -> None:
    typed = {"finess": "690001011", "nom": "Clinique des Tests", "secteur": "sanitaire", "code_postal": "69007"}
    taken = post(api, gw["ADMIN"], "/admin/etablissements", typed)
    assert taken.status_code == 409
    assert error_of(taken.text, "finess") == "L'établissement FINESS 690001011 existe déjà."
    assert value_of(taken.text, "nom") == "Clinique des Tests"
    bad = post(api, gw["ADMIN"], "/admin/etablissements", typed | {"finess": "690001012"})
    assert bad.status_code == 422 and "clé incorrecte" in error_of(bad.text, "finess")
    assert post(api, gw["REFERENT_CHU"], "/admin/etablissements", typed | {"finess": "690009998"}
                ).status_code == 403
    from orientation_core.directory.model import finess_with_key

    created = post(api, gw["ADMIN"], "/admin/etablissements", typed | {"finess": finess_with_key("69000999")})
    assert created.status_code == 303
    assert "Établissement enregistré." in page(api, gw["ADMIN"], created.headers["location"]).text


JWKS = ('{"keys": [{"kty": "EC", "crv": "P-256", "x": "cM5x_58BUzVUFUrKEghXbLBUJ_Vju-FPeyvBAC4GCTM", '
        '"y": "_9pleaWfNgjzBd3glq3srkjygfVtSPUZh_2nKYjqQBQ", "kid": "k1"}]}')


def test_administrator_registers_and_edits_a_dpi_client(api: Any, gw: dict[str, Any]) -> None:
    admin = gw["ADMIN"]
    listing = page(api, admin, "/admin/clients-dpi")
    assert listing.status_code == 200 and "dpi-demo-saint-exupery" in listing.text
    typed = {"client_id": "dpi-demo-saint-exupery", "nom": "DPI Test", "etablissements": ["690001011"],
             "modules": ["sanitaire"], "confiance": "session_required", "jwks": JWKS, "actif": "oui"}
    taken = post(api, admin, "/admin/clients-dpi", typed)
    assert taken.status_code == 422 and "existe déjà" in error_of(taken.text, "client_id")
    assert value_of(taken.text, "nom") == "DPI Test"
    bad = post(api, admin, "/admin/clients-dpi", typed | {"client_id": "dpi-test", "jwks": "{pas du json"})
    assert "JWKS illisible" in error_of(bad.text, "jwks") and "{pas du json" in bad.text
    both = post(api, admin, "/admin/clients-dpi", typed | {"client_id": "dpi-test", "jwks_url": "https://x/jwks"})
    assert "pas les deux" in error_of(both.text, "jwks")
    none = post(api, admin, "/admin/clients-dpi", typed | {"client_id": "dpi-test", "modules": []})
    assert error_of(none.text, "modules") == "Cochez au moins un module."
    http = post(api, admin, "/admin/clients-dpi", typed | {"client_id": "dpi-test", "jwks": "",
                                                           "jwks_url": "http://dpi.example/jwks"})
    assert error_of(http.text, "jwks_url") == "L'adresse JWKS doit être en https."
    created = post(api, admin, "/admin/clients-dpi", typed | {"client_id": "dpi-test"})
    assert created.status_code == 303, created.text
    assert "Client DPI enregistré." in page(api, admin, created.headers["location"]).text
    edit = page(api, admin, "/admin/clients-dpi/dpi-test")
    assert edit.status_code == 200 and "&#34;kid&#34;: &#34;k1&#34;" in edit.text
    changed = post(api, admin, "/admin/clients-dpi/dpi-test", typed | {"nom": "DPI renommé", "actif": ""})
    assert changed.status_code == 303
    with api.container.uow() as uow:
        client = uow.auth.client("dpi-test")
        assert client is not None and client.nom == "DPI renommé" and not client.actif
    broken = post(api, admin, "/admin/clients-dpi/dpi-test", typed | {"jwks": '{"keys": [{"kty": "EC"}]}'})
    assert broken.status_code == 422 and "kid" in error_of(broken.text, "jwks")
    assert value_of(broken.text, "nom") == "DPI Test"  # what was typed stays
    assert page(api, admin, "/admin/clients-dpi/inconnu").status_code == 404
    assert post(api, gw["REFERENT_CHU"], "/admin/clients-dpi/dpi-test", typed).status_code == 403


def test_habilitations_of_the_etablissement_and_granting_one(api: Any, gw: dict[str, Any]) -> None:
    ref = gw["REFERENT_CHU"]
    listing = page(api, ref, "/admin/habilitations")
    assert listing.status_code == 200
    assert "1101 — Médecine interne" in listing.text and "Claire Martin" in listing.text
    assert "Centre SMR Les Tilleuls" not in listing.text
    lambert = api.user_id(gw["LAMBERT"])
    typed = {"compte": str(lambert), "role": "prescripteur_medical", "portee": f"u{api.unite_id('1102')}"}
    duplicate = post(api, ref, "/admin/habilitations", typed)
    assert duplicate.status_code == 409 and error_of(duplicate.text, "portee") == "Cette habilitation existe déjà."
    assert f'<option value="{lambert}" selected>' in duplicate.text
    missing = post(api, ref, "/admin/habilitations", typed | {"compte": ""})
    assert error_of(missing.text, "compte") == "Choisissez le compte."
    granted = post(api, ref, "/admin/habilitations", typed | {"portee": f"u{api.unite_id('1103')}"})
    assert granted.status_code == 303
    after = page(api, ref, granted.headers["location"])
    assert "Habilitation ajoutée." in after.text
    with api.container.uow() as uow:
        assert any(h.unite_id == api.unite_id("1103") for h in uow.users.habilitations(lambert))
    # an account of another établissement cannot be given rights here
    durand = api.user_id(gw["DURAND"])
    assert post(api, ref, "/admin/habilitations", typed | {"compte": str(durand)}).status_code == 403
