"""Which channel families run, built from the settings: the one place that knows them all.

A family without its credentials still gets a Plug, whose status says which
settings it misses (shown in /healthz); it never stops the bot from starting.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.app.config import Settings, kept_secret
from bot.app.runtime import Runtime
from bot.contract.domain import Channel
from bot.contract.ports import Plug
from bot.rules.reading import CoreReader
from bot.staff import privacy
from bot.store.db import drop_old_pages
from bot.store.embedded_valkey import rewrite_append_only_file
from bot.store.leases import Leases
from bot.text import i18n
from bot.tickets.decisions import MessageDecisions
from bot.tickets.ratings import TicketRatings
from channels import chat_uploads, email, meta, rating_page, telegram, webchat, webform


def plugs(runtime: Runtime) -> list[Plug]:
    settings = runtime.settings

    def accepted() -> frozenset[Channel]:
        return runtime.policy.current.accepted

    one_process = Leases(runtime.redis, settings.key_prefix)  # pollers run in one at a time
    mail = email.plug(
        email.EmailConfig(
            smtp_listen=settings.smtp_listen,
            smtp_relay=settings.smtp_relay,
            smtp_username=settings.smtp_username,
            smtp_password=settings.smtp_password,
            mail_from=settings.mail_from,
            mail_domains=settings.mail_domains,
            max_mail_bytes=settings.max_mail_bytes,
            imap_url=settings.imap_url,
            imap_interval_s=settings.imap_interval_s,
            mail_trusted_authserv_ids=settings.mail_trusted_authserv_ids,
            now=runtime.clock.now,
        ),
        runtime.ingest,
        one_process,
    )
    # The form's confirmation page shows one reply; later ones go by mail, if mail is set up.
    email_sender = mail.senders.get(Channel.EMAIL)
    later_by_mail = (
        None
        if email_sender is None
        else webform.MailFallback(email_sender, runtime.sender.under_cap)
    )
    return [
        webchat.plug(
            webchat.WebchatConfig(
                key_prefix=settings.key_prefix,
                max_chars=settings.chat_max_chars,
                default_language=settings.default_language,
                sessions_per_ip_per_hour=settings.chat_sessions_per_ip_per_hour,
                messages_per_ip_per_minute=settings.chat_messages_per_ip_per_minute,
                messages_per_session_per_minute=settings.chat_messages_per_session_per_minute,
                trusted_proxies=settings.trusted_proxies,
                now=runtime.clock.now,
                timezone=lambda: runtime.policy.current.sla.timezone,
                status_label=i18n.status_label,
                reader=CoreReader(),
                decisions=MessageDecisions(runtime.sessions),
                public_contacts=public_contacts(settings),
                privacy_url=settings.privacy_url,
                mailer=email_sender,
                uploads=chat_uploads.rules(upload_dir(settings), settings.form_max_file_bytes),
            ),
            runtime.ingest,
            runtime.lookup,
            runtime.redis,
            accepted,
        ),
        webform.plug(
            webform.WebformConfig(
                key_prefix=settings.key_prefix,
                secret=form_secret(settings),
                upload_dir=upload_dir(settings),
                max_file_bytes=settings.form_max_file_bytes,
                max_files=settings.form_max_files,
                per_ip_per_hour=settings.form_per_ip_per_hour,
                default_language=settings.default_language,
                frame_ancestors=settings.form_frame_ancestors,
                trusted_proxies=settings.trusted_proxies,
                status_label=i18n.status_label,
                privacy_url=settings.privacy_url,
            ),
            runtime.ingest,
            runtime.lookup,
            runtime.redis,
            accepted,
            now=runtime.clock.now,
            fallback=later_by_mail,
        ),
        telegram.plug(
            telegram.TelegramConfig(
                token=settings.telegram_token,
                webhook_secret=settings.telegram_webhook_secret,
                api_url=settings.telegram_api_url,
                polling=settings.telegram_polling,
                public_url=settings.public_url,
                status_label=i18n.status_label,
                key_prefix=settings.key_prefix,
            ),
            runtime.ingest,
            runtime.lookup,
            accepted,
            runtime.redis,
            one_process,
        ),
        meta.plug(
            meta.MetaConfig(
                app_secret=settings.meta_app_secret,
                verify_token=settings.meta_verify_token,
                access_token=settings.meta_access_token,
                whatsapp_phone_number_id=settings.whatsapp_phone_number_id,
                graph_api_url=settings.graph_api_url,
                max_body_bytes=settings.max_body_bytes,
                now=runtime.clock.now,
            ),
            runtime.ingest,
        ),
        mail,
        rating_plug(runtime),
    ]


def rating_plug(runtime: Runtime) -> Plug:
    """The satisfaction question's page, linked from a resolution (bot.tickets.ratings)."""
    settings = runtime.settings
    config = rating_page.RatingConfig(
        default_language=settings.default_language,
        frame_ancestors=settings.form_frame_ancestors,
        timezone=runtime.policy.current.sla.timezone,
        trusted_proxies=settings.trusted_proxies,
    )
    return rating_page.plug(TicketRatings(runtime.sessions, runtime.clock), config)


def public_contacts(settings: Settings) -> dict[str, str]:
    """INTAKE_PUBLIC_*: where customers reach us besides the chat, by channel name."""
    given = {
        "email": settings.public_email,
        "telegram": settings.public_telegram,
        "facebook": settings.public_facebook,
        "instagram": settings.public_instagram,
        "whatsapp": settings.public_whatsapp,
    }
    return {name: value.strip() for name, value in given.items() if value.strip()}


def form_secret(settings: Settings) -> str:
    """INTAKE_FORM_SECRET, or one made on the first start and kept (0600) in the data dir."""
    return kept_secret(settings, settings.form_secret, "form_secret")


def upload_dir(settings: Settings) -> Path:
    """Where the form keeps customers' files: only the bot's user may list or read it."""
    path = settings.data_dir / "uploads"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # one an older version made
    return path


async def erase_customer(
    runtime: Runtime, customer_id: int, *, actor: str, running: Sequence[Plug] | None = None
) -> privacy.Erasure:
    """The whole erasure, for the CLI and the console: the database rows (bot.staff.privacy),
    what every channel family keeps about the customer (Plug.forget: Redis keys, uploaded
    files), and then the old copies in the stores' files, which still hold the data as it
    was: SQLite's write-ahead log, and the append-only file of a Redis that keeps one
    (the embedded Valkey does).

    `running`: the web app's plugs (the console's); by default built from the settings.
    """
    hooks = [
        hook for plug in (plugs(runtime) if running is None else running) for hook in plug.forget
    ]
    erased = await privacy.erase(
        runtime.sessions,
        runtime.throttle,
        customer_id,
        actor=actor,
        now=runtime.clock.now(),
        forget=hooks,
    )
    await drop_old_pages(runtime.engine)
    await rewrite_append_only_file(runtime.redis)
    return erased
