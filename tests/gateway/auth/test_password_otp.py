"""Identifier + password + one-time code by e-mail, through the pages, with a real SMTP server on loopback
(aiosmtpd): the code arrives by e-mail, 6 digits, valid 10 minutes, single use, 5 tries then a new code; lockout
after 5 wrong passwords; rate limit per address; CSRF on the forms; a card holder never signed in cannot use it."""

from __future__ import annotations

import email
import email.policy
import html
import re
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from orientation_core.notifications.service import ALERT_FOOTER

DEMO_PASSWORD = "Aiguillage2026"  # samples/demo/demo.json "mot_de_passe_demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE = re.compile(r"connexion à Aiguillage : (\d{6})")


class Inbox:
    """aiosmtpd handler: every message the server accepted, parsed. Status alerts (the demo's pending
    notifications, e-mailed to users with alerts on) are kept apart: these tests are about sign-in mails."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.alerts: list[EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        is_alert = body is not None and ALERT_FOOTER in body.get_content()
        with self.arrived:
            (self.alerts if is_alert else self.messages).append(message)
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        assert len(self.messages) >= count, f"{len(self.messages)} e-mail(s) received, {count} expected"
        return self.messages

    def last_code(self) -> str:
        body = self.messages[-1].get_body(("plain",))
        assert body is not None
        found = CODE.search(body.get_content())
        assert found, body.get_content()
        return found.group(1)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def site(make_api: Any, smtp: tuple[Inbox, int]) -> tuple[Any, Inbox]:
    inbox, port = smtp
    return make_api(smtp_host="127.0.0.1", smtp_port=port), inbox


def text(response: Any) -> str:
    return html.unescape(response.text)


def token(api: Any, path: str) -> str:
    page = api.client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def password_step(api: Any, login: str, password: str = DEMO_PASSWORD, suite: str = "/") -> Any:
    return api.client.post("/connexion/mot-de-passe", data={
        "csrf_token": token(api, "/connexion/mot-de-passe"), "identifiant": login, "mot_de_passe": password,
        "suite": suite}, follow_redirects=False)


def code_step(api: Any, code: str) -> Any:
    return api.client.post("/connexion/code", data={"csrf_token": token(api, "/connexion/code"), "code": code},
                           follow_redirects=False)


def test_password_then_emailed_code_signs_in(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    first = password_step(api, gw["MARTIN"], suite="/compte")
    assert first.status_code == 303 and first.headers["location"] == "/connexion/code"
    assert "aiguillage_session" not in api.client.cookies  # the password alone signs nobody in
    message = inbox.wait(1)[0]
    assert message["To"] == "c.martin@saint-exupery.invalid"
    assert message["Subject"] == "Aiguillage : votre code de connexion"
    content = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "valable 10 minutes" in content and "Claire Martin" in content
    code = inbox.last_code()
    with api.container.engine.connect() as conn:  # stored keyed-hashed, never in clear
        from orientation_core.persistence import tables

        stored = conn.execute(sa.select(tables.code_connexion.c.code_hash)).scalars().all()
    assert len(stored) == 1 and stored[0].startswith("hmac-sha256$") and code not in stored[0]
    done = code_step(api, code)
    assert done.status_code == 303 and done.headers["location"] == "/compte"
    me = api.client.get("/api/v1/compte")
    assert me.status_code == 200 and me.json()["identifiant"] == gw["MARTIN"]
    with api.container.uow() as uow:  # delivered: marked sent in the outbox
        assert uow.outbox.pending(mail=True) == []


def test_code_is_single_use(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    password_step(api, gw["MARTIN"])
    inbox.wait(1)
    code = inbox.last_code()
    pending = api.client.cookies.get("aiguillage_code")
    assert code_step(api, code).status_code == 303
    # replayed with the same pending cookie (another browser, a captured request): refused
    api.client.cookies.clear()
    api.client.cookies.set("aiguillage_code", pending, path="/connexion")
    replay = code_step(api, code)
    assert replay.status_code == 401 and "Ce code n'est plus valable. Demandez un nouveau code." in text(replay)
    assert "aiguillage_session" not in api.client.cookies


def test_code_expires_after_ten_minutes(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    password_step(api, gw["MARTIN"])
    inbox.wait(1)
    api.clock.advance(minutes=10, seconds=1)
    r = code_step(api, inbox.last_code())
    assert r.status_code == 401 and "Ce code a expiré (validité 10 minutes). Demandez un nouveau code." in text(r)
    assert "aiguillage_session" not in api.client.cookies


def test_five_wrong_codes_then_a_new_code_is_needed(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    password_step(api, gw["MARTIN"])
    inbox.wait(1)
    good = inbox.last_code()
    wrong = "000000" if good != "000000" else "111111"
    answers = [text(code_step(api, wrong)) for _ in range(5)]
    assert "Il vous reste 4 essais." in answers[0] and "Il vous reste 1 essai." in answers[3]
    assert "Nombre d'essais atteint : demandez un nouveau code." in answers[4]
    dead = code_step(api, good)
    assert dead.status_code == 401 and "n'est plus valable" in text(dead)
    # typed values are kept on error; the error sits next to the field
    assert 'aria-describedby="code-aide"' in dead.text
    again = api.client.post("/connexion/code/nouveau", data={"csrf_token": token(api, "/connexion/code")})
    assert again.status_code == 200 and "Un nouveau code" in text(again)
    inbox.wait(2)
    assert code_step(api, inbox.last_code()).status_code == 303


def test_five_wrong_passwords_lock_the_account(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    for _ in range(5):
        r = password_step(api, gw["MARTIN"], "Mauvais2026")
        assert r.status_code == 401 and "Identifiant ou mot de passe incorrect" in text(r)
        assert f'value="{gw["MARTIN"]}"' in r.text  # the identifier typed is kept
    locked = password_step(api, gw["MARTIN"])
    assert locked.status_code == 401 and "Compte verrouillé" in text(locked) and "10:15" in text(locked)
    assert inbox.messages == []  # no code sent to a locked account
    # a référent of her établissement unblocks her (never himself)
    martin = api.user_id(gw["MARTIN"])
    api.ok(api.post(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{martin}/deverrouillage"))
    assert password_step(api, gw["MARTIN"]).status_code == 303
    referent = api.user_id(gw["REFERENT_CHU"])
    api.problem(api.post(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{referent}/deverrouillage"), 403,
                "referent.auto_habilitation")


def test_failures_from_one_address_are_rate_limited(make_api: Any, smtp: tuple[Inbox, int],
                                                    gw: dict[str, Any]) -> None:
    api = make_api(smtp_host="127.0.0.1", smtp_port=smtp[1], auth_ip_failures=3)
    for login in ("810199999991", "810199999992", "810199999993"):
        assert password_step(api, login, "x").status_code == 401
    limited = password_step(api, gw["MARTIN"])  # even a right password, from this address, now
    assert limited.status_code == 429 and "Trop de tentatives depuis cette adresse" in text(limited)


def test_password_sign_in_needs_a_first_card_sign_in(site: tuple[Any, Inbox]) -> None:
    api, inbox = site
    with api.container.uow() as uow:  # a user prepared by a référent, who never signed in with his card
        from orientation_core.people.model import User

        uow.users.add(User(nom="Nouveau", prenom="Jean", email="j.nouveau@exemple.invalid",
                           identifiant_national="810100000999"))
    r = password_step(api, "810100000999", "Nimporte1")
    assert r.status_code == 401 and "première connexion par carte CPS ou e-CPS" in text(r)
    assert inbox.messages == []


def test_forms_without_the_csrf_token_are_refused(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    token(api, "/connexion/mot-de-passe")  # the double-submit cookie exists, the form field does not
    r = api.client.post("/connexion/mot-de-passe", data={"identifiant": gw["MARTIN"],
                                                         "mot_de_passe": DEMO_PASSWORD},
                        headers={"accept": "text/html"})
    assert r.status_code == 403 and "CSRF" in text(r)
    forged = api.client.post("/connexion/mot-de-passe", data={
        "csrf_token": "forged", "identifiant": gw["MARTIN"], "mot_de_passe": DEMO_PASSWORD})
    assert forged.status_code == 403
    assert inbox.messages == []


def test_a_mail_that_fails_stays_queued_and_goes_at_the_next_dispatch(make_api: Any, smtp: tuple[Inbox, int],
                                                                      gw: dict[str, Any]) -> None:
    inbox, port = smtp
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    api = make_api(smtp_host="127.0.0.1", smtp_port=dead_port)
    assert password_step(api, gw["MARTIN"]).status_code == 303
    with api.container.uow() as uow:
        pending = uow.outbox.pending(mail=True)
        assert len(pending) == 1 and pending[0].attempts == 1
    api.container.settings.smtp_port = port  # the SMTP server is back
    api.container.run_task("notifications.dispatch")
    assert CODE.search(inbox.wait(1)[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_a_charter_not_yet_accepted_comes_before_anything_else(site: tuple[Any, Inbox], gw: dict[str, Any]) -> None:
    api, inbox = site
    with api.container.uow() as uow:  # a new version of the charter: Dr Martin has not accepted it yet
        compte = uow.accounts.get(api.user_id(gw["MARTIN"]))
        assert compte is not None
        compte.charte_version = "ancienne"
    password_step(api, gw["MARTIN"], suite="/compte")
    inbox.wait(1)
    done = code_step(api, inbox.last_code())
    assert done.status_code == 303 and done.headers["location"] == "/charte?suite=%2Fcompte"
    gated = api.client.get("/api/v1/compte")
    assert gated.status_code == 403 and gated.json()["code"] == "compte.incomplet"
    accepted = api.client.post("/charte", data={"csrf_token": token(api, "/charte"), "accepte": "oui",
                                                "suite": "/compte"}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/compte"
    assert api.client.get("/api/v1/compte").json()["charte_acceptee"] is True
