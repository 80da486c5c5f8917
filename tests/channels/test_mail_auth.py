"""Is a mail's From proven? Only the trusted receiving server's Authentication-Results say."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.mail_auth import trusted_ids
from channels.mail_parse import parse_mail

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TRUSTED = trusted_ids("MX.Example.net, mx.google.com")


def mail(*results: str, sender: str = "ann@shop.example.org") -> bytes:
    """A mail as it leaves the receiving server: its own header on top of any others."""
    headers = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (
        f"{headers}From: Ann <{sender}>\r\nTo: support@example.com\r\n"
        "Subject: Broken inverter\r\nMessage-ID: <m1@shop.example.org>\r\n\r\n"
        "My inverter broke again, I want a replacement.\r\n"
    ).encode()


def unproven(data: bytes, trusted: frozenset[str] = TRUSTED) -> str:
    return parse_mail(data, now=NOW, trusted_authserv=trusted).sender_unproven


@pytest.mark.parametrize(
    "result",
    [
        "mx.example.net; dmarc=pass (p=reject) header.from=shop.example.org",
        "mx.example.net; dkim=pass header.d=shop.example.org; spf=fail",
        "mx.example.net; dkim=pass header.i=@example.org",  # the parent domain signed
        "mx.example.net; spf=pass smtp.mailfrom=bounces@mail.shop.example.org",  # a child's SPF
        "MX.EXAMPLE.NET; dmarc=pass",  # the server's name in any case; a bare DMARC pass
        "mx.google.com;\r\n  dkim=pass header.i=@shop.example.org header.s=s1;\r\n  dmarc=pass",
    ],
)
def test_a_pass_for_the_from_domain_proves_the_sender(result: str) -> None:
    assert unproven(mail(result)) == ""


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (
            "mx.example.net; dmarc=fail (p=reject) header.from=shop.example.org; dkim=none; "
            "spf=softfail smtp.mailfrom=x@evil.test",
            "mx.example.net reports dmarc=fail, dkim=none, spf=softfail for shop.example.org",
        ),
        (
            "mx.example.net; dkim=pass header.d=evil.test",  # signed, by someone else
            "mx.example.net reports dkim=pass for shop.example.org",
        ),
        (
            "mx.example.net; dmarc=pass header.from=evil.test",  # about another From header
            "mx.example.net reports dmarc=pass for shop.example.org",
        ),
        (
            "mx.example.net; spf=pass smtp.mailfrom=x@notshop.example.org.evil.test",
            "mx.example.net reports spf=pass for shop.example.org",
        ),
        ("mx.example.net; none", "mx.example.net reports no result for shop.example.org"),
    ],
)
def test_anything_else_from_the_trusted_server_leaves_it_unproven(result: str, reason: str) -> None:
    assert unproven(mail(result)) == reason


def test_a_header_the_sender_wrote_is_not_believed() -> None:
    forged_pass = "mx.example.net; dmarc=pass header.from=shop.example.org"
    real_verdict = "mx.example.net; dmarc=fail header.from=shop.example.org"
    assert unproven(mail(real_verdict, forged_pass)).endswith("dmarc=fail for shop.example.org")
    assert unproven(mail("relay.evil.test; dmarc=pass")) == (
        "no Authentication-Results from mx.example.net, mx.google.com"
    )


@pytest.mark.parametrize(
    "garbage",
    [
        "mx.example.net; ;;; ===",
        "mx.example.net",
        "",
        ";",
        "mx.example.net; dkim=pass header.d=" + "a" * 5000,
    ],
)
def test_an_unreadable_header_counts_as_none(garbage: str) -> None:
    reason = unproven(mail(garbage))
    assert reason.startswith(("no Authentication-Results", "mx.example.net reports"))
    assert len(reason) <= 200


def test_nothing_is_checked_when_no_server_is_trusted() -> None:
    assert unproven(mail("mx.example.net; dmarc=fail"), frozenset()) == ""
    assert unproven(mail(), frozenset()) == ""
    assert trusted_ids(" , ") == frozenset()
