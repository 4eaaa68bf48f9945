"""Browser tests: Playwright drives Debian's Chromium (``/usr/bin/chromium``, no browser download) against the
real application served by uvicorn on loopback, over a fresh copy of the demo database.

Fixtures
* ``live``: the server (``live.url``, ``live.clock`` a ``FrozenClock`` the test may advance, ``live.container``,
  ``live.smtp`` the real aiosmtpd server receiving its e-mails). The application gains one test-only route,
  ``GET /test/connexion/{login}?suite=/…``, which opens a session the way a sign-in does: pages other than the
  sign-in itself are tested signed in this way (the sign-in flows have their own browser tests).
* ``page``: a fresh browser context (French locale) on ``live``; dialogs (``data-confirm``) are accepted.
* ``sign_in(page, login, suite="/")``, ``shoot(page, name)`` (screenshot under test-artifacts/screenshots/),
  ``assert_accessible(page, name)`` (axe-core: no serious or critical violation; the report names them).

Chromium missing: the tests skip on a developer's machine, and fail in CI (``AIGUILLAGE_TEST_REQUIRE_SERVICES``),
where ``.ci/run`` installs it.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from gateway.app import create_app
from gateway.auth import sessions
from gateway.auth.password import safe_next
from gateway.container import Container, build_container
from gateway.settings import PROJECT_ROOT, Settings
from orientation_core.clock import FrozenClock

CHROMIUM = os.environ.get("AIGUILLAGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
CODE = re.compile(r"connexion à Aiguillage : (\d{6})")

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


# --- SMTP ------------------------------------------------------------------------------------------------------------


class MailBox:
    """What the real SMTP server on loopback received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float = 15) -> EmailMessage:
        with self.arrived:
            self.arrived.wait_for(lambda: any(predicate(m) for m in self.messages), timeout=timeout)
            found = [m for m in self.messages if predicate(m)]
        assert found, f"no such e-mail among {len(self.messages)}"
        return found[-1]

    def last_code(self, address: str, after: int = 0) -> str:
        """The sign-in code of the newest code e-mail to ``address`` (there must be more than ``after``)."""
        def is_code(m: EmailMessage) -> bool:
            body = m.get_body(("plain",))
            return address in str(m["To"]) and body is not None and CODE.search(body.get_content()) is not None

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            codes = [m for m in self.messages if is_code(m)]
            if len(codes) > after:
                body = codes[-1].get_body(("plain",))
                assert body is not None
                found = CODE.search(body.get_content())
                assert found is not None
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"no sign-in code e-mailed to {address}")


# --- the live server -------------------------------------------------------------------------------------------------


@dataclass
class Live:
    url: str
    container: Container
    clock: FrozenClock
    smtp: MailBox

    def user_id(self, login: str) -> int:
        with self.container.uow() as uow:
            user = uow.users.by_login(login)
            assert user is not None and user.id is not None, login
            return user.id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _add_test_sign_in(app: Any, container: Container) -> None:
    def test_sign_in(login: str, request: Request, suite: str = "/") -> Response:
        with container.uow() as uow:
            user = uow.users.by_login(login)
            assert user is not None and user.id is not None, login
        response = RedirectResponse(safe_next(suite), status_code=303)
        sessions.open_session(container, response, user.id, method="test", request=request)
        return response

    app.add_api_route("/test/connexion/{login}", test_sign_in, methods=["GET"], include_in_schema=False)


@pytest.fixture
def live(request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path, gw: dict[str, Any]
         ) -> Iterator[Live]:
    db = tmp_path / "aiguillage.db"
    shutil.copyfile(_sqlite_template, db)
    box = MailBox()
    smtp_port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    clock = FrozenClock(gw["T0"])
    port = _free_port()
    settings = Settings(database_url=f"sqlite:///{db}", smtp_host="127.0.0.1", smtp_port=smtp_port,
                        public_base_url=f"http://127.0.0.1:{port}")
    container = build_container(settings, clock=clock, queue="sync")
    app = create_app(container=container)
    _add_test_sign_in(app, container)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start within 20 s"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", container, clock, box)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        controller.stop()


# --- the browser -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AIGUILLAGE_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, locale="fr-FR", timezone_id="Europe/Paris",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        context.close()


def sign_in(page: Any, login: str, suite: str = "/") -> None:
    """Open a session for ``login`` in this browser context and land on ``suite``."""
    page.goto(f"/test/connexion/{login}?suite={suite}")


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page: Any, name: str = "") -> None:
    """axe-core on the page as shown: no serious or critical violation (the report lists what and where)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    report = "\n".join(f"- {v['id']} ({v['impact']}): {v['help']} — "
                       + "; ".join(n.get("target", [""])[0] if isinstance(n.get("target", [""])[0], str)
                                   else str(n.get("target")) for n in v["nodes"][:5]) for v in bad)
    assert not bad, f"axe-core on {name or page.url}:\n{report}"


@pytest.fixture
def ui() -> dict[str, Callable[..., Any]]:
    """The helpers above, for test modules (importlib mode: no imports between test files)."""
    return {"sign_in": sign_in, "shoot": shoot, "assert_accessible": assert_accessible}
