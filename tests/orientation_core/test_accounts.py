"""Accounts and sign-in rules with a frozen clock: password policy, first sign-in, charter, one-time codes
(expiry, single use, tries), lockout, rate limits, référent unlock, Mon compte history, médecin libéral lists."""

from __future__ import annotations

import hashlib

import pytest

from orientation_core.dossier.volets import Module
from orientation_core.errors import Forbidden, NotFound, ValidationFailed
from orientation_core.people import accounts, liberal
from orientation_core.people.accounts import CarteCps, PremiereConnexion, SignInPolicy, SignInRefused
from tests.orientation_core.conftest import World

POLICY = SignInPolicy()
IP = "192.0.2.10"


class PlainHasher:
    """SHA-256 stand-in for argon2 in these rule tests (the gateway tests use argon2 itself)."""

    def hash(self, secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, hashed: str, secret: str) -> bool:
        return hashed == self.hash(secret)


H = PlainHasher()
CARTE = CarteCps(identifiant_national="810001234567", nom="DURAND", prenom="Sophie", profession="medecin",
                 specialite="Médecine générale")
FORM = PremiereConnexion(email="sophie.durand@exemple.fr", mot_de_passe="Orientation7", code_postal="69003",
                         ville="Lyon")


def test_password_rule_names_each_missing_kind_in_french() -> None:
    assert accounts.password_problems("Abcdefg1") == []
    assert accounts.password_problems("abc") == ["au moins 8 caractères", "une majuscule", "un chiffre"]
    assert accounts.password_problems("ABCDEFGH1") == ["une minuscule"]
    with pytest.raises(ValidationFailed, match="une majuscule"):
        accounts.check_password("orientation7")


def _first_sign_in(world: World) -> int:
    with world.uow() as uow:
        user = accounts.complete_first_sign_in(uow, world.env, H, CARTE, FORM)
        assert user.id is not None
        return user.id


def test_first_sign_in_validates_each_field_then_creates_the_account_with_card_data(world: World) -> None:
    bad = PremiereConnexion(email="pas-une-adresse", mot_de_passe="court", code_postal="6900", ville=" ")
    with world.uow() as uow, pytest.raises(ValidationFailed) as refused:
        accounts.complete_first_sign_in(uow, world.env, H, CARTE, bad)
    champs = refused.value.details["champs"]
    assert set(champs) == {"email", "mot_de_passe", "code_postal", "ville"}
    assert "5 chiffres" in champs["code_postal"]
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        user = uow.users.get(user_id)
        assert (user.nom, user.prenom, user.profession, user.login) == ("DURAND", "Sophie", "medecin", "810001234567")
        compte = uow.accounts.get(user_id)
        assert compte is not None and not compte.charte_acceptee
        assert compte.password_hash != FORM.mot_de_passe
    with world.uow() as uow:
        accounts.accept_charter(uow, world.env, user_id)
    with world.uow() as uow:
        compte = uow.accounts.get(user_id)
        assert compte is not None and compte.charte_acceptee
        assert [e.action for e in uow.accounts.events(user_id)] == ["charte.acceptation", "compte.creation"]


def test_password_sign_in_needs_the_account_created_by_a_card_first(world: World) -> None:
    # the user exists (created by a référent) but never signed in with his card: no password sign-in
    with world.uow() as uow, pytest.raises(SignInRefused) as refused:
        accounts.check_password_step(uow, world.env, H, "800000000003", "Orientation7", IP, POLICY)
    assert refused.value.code == "connexion.identifiants"
    assert "première connexion par carte" in refused.value.message


def test_code_is_six_digits_single_use_and_mailed_in_the_same_transaction(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        _, code = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                               IP, POLICY)
        mails = list(uow.outbox.pending(mail=True))
    assert len(code) == 6 and code.isdigit()
    assert [m.payload["to"] for m in mails] == [FORM.email] and code in mails[0].payload["body"]
    with world.uow() as uow:
        assert accounts.check_code_step(uow, world.env, H, user_id, code, IP, POLICY).id == user_id
    with world.uow() as uow, pytest.raises(SignInRefused) as again:
        accounts.check_code_step(uow, world.env, H, user_id, code, IP, POLICY)
    assert again.value.code == "connexion.code_mort"


def test_a_rolled_back_sign_in_sends_no_mail(world: World) -> None:
    _first_sign_in(world)
    with pytest.raises(RuntimeError), world.uow() as uow:
        accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe, IP, POLICY)
        raise RuntimeError("the request failed after the code was decided")
    with world.uow() as uow:
        assert uow.outbox.pending(mail=True) == []


