"""File sources through the HTTP API: real documents of every type become searchable;
hostile files give a 4xx or a failed job that says why, and the jobs behind them run."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

import documents as docs
from adapters.s3.blobs import S3BlobStore
from entrypoints.api.app import create_app
from entrypoints.container import build_container
from entrypoints.settings import Settings

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
async def app_client(tmp_path):
    settings = Settings.from_env(
        {
            "SLUICE_DATA_DIR": str(tmp_path / "data"),
            "MAX_UPLOAD_MB": "2",
            "MAX_PDF_PAGES": "40",
            "EXTRACT_MEMORY_MB": "128",
            "EXTRACT_TIMEOUT_SECONDS": "30",
            "JOB_CONCURRENCY": "3",
        }
    )
    container = build_container(settings)
    async with AsyncTestClient(create_app(container)) as client:
        yield client, container


@pytest.fixture
async def client(app_client):
    return app_client[0]


async def wait_job(client, job_id: str, timeout: float = 60.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            data = (await client.get(f"/api/jobs/{job_id}")).json()["data"]
            if data["status"] in {"completed", "failed", "cancelled"}:
                return data
            await asyncio.sleep(0.05)


async def agent_id(client) -> str:
    return (await client.post("/api/agents", json={"name": "files"})).json()["data"]["id"]


async def upload(client, agent: str, filename: str, data: bytes, **fields: str):
    return await client.post(f"/api/agents/{agent}/sources/file", files={"file": (filename, data)}, data=fields)


async def search(client, agent: str, query: str, top_k: int = 3) -> list[dict]:
    response = await client.post(f"/api/agents/{agent}/search", json={"query": query, "topK": top_k})
    return response.json()["data"]


async def test_documents_of_every_type_are_searchable_after_upload(client):
    agent = await agent_id(client)
    lines = docs.page_lines(3, lines=6, seed=11)
    files = {
        "report.pdf": (docs.pdf(lines), "application/pdf", "pelican orbit " + lines[1][2]),
        "memo.docx": (
            docs.docx(
                ["The quarterly budget for the aquarium expansion was approved."],
                heading="Aquarium",
                table=[["fish", "tank"], ["axolotl", "north basin"]],
            ),
            DOCX_TYPE,
            "axolotl north basin",
        ),
        "staff.csv": (
            b"name;role;city\nMarisol Quintero;harbour pilot;Valparaiso\nKen Ito;baker;Osaka\n",
            "text/csv",
            "",
        ),
        "stock.json": (
            docs.records_json([{"sku": "ZX-81", "colour": "vermilion"}, {"sku": "QL-2", "colour": "teal"}]),
            "application/json",
            "",
        ),
        "notes.txt": ("Café au lait costs three euros at the station kiosk.".encode("cp1252"), "text/plain", ""),
        "guide.md": (
            b"# Setup\n\nInstall the widget.\n\n## Glacier mode\n\nPress the blue lever twice.\n",
            "text/markdown",
            "",
        ),
    }
    jobs = {}
    for name, (data, media_type, _) in files.items():
        response = await upload(client, agent, name, data)
        assert response.status_code == 201, response.text
        source = response.json()["data"]
        assert source["type"] == "file" and source["contentType"] == media_type and source["name"] == name
        assert source["sizeBytes"] == len(data) and source["status"] == "pending"
        jobs[name] = source
    for name, source in jobs.items():
        job = await wait_job(client, source["jobId"])
        assert job["status"] == "completed", (name, job)
        assert job["type"] == "process_file" and job["priority"] == 5

    expectations = {
        "report.pdf": lines[1][2],
        "memo.docx": "axolotl | north basin",
        "staff.csv": "role: harbour pilot",
        "stock.json": "colour: vermilion",
        "notes.txt": "Café au lait",
        "guide.md": "Press the blue lever twice",
    }
    for name, phrase in expectations.items():
        hits = await search(client, agent, phrase.replace("|", ""))
        assert hits and hits[0]["sourceId"] == jobs[name]["id"], (name, hits[:1])
        assert phrase in hits[0]["text"], (name, hits[0]["text"])
    pdf_hit = (await search(client, agent, lines[1][2]))[0]
    meta = pdf_hit["metadata"]  # one chunk may span pages: it says which
    assert meta["page"] <= 2 <= meta.get("page_end", meta["page"])
    md_hit = (await search(client, agent, "blue lever"))[0]
    assert md_hit["metadata"]["heading"] == "Glacier mode"
    assert "Install the widget" not in md_hit["text"]  # headings are section boundaries
    csv_hit = (await search(client, agent, "Ken Ito baker Osaka"))[0]
    assert csv_hit["text"].count("name: ") == 1 or "name: Ken Ito\nrole: baker\ncity: Osaka" in csv_hit["text"]


async def test_a_sentence_from_page_7_of_20_finds_page_7_first(client):
    agent = await agent_id(client)
    pages = docs.page_lines(20, lines=15, seed=3)
    response = await upload(client, agent, "manual.pdf", docs.pdf(pages), chunkSize="64", chunkOverlap="8")
    assert response.status_code == 201, response.text
    source = response.json()["data"]
    job = await wait_job(client, source["jobId"])
    assert job["status"] == "completed", job
    assert job["progress"]["pages_done"] == job["progress"]["pages_total"] == 20
    hits = await search(client, agent, pages[6][7], top_k=5)
    assert hits[0]["metadata"]["page"] == 7 and pages[6][7] in hits[0]["text"]
    assert hits[0]["metadata"]["source_type"] == "file"


async def test_name_and_chunking_fields_may_follow_the_file(client):
    agent = await agent_id(client)
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        b"Zebras graze near the river at dawn.\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nsavanna notes\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="chunkUnit"\r\n\r\ncharacters\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="chunkSize"\r\n\r\n100\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"team": "wildlife"}\r\n'
        b"--XyZ--\r\n"
    )
    response = await client.post(
        f"/api/agents/{agent}/sources/file",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 201, response.text
    source = response.json()["data"]
    assert source["name"] == "savanna notes"
    assert source["options"]["chunking"] == {"size": 100, "overlap": 12, "unit": "characters"}
    assert (await wait_job(client, source["jobId"]))["status"] == "completed"
    hit = (await search(client, agent, "zebras river"))[0]
    assert hit["metadata"]["team"] == "wildlife" and hit["sourceName"] == "savanna notes"


async def test_deleting_a_file_source_deletes_its_blob(app_client):
    client, container = app_client
    agent = await agent_id(client)
    source = (await upload(client, agent, "gone.txt", b"Ephemeral words about a vanishing file.")).json()["data"]
    await wait_job(client, source["jobId"])
    stored = await container.store().unit_of_work(read_only=True).__aenter__()
    found = await stored.sources.get(__import__("uuid").UUID(source["id"]))
    await stored.__aexit__(None, None, None)
    assert found is not None and await container.blobs().exists(found.blob_key)
    assert (await client.delete(f"/api/agents/{agent}/sources/{source['id']}")).status_code == 200
    assert not await container.blobs().exists(found.blob_key)


# -- the hostile-input suite -------------------------------------------------------------

MB = 1024 * 1024


def hostile_cases() -> list[tuple[str, str, bytes, int | None, str]]:
    """(case, filename, bytes, expected HTTP status or None for a failed job, phrase in the message)."""
    good = docs.pdf(docs.page_lines(6, lines=5, seed=5))
    return [
        ("corrupt PDF", "corrupt.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, None, "PDF is damaged"),
        ("truncated PDF", "truncated.pdf", good[: len(good) // 3], None, "PDF is damaged"),
        ("encrypted PDF", "secret.pdf", docs.encrypted_pdf(docs.page_lines(2, seed=9)), None, "password-protected"),
        ("PDF whose page tree loops", "loop.pdf", docs.looping_pdf(), None, "PDF is damaged"),
        ("PDF without a text layer", "scan.pdf", docs.blank_pdf(), None, "no extractable text (scanned?)"),
        ("PDF over the page cap", "long.pdf", docs.pdf(docs.page_lines(41, lines=1, seed=2)), None, "MAX_PDF_PAGES"),
        ("PDF flate bomb", "bomb.pdf", docs.flate_bomb_pdf(200), None, "memory"),
        ("zip-bomb DOCX", "bomb.docx", docs.zip_bomb_docx(20), None, "zip bomb"),
        ("DOCX with entity expansion", "laughs.docx", docs.entity_docx(), None, "entities"),
        ("DOCX with an external entity", "xxe.docx", docs.external_entity_docx(), None, "entities"),
        ("DOCX that is a bare zip", "bare.docx", _bare_zip(), None, "Word document"),
        ("DOCX whose zip lies about its sizes", "liar.docx", docs.lying_docx(10), None, "damaged"),
        ("executable renamed .pdf", "invoice.pdf", b"\x7fELF\x02\x01\x01" + bytes(200), 415, "executable"),
        ("Windows program renamed .docx", "setup.docx", b"MZ\x90\x00\x03" + bytes(300), 415, "executable"),
        ("PDF renamed .txt", "notes.txt", good, 415, "PDF"),
        ("unsupported extension", "tool.exe", b"MZ\x90\x00", 415, "Supported types"),
        ("empty file", "empty.txt", b"", 400, "empty"),
        ("invalid UTF-8", "garbage.txt", bytes([0x80, 0xFF, 0xFE, 0x81, 0x9D]) * 300, None, "encoding"),
        ("NUL bytes", "nul.txt", b"plain words\x00then a NUL", None, "NUL"),
        ("CSV with an unmatched quote", "quote.csv", b'name,age\n"bob,3\nalice,4\n', None, "unmatched quote"),
        ("JSON nested 100,000 deep", "deep.json", docs.deep_json(100_000), None, "nested 100000 levels"),
        ("invalid JSON", "broken.json", b'{"a": [1, 2', None, "not valid JSON"),
        ("upload over the limit", "huge.txt", b"a" * (2 * MB + 1), 413, "MAX_UPLOAD_MB"),
    ]


def _bare_zip() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return out.getvalue()


async def test_hostile_files_fail_clearly_and_the_jobs_behind_them_complete(client):
    agent = await agent_id(client)
    cases = hostile_cases()
    failed_jobs: dict[str, tuple[str, str]] = {}
    normal_jobs: list[str] = []
    problems: list[str] = []
    for index, (case, filename, data, status, phrase) in enumerate(cases):
        response = await upload(client, agent, filename, data)
        body = response.json()
        if status is not None:
            if response.status_code != status or phrase not in body["error"]["message"]:
                problems.append(f"{case}: expected {status} with {phrase!r}, got {response.status_code} {body}")
        elif response.status_code != 201:
            problems.append(f"{case}: expected a job, got {response.status_code} {body}")
        else:
            failed_jobs[case] = (body["data"]["jobId"], phrase)
        # A normal job queued right behind each hostile one.
        normal = await upload(client, agent, f"normal-{index}.txt", f"Ordinary note number {index}.".encode())
        assert normal.status_code == 201, normal.text
        normal_jobs.append(normal.json()["data"]["jobId"])

    for case, (job_id, phrase) in failed_jobs.items():
        job = await wait_job(client, job_id)
        if job["status"] != "failed" or phrase not in (job["errorMessage"] or ""):
            problems.append(
                f"{case}: expected a failed job saying {phrase!r}, got {job['status']}: {job['errorMessage']}"
            )
        elif job["attempts"] != 1:
            problems.append(f"{case}: a permanent failure was retried ({job['attempts']} attempts)")
    for job_id in normal_jobs:
        job = await wait_job(client, job_id)
        if job["status"] != "completed":
            problems.append(f"normal job behind a hostile one: {job['status']} {job['errorMessage']}")
    assert len(cases) >= 15
    assert not problems, "\n".join(problems)
    # The server still serves, and a PDF after all of that still extracts.
    pages = docs.page_lines(2, lines=4, seed=21)
    after = (await upload(client, agent, "after.pdf", docs.pdf(pages))).json()["data"]
    assert (await wait_job(client, after["jobId"]))["status"] == "completed"


async def test_uploads_go_to_s3_and_leave_with_their_source(tmp_path, moto_endpoint):
    import uuid

    bucket = f"sluice-{uuid.uuid4().hex[:10]}"
    env = {
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": moto_endpoint,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
    }
    container = build_container(Settings.from_env(env))
    # A client of the test's own: the app runs on another event loop.
    store = S3BlobStore(
        bucket, endpoint_url=moto_endpoint, region="us-east-1", access_key_id="t", secret_access_key="t"
    )
    await (await store._s3()).create_bucket(Bucket=bucket)
    async with AsyncTestClient(create_app(container)) as client:
        agent = await agent_id(client)
        data = docs.pdf(docs.page_lines(3, lines=4, seed=31))
        source = (await upload(client, agent, "remote.pdf", data)).json()["data"]
        assert (await wait_job(client, source["jobId"]))["status"] == "completed"
        listed = await (await store._s3()).list_objects_v2(Bucket=bucket)
        keys = [item["Key"] for item in listed.get("Contents", [])]
        assert keys == [f"agents/{agent}/sources/{source['id']}/upload.pdf"]
        assert (await search(client, agent, docs.page_lines(3, lines=4, seed=31)[2][1]))[0]["metadata"]["page"] >= 1
        assert (await client.delete(f"/api/agents/{agent}/sources/{source['id']}")).status_code == 200
        listed = await (await store._s3()).list_objects_v2(Bucket=bucket)
        assert listed.get("Contents", []) == []
    await store.close()
    assert not (tmp_path / "data" / "blobs").exists()
