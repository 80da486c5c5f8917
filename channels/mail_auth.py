"""Is a mail's From address proven? What the receiving server's checks say.

Anyone can write any From address. Answering a forged one sends our mail to someone
who never wrote (backscatter: the bot turned into a spam cannon against strangers).
The server that received the mail (the MX in front of us, the mailbox provider the
IMAP poller reads) checks SPF, DKIM and DMARC and records the outcome in an
Authentication-Results header (RFC 8601) under its own name, its authserv-id. Only
the names listed in INTAKE_MAIL_TRUSTED_AUTHSERV_IDS are believed: a header with any
other name may be the sender's own forgery, and a trusted server removes forged
copies of its own name. With no name listed, nothing is checked.

The newest (topmost) trusted header decides. The address is proven by a DMARC pass,
or by a DKIM or SPF pass for the From domain or a domain above or below it (DMARC's
relaxed alignment, without a public-suffix list: nobody can sign or publish SPF for
a bare public suffix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message

import authres
import authres.dmarc

_CONTEXT = authres.FeatureContext(authres.dmarc)  # the core methods plus dmarc=
_WHITESPACE = re.compile(r"\s+")
_MAX_HEADER_CHARS = 4000
_MAX_REASON_CHARS = 200


def trusted_ids(setting: str) -> frozenset[str]:
    """INTAKE_MAIL_TRUSTED_AUTHSERV_IDS: comma-separated, compared without case."""
    return frozenset(name.strip().lower() for name in setting.split(",") if name.strip())


def sender_unproven(msg: Message, sender: str, trusted: frozenset[str]) -> str:
    """Why `sender` is not proven ('' when it is, or when no server is trusted to say)."""
    if not trusted:
        return ""
    domain = sender.rpartition("@")[2].lower()
    for value in msg.get_all("authentication-results") or []:
        header = _parsed(str(value))
        if header is None or str(header.authserv_id).lower() not in trusted:
            continue
        server = str(header.authserv_id).lower()
        results = list(header.results)
        if any(_proves(result, domain) for result in results):
            return ""
        said = ", ".join(f"{r.method}={r.result}" for r in results) or "no result"
        return f"{server} reports {said} for {domain}"[:_MAX_REASON_CHARS]
    return f"no Authentication-Results from {', '.join(sorted(trusted))}"[:_MAX_REASON_CHARS]


def _parsed(value: str) -> authres.AuthenticationResultsHeader | None:
    """None for a header authres cannot read (it raises assorted errors on garbage)."""
    try:
        return _CONTEXT.parse_value(_WHITESPACE.sub(" ", value)[:_MAX_HEADER_CHARS])
    except Exception:
        return None


def _proves(result: authres.AuthenticationResult, domain: str) -> bool:
    if str(result.result).lower() != "pass":
        return False
    method = str(result.method).lower()
    wanted = {
        "dmarc": ("header.from",),
        "dkim": ("header.d", "header.i"),
        "spf": ("smtp.mailfrom",),
    }.get(method)
    if wanted is None:
        return False
    domains = _domains(result.properties, wanted)
    if method == "dmarc" and not domains:
        return True  # a DMARC pass is about the From domain, named or not
    return any(_aligned(d, domain) for d in domains)


def _domains(
    properties: Iterable[authres.core.AuthenticationResultProperty], wanted: tuple[str, ...]
) -> list[str]:
    """The domains of the wanted properties ("@example.com", "bob@example.com" or bare)."""
    return [
        str(p.value).rpartition("@")[2].strip().lower().rstrip(".")
        for p in properties
        if f"{p.type}.{p.name}".lower() in wanted
    ]


def _aligned(checked: str, domain: str) -> bool:
    if not checked or not domain:
        return False
    return checked == domain or domain.endswith("." + checked) or checked.endswith("." + domain)