def test_code_expires_after_ten_minutes(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        _, code = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                               IP, POLICY)
    world.clock.advance(minutes=10)
    with world.uow() as uow, pytest.raises(SignInRefused) as refused:
        accounts.check_code_step(uow, world.env, H, user_id, code, IP, POLICY)
    assert refused.value.code == "connexion.code_expire"
    assert "10 minutes" in refused.value.message


def test_five_wrong_codes_kill_the_code_and_a_new_one_is_needed(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        _, code = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                               IP, POLICY)
    wrong = "000000" if code != "000000" else "111111"
    messages = []
    for _ in range(5):
        with world.uow() as uow, pytest.raises(SignInRefused) as refused:
            accounts.check_code_step(uow, world.env, H, user_id, wrong, IP, POLICY)
        messages.append(refused.value.message)
    assert messages[0] == "Code incorrect. Il vous reste 4 essais."
    assert messages[3] == "Code incorrect. Il vous reste 1 essai."
    assert "demandez un nouveau code" in messages[4]
    with world.uow() as uow, pytest.raises(SignInRefused) as dead:  # the right code no longer works
        accounts.check_code_step(uow, world.env, H, user_id, code, IP, POLICY)
    assert dead.value.code == "connexion.code_mort"
    with world.uow() as uow:
        fresh = accounts.resend_code(uow, world.env, H, user_id, IP, POLICY)
    with world.uow() as uow:
        assert accounts.check_code_step(uow, world.env, H, user_id, fresh, IP, POLICY).id == user_id


def test_a_new_code_invalidates_the_previous_one(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        _, first = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                                IP, POLICY)
    with world.uow() as uow:
        second = accounts.resend_code(uow, world.env, H, user_id, IP, POLICY)
    if first != second:
        with world.uow() as uow, pytest.raises(SignInRefused):
            accounts.check_code_step(uow, world.env, H, user_id, first, IP, POLICY)
    with world.uow() as uow:
        assert accounts.check_code_step(uow, world.env, H, user_id, second, IP, POLICY).id == user_id


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(world: World) -> None:
    _first_sign_in(world)
    for _ in range(5):
        with world.uow() as uow, pytest.raises(SignInRefused) as refused:
            accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, "Mauvais0", IP, POLICY)
        assert refused.value.code == "connexion.identifiants"
    with world.uow() as uow, pytest.raises(SignInRefused) as locked:  # even the right password
        accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe, IP, POLICY)
    assert locked.value.code == "connexion.verrouille"
    assert "10:15" in locked.value.message  # 09:00 UTC + 15 min, shown in Paris time (winter: UTC+1)
    world.clock.advance(minutes=15)
    with world.uow() as uow:
        user, _ = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                               "192.0.2.99", POLICY)
    assert user.login == CARTE.identifiant_national


def test_a_referent_unlocks_an_account_of_his_etablissement_never_his_own(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow:
        from orientation_core.people import service as people
        from orientation_core.people.model import Role

        people.grant(uow, world.env, world.referent, user_id, Role.PRESCRIPTEUR, world.etab_req, world.mco)
    for _ in range(5):
        with world.uow() as uow, pytest.raises(SignInRefused):
            accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, "Mauvais0", IP, POLICY)
    with world.uow() as uow, pytest.raises(Forbidden):
        accounts.unlock(uow, world.env, world.presc, user_id)  # a plain prescripteur
    with world.uow() as uow, pytest.raises(Forbidden):
        accounts.unlock(uow, world.env, world.referent, world.referent)
    with world.uow() as uow:
        accounts.unlock(uow, world.env, world.referent, user_id)
    with world.uow() as uow:
        accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe, IP, POLICY)


def test_failures_from_one_address_are_rate_limited(world: World) -> None:
    policy = SignInPolicy(echecs_par_ip=3)
    for _ in range(3):
        with world.uow() as uow, pytest.raises(SignInRefused):
            accounts.check_password_step(uow, world.env, H, "899999999999", "x", IP, policy)
    with world.uow() as uow, pytest.raises(SignInRefused) as limited:
        accounts.check_password_step(uow, world.env, H, "899999999999", "x", IP, policy)
    assert limited.value.code == "connexion.trop_de_tentatives"
    world.clock.advance(minutes=15)
    with world.uow() as uow, pytest.raises(SignInRefused) as after:
        accounts.check_password_step(uow, world.env, H, "899999999999", "x", IP, policy)
    assert after.value.code == "connexion.identifiants"


def test_codes_per_account_per_hour_are_limited(world: World) -> None:
    user_id = _first_sign_in(world)
    policy = SignInPolicy(codes_par_heure=2)
    with world.uow() as uow:
        accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe, IP, policy)
    with world.uow() as uow:
        accounts.resend_code(uow, world.env, H, user_id, IP, policy)
    with world.uow() as uow, pytest.raises(SignInRefused) as limited:
        accounts.resend_code(uow, world.env, H, user_id, IP, policy)
    assert limited.value.code == "connexion.trop_de_codes"


