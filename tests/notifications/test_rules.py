"""Pure delivery rules: back-off doubling and its cap, the give-up after the last attempt, the email a
notice becomes (UTF-8, encoded-word subject, stable Message-ID), secrets masked, usable addresses."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

from openability.notifications import rules
from openability.notifications.types import Outcome

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [rules.backoff(n, 60, 3600).total_seconds() for n in range(1, 9)]
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert rules.backoff(10_000, 60, 3600) == timedelta(hours=1)  # no overflow on a huge count


def test_a_failure_is_retried_until_the_last_attempt_then_given_up() -> None:
    kw = {"max_attempts": 3, "base_seconds": 60.0, "max_seconds": 3600.0}
    assert rules.after_failure(1, NOW, **kw) == (Outcome.RETRY, NOW + timedelta(seconds=60))
    assert rules.after_failure(2, NOW, **kw) == (Outcome.RETRY, NOW + timedelta(seconds=120))
    assert rules.after_failure(3, NOW, **kw) == (Outcome.FAILED, None)
    assert rules.after_failure(1, NOW, max_attempts=1, base_seconds=60, max_seconds=60) == (
        Outcome.FAILED,
        None,
    )


def test_scrub_masks_secrets_and_keeps_one_bounded_line() -> None:
    assert rules.scrub("535 bad pw hunter2\r\nagain hunter2", ("hunter2", "")) == "535 bad pw *** again ***"
    assert len(rules.scrub("x" * 5000, ())) == rules.MAX_ERROR_CHARS


def test_compose_is_utf8_with_an_encoded_subject_and_a_stable_message_id() -> None:
    msg = rules.compose(
        notification_id="ntf_1",
        to="a@example.com",
        from_address="能力开放平台 <noreply@openability.test>",
        subject="工单超时 tkt_1（首次响应）",
        body="请尽快处理。",
        inbox_url="https://x.test/console/ops/notifications",
        now=NOW,
    )
    raw = msg.as_bytes(policy=email.policy.SMTP)
    assert raw.isascii()  # every non-ASCII character is encoded (headers RFC 2047, body base64)
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert back["Subject"] == "工单超时 tkt_1（首次响应）"
    assert back["From"].addresses[0].display_name == "能力开放平台"
    assert back["Message-ID"] == "<ntf_1@openability.test>"
    assert back["Auto-Submitted"] == "auto-generated"
    assert (
        back.get_content().startswith("请尽快处理。\n")
        and "https://x.test/console/ops/notifications" in back.get_content()
    )


def test_usable_addresses() -> None:
    assert rules.valid_address("ops@partner.example")
    assert rules.valid_address("agent@localhost")
    for bad in ("", "ops", "a@", "@b.c", "a b@c.d", "a@b.c, x@y.z", "a@b.c\r\nBcc: x@y.z", "Name <a@b.c>"):
        assert not rules.valid_address(bad), bad


def test_inbox_paths() -> None:
    assert rules.inbox_path("operator") == "/console/ops/notifications"
    assert rules.inbox_path("partner") == "/console/portal/notifications"
