"""Process settings: read once from INTAKE_* environment variables into one object.

Runtime policy that admins change while the bot runs (accepted channels, limits)
lives in the database instead; see bot/rules/policy.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("data")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # `intake-bot worker` answers /healthz, /readyz and /metrics on this port (on
    # http_host; keep it internal); unset, a worker serves no HTTP at all.
    worker_http_port: int | None = Field(default=None, ge=0, le=65535)
    api_token: str | None = None
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    redis_max_connections: int = Field(default=200, ge=4)
    key_prefix: str = Field(default="intake", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    consumer_group: str = "workers"
    consumer_name: str | None = None
    # Messages a worker decides in one transaction when a backlog waits. A batch costs
    # about a dozen round trips whatever its size; past ~300 they are spread thin (bench).
    batch_size: int = Field(default=300, ge=1, le=10_000)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_ms: int = Field(default=7_000, ge=100)  # a dead worker's batch is taken over
    requeue_after_s: float = Field(default=60.0, ge=1)
    # How often the worker's clocks look for progress updates, missed dates and retention.
    sweep_interval_s: float = Field(default=60.0, gt=0)

    sender_interval_s: float = Field(default=1.0, gt=0)
    # How long a sending pass keeps the rows it took; a row's lease starts again as it is
    # handed over. After a crash, rows never attempted are due again once it runs out.
    sender_lease_s: float = Field(default=120.0, ge=1)
    send_max_attempts: int = Field(default=5, ge=1)
    # The hard cap on replies to one address in 24 hours, whatever else happens.
    max_replies_per_address_per_day: int = Field(default=20, ge=1)

    toxicity_backend: str = "auto"  # auto | detoxify | lexicon | none
    detoxify_model: str = "multilingual"
    detoxify_checkpoint: Path | None = None
    detoxify_config_path: Path | None = None
    torch_threads: int = Field(default=1, ge=1, le=64)
    toxicity_max_chars: int = Field(default=4000, ge=100)
    # Where `intake-bot models fetch` downloads from: Detoxify's GitHub releases
    # (<base><tag>/<file>) and the Hugging Face hub (<hub>/<repo>/resolve/main/<file>).
    # A site with its own mirror points these at it.
    models_checkpoint_url: str = "https://github.com/unitaryai/detoxify/releases/download/"
    models_hub_url: str = "https://huggingface.co"

    # --- channels (issue 5: customer pages; issue 6: providers). Empty = not configured.
    public_url: str = ""  # how customers reach the bot (links in pages); default from request
    chat_max_chars: int = Field(default=4000, ge=100, le=64_000)
    chat_sessions_per_ip_per_hour: int = Field(default=30, ge=1)
    chat_messages_per_ip_per_minute: int = Field(default=30, ge=1)
    chat_messages_per_session_per_minute: int = Field(default=20, ge=1)
    trusted_proxies: int = Field(default=0, ge=0, le=10)  # X-Forwarded-For hops believed
    form_max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    form_max_files: int = Field(default=5, ge=0, le=20)
    form_per_ip_per_hour: int = Field(default=20, ge=1)
    status_attempts_per_ip_per_hour: int = Field(default=10, ge=1)
    # How long the satisfaction question's link sent with a resolution works (days).
    rating_link_days: int = Field(default=60, ge=1)
    # Signs the form's CSRF tokens; unset: a random one kept in the data dir (give every web
    # process the same one in the distributed mode).
    form_secret: str = ""
    form_frame_ancestors: str = "*"  # who may embed /form in an iframe (CSP frame-ancestors)
    privacy_url: str = ""  # the privacy notice linked from the form and the chat (http(s) or /path)
    # Where customers reach us besides the chat, shown (as links) when the chat is closed:
    # an address, a handle (@name) or an https:// link. Empty = not offered.
    public_email: str = ""
    public_telegram: str = ""
    public_facebook: str = ""
    public_instagram: str = ""
    public_whatsapp: str = ""  # a phone number (wa.me link) or a link

    telegram_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_polling: bool = False  # for sites without a public URL

    meta_app_secret: str = ""
    meta_verify_token: str = ""
    meta_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    graph_api_url: str = "https://graph.facebook.com/v21.0"

    smtp_listen: str = "127.0.0.1:2525"  # empty disables the inbound SMTP server
    smtp_relay: str = ""  # host:port of the outbound relay
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = ""
    mail_domains: str = ""  # comma-separated accepted recipient domains
    max_mail_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    imap_url: str = ""  # imap(s)://user:password@host:port/MAILBOX
    imap_interval_s: float = Field(default=30.0, gt=0)
    # Receiving servers whose Authentication-Results are believed (comma-separated
    # authserv-ids, e.g. mx.google.com): a mail they do not prove is held for a moderator.
    mail_trusted_authserv_ids: str = ""

    # The staff console (bot/app/web/staff_auth.py). The key signs its session cookies;
    # empty: one made on the first start and kept (0600) in the data dir.
    secret_key: str = ""
    staff_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    staff_sign_in_failures_per_account: int = Field(default=5, ge=1)  # per 15 minutes
    staff_sign_in_failures_per_ip: int = Field(default=20, ge=1)  # per 15 minutes
    # Single sign-on (OpenID Connect): the provider's issuer URL, this client's id and
    # secret; the ID token claim that names the role (agent, moderator, admin), if any.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_role_claim: str = ""
    # Staff digests (bot/staff/digests.py): a Slack/Teams-compatible incoming webhook that
    # gets them as {"text": ...} besides the staff's email. Its URL is its secret: kept out
    # of repr and never logged. How often the worker looks whether a digest is due.
    notify_webhook_url: str = Field(default="", repr=False)
    digest_interval_s: float = Field(default=60.0, gt=0)

    # The SLA's holiday calendar is runtime policy (`intake-bot policy sla.country NL`).
    default_language: str = "en"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for collectors

    @property
    def embedded_database_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / 'intake.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        """`intake-bot models fetch` stores here; the `auto` toxicity backend looks here."""
        return self.data_dir / "models"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.embedded_database_url


def kept_secret(settings: Settings, given: str, filename: str) -> str:
    """`given`, or a secret made on the first start and kept (0600) in the data dir, so
    that every process of one deployment, and the next start, signs with the same."""
    if given:
        return given
    path = settings.data_dir / filename
    if not path.exists():
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:  # another process made it first
            pass
    return path.read_text().strip()