def test_mon_compte_changes_are_historised_and_the_username_is_fixed(world: World) -> None:
    user_id = _first_sign_in(world)
    with world.uow() as uow, pytest.raises(ValidationFailed):
        accounts.update_profile(uow, world.env, user_id, {"identifiant_national": "810009999999"})
    with world.uow() as uow:
        user = accounts.update_profile(uow, world.env, user_id, {"ville": "Villeurbanne", "alertes_email": False})
        assert user.ville == "Villeurbanne" and user.alertes_email is False
    with world.uow() as uow:
        latest = uow.accounts.events(user_id)[0]
    assert latest.action == "compte.modification"
    assert latest.avant == {"ville": "Lyon", "alertes_email": True}
    assert latest.apres == {"ville": "Villeurbanne", "alertes_email": False}


def test_alerts_are_on_by_default(world: World) -> None:
    with world.uow() as uow:
        assert uow.users.get(_first_sign_in(world)).alertes_email is True


def test_medecin_liberal_lists_follow_the_medecin_traitant_named_in_the_volets(world: World) -> None:
    with world.uow() as uow:
        fontaine = uow.users.get(world.liberal)
    nommes = []
    for nom in ("Lefèvre", "Martin"):
        dossier_id = world.dossier(world.patient(nom), complete=False)
        world.fill(dossier_id, {"administratif_social": {"medecin_traitant": {
            "idnps": fontaine.identifiant_national, "nom": "FONTAINE", "prenom": "Claire"}}})
        nommes.append(dossier_id)
    other = world.dossier(world.patient("Autre"), complete=False)
    world.fill(other, {"administratif_social": {"medecin_traitant": {"rpps": "10009999999", "nom": "X"}}})
    with world.uow() as uow:
        space = liberal.espace(uow, world.liberal)
    assert sorted(d.dossier_id for d in space.en_attente) == sorted(nommes)
    assert space.compteurs == {Module.SANITAIRE.value: 2, Module.GRAND_AGE.value: 0}
    with world.uow() as uow:
        liberal.repondre(uow, world.env, world.liberal, nommes[0], liberal.Reponse.ACCEPTEE)
        liberal.repondre(uow, world.env, world.liberal, nommes[1], liberal.Reponse.REFUSEE)
    with world.uow() as uow:
        space = liberal.espace(uow, world.liberal)
        assert space.en_attente == [] and [d.dossier_id for d in space.refuses] == [nommes[1]]
        assert space.compteurs[Module.SANITAIRE.value] == 0
        found = liberal.rechercher(uow, world.liberal, "lefe")
        assert [d.dossier_id for d in found] == [nommes[0]]
        numero = uow.dossiers.get(nommes[1]).numero
        assert [d.dossier_id for d in liberal.rechercher(uow, world.liberal, numero)] == [nommes[1]]
    with world.uow() as uow, pytest.raises(NotFound):  # a dossier naming another doctor
        liberal.repondre(uow, world.env, world.liberal, other, liberal.Reponse.ACCEPTEE)
    with world.uow() as uow, pytest.raises(Forbidden):  # not a doctor
        liberal.espace(uow, world.presc)


# PostgreSQL only: SQLite serialises writers, so the race this test closes cannot happen there.
@pytest.mark.parametrize("store", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_wrong_codes_are_all_counted(world: World) -> None:
    """Eight guesses at once on PostgreSQL: the code's row is locked, so exactly five tries are spent and the
    three late guesses find a dead code (no lost update lets a sixth guess through)."""
    import threading

    user_id = _first_sign_in(world)
    with world.uow() as uow:
        _, code = accounts.check_password_step(uow, world.env, H, CARTE.identifiant_national, FORM.mot_de_passe,
                                               IP, POLICY)
    wrong = "000000" if code != "000000" else "111111"
    answers: list[str] = []
    start = threading.Barrier(8)

    def guess() -> None:
        start.wait()
        with world.uow() as uow:
            try:
                accounts.check_code_step(uow, world.env, H, user_id, wrong, IP, POLICY)
            except SignInRefused as exc:
                answers.append(exc.message)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum("Il vous reste" in a for a in answers) == 4
    assert sum("Nombre d'essais atteint" in a for a in answers) == 1
    assert sum("n'est plus valable" in a for a in answers) == 3
    with world.uow() as uow:
        latest = uow.accounts.latest_code(user_id)
        assert latest is not None and latest.essais == 5 and latest.invalidated_at is not None
