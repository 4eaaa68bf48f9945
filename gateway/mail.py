"""Outgoing e-mail: the outbox messages of kind ``mail`` (one-time codes, délégation invitations) sent over SMTP.

The use case writes the message in its own transaction (``orientation_core.people.accounts.mail``); after commit
the ``notifications.dispatch`` task (Celery, or in-process) calls ``send_pending``. Each message is claimed and
marked sent in its own transaction: a crash between SMTP acceptance and that commit sends it again (at least once),
a failure leaves it pending with its attempt count, retried at the next dispatch up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

import structlog

from gateway.container import Container
from gateway.settings import Settings

log = structlog.get_logger("aiguillage.mail")
MAX_ATTEMPTS = 10


def build_message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="aiguillage")
    message.set_content(body)  # UTF-8, quoted-printable when needed: French accents survive
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def send_pending(container: Container, limit: int = 50) -> int:
    """Send the queued e-mails; returns how many the SMTP server accepted. No host configured: they wait."""
    settings = container.settings
    if not settings.smtp_host:
        return 0
    sent = 0
    with container.uow() as uow:
        ids = [m.id for m in uow.outbox.pending(limit, mail=True) if m.attempts < MAX_ATTEMPTS]
    for message_id in ids:
        with container.uow() as uow:
            found = [m for m in uow.outbox.pending(limit, mail=True) if m.id == message_id]
            if not found:  # another worker sent it meanwhile
                continue
            message = found[0]
            message.attempts += 1
            try:
                send(settings, build_message(settings, str(message.payload["to"]),
                                             str(message.payload["subject"]), str(message.payload["body"])))
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("mail.echec", outbox_id=message.id, tentative=message.attempts, erreur=type(exc).__name__)
                continue
            message.dispatched_at = container.env.clock.now()
            sent += 1
    if sent:
        log.info("mail.envoyes", nombre=sent)
    return sent
