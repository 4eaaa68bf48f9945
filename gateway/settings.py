"""Configuration from the environment (prefix ``AIGUILLAGE_``). The core never reads the environment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orientation_core.timers import TimerPolicy

PLACEHOLDER_SECRETS = frozenset({"", "demo-secret-change-me", "changeme", "secret"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIGUILLAGE_", extra="ignore")

    profile: Literal["demo", "production"] = "demo"
    database_url: str = "sqlite:///var/aiguillage.db"
    broker_url: str | None = None  # Redis URL: Celery; unset: the same tasks run in-process
    secret_key: SecretStr = SecretStr("demo-secret-change-me")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    mllp_port: int = 2575
    # MLLP listener (gateway/mllp.py → hl7_listeners): TLS when a certificate is set; ack mode "stored" (ACK once
    # the message is durable in the inbox) or "processed" (ACK carries the pipeline's verdict)
    mllp_host: str = "127.0.0.1"
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_tls_ca: Path | None = None  # CA of client certificates
    mllp_require_client_cert: bool = False
    mllp_max_connections: int = 256
    mllp_idle_timeout_seconds: float = 600
    mllp_max_frame_bytes: int = 16 * 1024 * 1024
    mllp_default_charset: Literal["8859/1", "8859/15", "UNICODE UTF-8", "ASCII"] = "8859/1"  # when MSH-18 is empty
    mllp_ack_mode: Literal["stored", "processed"] = "stored"
    samples_dir: Path = PROJECT_ROOT / "samples"
    log_level: str = "INFO"
    log_json: bool = True

    # timers of DOMAIN.md §4, documented defaults
    relance_manuelle_heures: float = 72
    relance_auto_mois: int = 2
    annulation_auto_jours: float = 30
    archivage_jours: float = 15
    sweep_interval_seconds: float = 300

    # INSi teleservice (ins.client): the simulator in `make run`, the real endpoint with the organisation
    # certificate (mutual TLS) in production. Empty URL: look-ups stay queued.
    insi_url: str = ""
    # Senders (MSH-3 application or FHIR client id) whose identities never trigger an INSi look-up, comma-separated
    insi_excluded_senders: Annotated[list[str], NoDecode] = []
    insi_cert_path: Path | None = None
    insi_key_path: Path | None = None
    insi_ca_path: Path | None = None
    insi_connect_timeout: float = 2.0
    insi_read_timeout: float = 5.0
    insi_max_retries: int = 2
    insi_lps_idam: str = "AIGUILLAGE-DEV"  # ContexteLPS IDAM: the software's INSi authorisation number
    insi_lps_version: str = "0.1.0"
    insi_lps_instance: str = "00000000-0000-0000-0000-000000000000"
    insi_emetteur: str = "aiguillage"  # ContexteBAM / ContexteLPS Emetteur

    # Sessions (gateway/auth/sessions.py): server-side, cookie = random token. Secure cookie: None = when the
    # request came over https (behind a TLS proxy, set True). Idle and absolute timeouts.
    session_cookie_name: str = "aiguillage_session"
    session_cookie_secure: bool | None = None
    session_idle_minutes: float = 30
    session_absolute_hours: float = 12
    login_path: str = "/connexion"  # where an anonymous browser is sent (sign-in pages)
    # DPI launch (gateway/auth/launch.py): the public address of this server is the launch JWT's expected ``aud``
    # and the base of one-time launch URLs; empty: the address the request came to.
    public_base_url: str = ""
    launch_max_lifetime_seconds: int = 300  # exp - iat of a launch JWT, at most 5 minutes
    launch_clock_skew_seconds: int = 30
    launch_ticket_seconds: int = 120  # one-time URL of a server-to-server launch
    oauth_token_seconds: int = 300  # access token of POST /oauth/token (client credentials)

    # Accounts and sign-in (gateway/auth/psc.py, password.py, otp.py; rules in orientation_core/people/accounts.py).
    # Pro Santé Connect: the issuer's discovery document (sandbox or production), this client's id and secret.
    psc_discovery_url: str = ""  # empty: the Pro Santé Connect button is not offered
    psc_client_id: str = ""
    psc_client_secret: SecretStr = SecretStr("")
    psc_acr_values: str = "eidas1"
    psc_scopes: str = "openid scope_all"
    # one-time code by e-mail and lockout (DOMAIN.md §6 defaults)
    auth_code_minutes: float = 10
    auth_code_tries: int = 5
    auth_lockout_failures: int = 5
    auth_lockout_minutes: float = 15
    auth_ip_failures: int = 20  # failed attempts from one address within auth_ip_window_minutes
    auth_ip_window_minutes: float = 15
    auth_codes_per_hour: int = 5
    # outgoing e-mail (gateway/mail.py): one-time codes, délégation invitations. Empty host: e-mails stay queued.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "Aiguillage <ne-pas-repondre@aiguillage.invalid>"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = 10

    @field_validator("insi_excluded_senders", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.profile != "demo" and self.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("AIGUILLAGE_SECRET_KEY must be set to a real secret outside the demo profile")
        return self

    @property
    def demo(self) -> bool:
        return self.profile == "demo"

    @property
    def timers(self) -> TimerPolicy:
        return TimerPolicy(
            relance_manuelle=dt.timedelta(hours=self.relance_manuelle_heures),
            relance_auto_mois=self.relance_auto_mois,
            annulation_auto=dt.timedelta(days=self.annulation_auto_jours),
            archivage=dt.timedelta(days=self.archivage_jours),
        )

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        return Path(self.database_url[len(prefix):])
