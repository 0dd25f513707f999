"""The pure rules of webhooks: address policy, URL checks, signature, delivery lifecycle."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import IllegalTransition, InvalidInput
from domain.jobs import JobStatus
from domain.netpolicy import blocked_host, blocked_reason
from domain.retry import RetryPolicy
from domain.webhooks import (
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    body_of,
    request_for,
    sign,
    validate_url,
    verify,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "0.0.0.0": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "metadata",
    "169.254.1.1": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.100.100.200": "metadata",
    "224.0.0.1": "multicast",
    "255.255.255.255": "address",
    "192.0.2.1": "address",  # documentation
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "fd00:ec2::254": "metadata",
    "ff02::1": "multicast",
    "fec0::1": "site-local",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "metadata",
    "::127.0.0.1": "loopback",
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe": "metadata",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1": "NAT64",
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "2002:0a00:0001::": "private",  # 6to4 of 10.0.0.1
    "2001::1": "Teredo",
    "2001:db8::1": "address",  # documentation
}
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "why"), sorted(BLOCKED.items()))
def test_internal_addresses_are_blocked_with_a_reason(address: str, why: str) -> None:
    reason = blocked_reason(address)
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(address) is None


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_mapped_ipv6_form_get_the_same_verdict(address) -> None:
    mapped = f"::ffff:{address}"
    assert (blocked_reason(str(address)) is None) == (blocked_reason(mapped) is None)


def test_hosts_that_always_mean_this_machine_are_blocked_before_resolving() -> None:
    for host in ("localhost", "LOCALHOST.", "api.localhost", "[::1]", "127.0.0.1", "169.254.169.254"):
        assert blocked_host(host) is not None, host
    assert blocked_host("hooks.example.com") is None  # only resolving can tell
    assert blocked_reason("not-an-ip") == "not an IP address"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://example.com/x", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://example.com/hook#frag", "fragment"),
        ("https:///hook", "no host"),
        ("https://example.com:99999/", "valid URL"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ("http://localhost:8080/hook", "this machine"),
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://10.0.0.8/hook", "private"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_url(url)


def test_private_urls_pass_when_allowed_and_good_urls_pass_unchanged() -> None:
    assert validate_url("http://127.0.0.1:8080/hook", allow_private=True) == "http://127.0.0.1:8080/hook"
    assert validate_url("  https://hooks.example.com/in?token=abc  ") == "https://hooks.example.com/in?token=abc"
    assert validate_url("HTTPS://Bücher.example/hook") == "HTTPS://Bücher.example/hook"


def test_events_default_to_all_and_are_deduplicated_in_a_stable_order() -> None:
    hook = Webhook.new(agent_id=uuid.uuid4(), url="https://example.com/h", now=T0)
    assert hook.events == (WebhookEvent.COMPLETED, WebhookEvent.FAILED, WebhookEvent.CANCELLED)
    hook = Webhook.new(
        agent_id=uuid.uuid4(), url="https://example.com/h", now=T0, events=["cancelled", "failed", "failed"]
    )
    assert hook.events == (WebhookEvent.FAILED, WebhookEvent.CANCELLED)
    with pytest.raises(InvalidInput, match="at least one"):
        Webhook.new(agent_id=uuid.uuid4(), url="https://example.com/h", now=T0, events=[])
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    assert Webhook.new(agent_id=uuid.uuid4(), url="https://example.com/h", now=T0).secret != hook.secret


def test_only_outcomes_raise_events() -> None:
    assert WebhookEvent.of(JobStatus.COMPLETED) is WebhookEvent.COMPLETED
    assert WebhookEvent.of(JobStatus.CANCELLED).wire_name == "job.cancelled"
    assert WebhookEvent.of(JobStatus.PENDING) is None and WebhookEvent.of(JobStatus.PROCESSING) is None


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"event":"job.completed","job":{"jobId":"j1"},"deliveredAt":"2026-01-01T00:00:00Z"}'
    # Computed independently: printf '%s' "$body" | openssl dgst -sha256 -hmac whsec_test-secret
    expected = "sha256=fda4a2dd2daa12929ffeda416c732c515fddcf64bbb73d54fd089502a7119a5d"
    assert sign("whsec_test-secret", body) == expected
    assert verify("whsec_test-secret", body, expected)
    assert not verify("whsec_other", body, expected)
    assert not verify("whsec_test-secret", body + b" ", expected)


def _delivery() -> WebhookDelivery:
    return WebhookDelivery.new(
        agent_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        event=WebhookEvent.COMPLETED,
        payload={"jobId": "j1", "status": "completed", "progress": {"percent": 100}},
        now=T0,
    )


def test_the_request_carries_body_signature_timestamp_and_delivery_id() -> None:
    delivery = _delivery()
    hook = Webhook.new(agent_id=delivery.agent_id, url="https://example.com/h", now=T0)
    at = T0 + timedelta(seconds=5, microseconds=250)
    request = request_for(delivery, hook, at)
    document = json.loads(request.body)
    assert document == {"event": "job.completed", "job": delivery.payload, "deliveredAt": "2026-01-01T00:00:05.000250Z"}
    assert request.body == body_of(delivery, at)
    mac = hmac.new(hook.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Sluice-Signature"] == f"sha256={mac}"
    assert request.headers["X-Sluice-Timestamp"] == str(int(at.timestamp()))
    assert request.headers["X-Sluice-Delivery"] == str(delivery.id)
    assert request.headers["X-Sluice-Event"] == "job.completed"


def test_a_delivery_is_retried_with_full_jitter_backoff_then_given_up() -> None:
    policy = RetryPolicy(base_seconds=30, cap_seconds=3600)
    d = _delivery()
    now = T0
    delays = []
    for attempt in range(1, 5):
        assert d.is_due(now)
        assert d.claim(now, worker_id="w", lease=timedelta(minutes=1), max_attempts=4)
        assert d.status is DeliveryStatus.SENDING and d.attempts == attempt and not d.is_due(now)
        retried = d.attempt_failed(now, "HTTP 500", status_code=500, policy=policy, rnd=1.0, max_attempts=4)
        if attempt < 4:
            assert retried and d.status is DeliveryStatus.PENDING
            delays.append((d.next_attempt_at - now).total_seconds())
            now = d.next_attempt_at
        else:
            assert not retried
    assert delays == [30, 60, 120]  # rnd=1.0: the full ceiling each time
    assert d.status is DeliveryStatus.FAILED and d.last_error == "HTTP 500 (gave up after 4 attempts)"
    assert d.finished_at == now and not d.is_due(now + timedelta(days=1))


def test_a_permanent_failure_is_not_retried_and_success_is_final() -> None:
    policy = RetryPolicy()
    d = _delivery()
    d.claim(T0, worker_id="w", lease=timedelta(minutes=1), max_attempts=8)
    assert not d.attempt_failed(T0, "blocked address", retry=False, policy=policy, rnd=0.5, max_attempts=8)
    assert d.status is DeliveryStatus.FAILED and d.last_error == "blocked address"
    d = _delivery()
    d.claim(T0, worker_id="w", lease=timedelta(minutes=1), max_attempts=8)
    d.succeed(T0, 204)
    assert d.status is DeliveryStatus.DELIVERED and d.last_status_code == 204 and d.locked_by is None
    with pytest.raises(IllegalTransition):
        d.succeed(T0, 200)
    with pytest.raises(IllegalTransition):
        d.give_up(T0, "late")


def test_a_claim_that_runs_out_makes_the_delivery_due_again_until_attempts_run_out() -> None:
    d = _delivery()
    lease = timedelta(seconds=50)
    assert d.claim(T0, worker_id="w1", lease=lease, max_attempts=2)
    assert not d.is_due(T0 + timedelta(seconds=49)) and d.is_due(T0 + lease)
    assert d.claim(T0 + lease, worker_id="w2", lease=lease, max_attempts=2) and d.attempts == 2
    later = T0 + 2 * lease
    assert not d.claim(later, worker_id="w3", lease=lease, max_attempts=2)
    assert d.status is DeliveryStatus.FAILED
    assert d.last_error == "worker w2 stopped during attempt 2 (gave up after 2 attempts)"
    with pytest.raises(IllegalTransition, match="not due"):
        _delivery().claim(T0 - timedelta(seconds=1), worker_id="w", lease=lease, max_attempts=2)
