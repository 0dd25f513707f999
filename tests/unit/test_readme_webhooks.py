"""The README's webhook verification snippet works on a real delivery (docs stay true)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.webhooks import Webhook, WebhookDelivery, WebhookEvent, request_for

README = Path(__file__).parents[2] / "README.md"


def _delivery() -> WebhookDelivery:
    payload = {"jobId": "j1", "status": "completed"}
    now = datetime.now(UTC)
    return WebhookDelivery.new(
        agent_id=uuid.uuid4(), job_id=uuid.uuid4(), event=WebhookEvent.COMPLETED, payload=payload, now=now
    )


def test_the_readme_verification_snippet_accepts_a_real_delivery_and_rejects_forgeries() -> None:
    readme = README.read_text()
    section = readme[readme.index("### Verifying a delivery") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict = {}
    exec(code.group(1), namespace)
    check = namespace["verify_sluice_webhook"]

    delivery = _delivery()
    hook = Webhook.new(agent_id=delivery.agent_id, url="https://example.com/h", now=datetime.now(UTC))
    fresh = request_for(delivery, hook, datetime.now(UTC))
    assert check(hook.secret, fresh.body, fresh.headers["X-Sluice-Signature"])["event"] == "job.completed"
    with pytest.raises(ValueError, match="bad signature"):
        check("whsec_wrong", fresh.body, fresh.headers["X-Sluice-Signature"])
    with pytest.raises(ValueError, match="bad signature"):
        check(hook.secret, fresh.body.replace(b"completed", b"failed!!!"), fresh.headers["X-Sluice-Signature"])
    old = request_for(delivery, hook, datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(ValueError, match="too old"):
        check(hook.secret, old.body, old.headers["X-Sluice-Signature"])
