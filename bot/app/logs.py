"""The process's logging: one line per record, with its fields, and no secrets.

`INTAKE_LOG_FORMAT=text` (default) writes `time LEVEL logger message key=value ...`;
`json` writes one JSON object per line (time, level, logger, message, every field given
in `extra=` or bound with bot.contract.log_context.bind, exception). Either way Telegram
bot tokens and Meta access tokens are masked: in the message, the fields, the traceback
and, last, in the written line itself.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from bot.contract.log_context import RECORD_ATTRIBUTES, BoundFields

LogFormat = Literal["text", "json"]

# They log every request's URL at INFO (a Telegram URL holds the bot's token) and every
# parameter at DEBUG: only their warnings are worth a line, whatever INTAKE_LOG_LEVEL says.
NOISY_LOGGERS = ("httpx", "httpcore", "telegram", "telegram.ext")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_SECRETS = (
    (re.compile(r"\b(bot\d+:)[\w-]+"), r"\1***"),  # Bot API URLs: /bot<id>:<secret>/method
    (re.compile(r"\b(\d{5,}:)[\w-]{30,}"), r"\1***"),  # a Telegram token on its own
    (re.compile(r"(access_token=)[^&\s\"'#\\]+"), r"\1***"),  # Graph API query strings
    # ... and JSON bodies, or dicts, as they are or quoted once more (a field's value)
    (re.compile(r"""(\\?["']access_token\\?["']\s*:\s*\\?["'])[^"'\\]*"""), r"\1***"),
    # One-time values in a URL's query (an access log line): the single sign-on callback's
    # code and state, a mailed link's token.
    (re.compile(r"([?&](?:code|state|token)=)[^&\s\"'#]+"), r"\1***"),
)
_PLAIN = re.compile(r"[^\s=\"]+")  # a text value written as it is; others are quoted


# Every secret above holds one of these: a text without any (most lines) is returned after
# one scan, instead of four substitutions (it ran on every access line of every request).
_MAYBE_SECRET = re.compile(r"bot\d+:|\d{5,}:|access_token|[?&](?:code|state|token)=")


def redact(text: str) -> str:
    """`text` with Telegram bot tokens and Meta access tokens masked."""
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """What the call gave in `extra=` and what was bound around it, in that order."""
    return {key: value for key, value in vars(record).items() if key not in RECORD_ATTRIBUTES}


class RedactSecrets(logging.Filter):
    """Masks tokens in a record's message, its extra fields and its traceback.

    On the root handlers it sees every record written, whichever logger made it; it
    changes the record in place, so every handler after it writes the masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: the handler's emit reports it
            return True
        if (masked := redact(message)) != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in fields_of(record).items():
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


ACCESS_LOGGER = "aiohttp.access"  # its fields repeat its own line (JSON keeps them)


class TextFormatter(logging.Formatter):
    """`LOG_FORMAT`, then the record's fields as ` key=value` (quoted when they need it)."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.name == ACCESS_LOGGER:  # its line already says all its fields say
            return super().formatMessage(record)
        pairs = "".join(f" {key}={_text_value(value)}" for key, value in fields_of(record).items())
        return super().formatMessage(record) + pairs

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a field named like one of ours goes under `extra_<name>`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            line["extra_" + key if key in line else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        try:
            text = json.dumps(line, default=str)
        except (TypeError, ValueError):  # a field json cannot take (a dict keyed by tuples)
            text = json.dumps(
                {
                    key: value if isinstance(value, str) else repr(value)
                    for key, value in line.items()
                }
            )
        return redact(text)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def prepared(handler: logging.Handler) -> logging.Handler:
    """`handler`, adding the bound fields to each record and then masking its secrets
    (each filter once, in that order, whatever it had)."""
    if not any(isinstance(kept, BoundFields) for kept in handler.filters):
        handler.filters.insert(0, BoundFields())  # first: the redaction sees its fields too
    if not any(isinstance(kept, RedactSecrets) for kept in handler.filters):
        handler.addFilter(RedactSecrets())
    return handler


def configure_logging(level: str | int, log_format: LogFormat = "text") -> None:
    """The process's logging: noisy libraries at WARNING, every root handler `prepared`.

    Like `logging.basicConfig`, it adds a handler (on stderr, in `log_format`) only when the
    root logger has none.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for each in logging.getLogger().handlers:
        prepared(each)
