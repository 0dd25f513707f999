"""Real-time streams through a real `sluice serve` with auth on: keys in the query string.

The in-process test client does not go through uvicorn, which needs a WebSocket
library of its own to accept an upgrade at all; this test does.
"""

from __future__ import annotations

import json

import httpx
import pytest
from server import Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.slow

ADMIN = "streams-admin-key-0123456789"


def test_websocket_and_sse_with_an_agent_key_in_the_query(tmp_path):
    server = Server(tmp_path / "data", env={"SLUICE_ADMIN_API_KEY": ADMIN}).start()
    try:
        with server.client() as client:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            agent = client.post("/api/agents", json={"name": "streams"}, headers=admin).json()["data"]
            other = client.post("/api/agents", json={"name": "other"}, headers=admin).json()["data"]
            source = client.post(
                f"/api/agents/{agent['id']}/sources/text",
                json={"text": "streamed lighthouse"},
                headers={"Authorization": f"Bearer {agent['apiKey']}"},
            ).json()["data"]
        ws = server.url.replace("http://", "ws://")
        with connect(f"{ws}/api/realtime/jobs/{source['jobId']}/ws?access_token={agent['apiKey']}") as socket:
            statuses = []
            while not statuses or statuses[-1] not in {"completed", "failed", "cancelled"}:
                statuses.append(json.loads(socket.recv(timeout=30))["data"]["status"])
        assert statuses[-1] == "completed"
        # Refused before the handshake completes: the client sees the handshake fail.
        with pytest.raises(InvalidStatus), connect(f"{ws}/api/realtime/agents/{agent['id']}/ws"):
            pass
        with (
            pytest.raises(InvalidStatus),
            connect(f"{ws}/api/realtime/agents/{agent['id']}/ws?access_token={other['apiKey']}"),
        ):
            pass
        url = f"{server.url}/api/realtime/jobs/{source['jobId']}/events"
        with httpx.stream("GET", f"{url}?access_token={agent['apiKey']}", timeout=30) as response:
            assert response.status_code == 200
            assert "job_status_update" in response.read().decode()
        assert httpx.get(url, timeout=10).status_code == 401
    finally:
        server.stop()
