"""API keys, rate limits, body limits and CORS: unit checks, then the app over HTTP in
process."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.cli.main import _access_allowed
from app.config import AccessConfigError, Settings, parse_keys
from app.generators.echo import EchoGenerator
from app.http.access import KeyRing, RateLimiter, is_loopback
from app.main import create_app
from tests.conftest import fixture_store, in_process
from vectorstore.embedders.hashing import HashEmbedder
from vectorstore.store.store import Store

ROOT = Path(__file__).resolve().parents[3]


# --- keys, limiter, loopback ---------------------------------------------------------


def test_keys_from_a_list_or_a_file(tmp_path: Path) -> None:
    assert parse_keys("") == ()
    assert parse_keys(" alpha , beta,,") == ("alpha", "beta")
    keys = tmp_path / "keys.txt"
    keys.write_text("# team keys\nalpha-1\n\n  beta-2  \n")
    assert parse_keys(f"@{keys}") == ("alpha-1", "beta-2")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(AccessConfigError, match="holds no API key"):
        parse_keys(f"@{tmp_path / 'empty.txt'}")
    with pytest.raises(AccessConfigError, match="cannot read API keys"):
        parse_keys(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(ValidationError, match="cannot read API keys"):
        Settings(api_keys=f"@{tmp_path / 'missing.txt'}")


def test_key_ring_accepts_only_its_keys() -> None:
    ring = KeyRing(["alpha-1", "beta-2"])
    assert ring and ring.accepts("beta-2") and ring.accepts("alpha-1")
    assert not ring.accepts("alpha-") and not ring.accepts("") and not ring.accepts("gamma")
    assert not KeyRing([])


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token takes 1/rate seconds
    assert limiter.take("b") == 0.0  # another client has its own bucket
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    now[0] = 100.0
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # never above burst
    assert limiter.take("a") > 0


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.4", "example.org"]))


def test_serve_refuses_an_open_bind_without_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "--host", "0.0.0.0", "--store", str(tmp_path / "s")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in proc.stderr
    assert "RAGQA_ALLOW_NO_AUTH" in proc.stderr
    with caplog.at_level(logging.INFO, logger="ragqa"):
        assert _access_allowed(Settings(host="127.0.0.1"))
        assert _access_allowed(Settings(host="0.0.0.0", api_keys="k1"))
        assert _access_allowed(Settings(host="0.0.0.0", allow_no_auth=True))
    said = caplog.text
    assert "anyone on this machine" in said and "serving on 0.0.0.0" in said


# --- over HTTP -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, HashEmbedder]:
    return fixture_store(tmp_path_factory.mktemp("access") / "store")


def serve(
    parts: tuple[Store, HashEmbedder], **settings: object
) -> AbstractContextManager[httpx.Client]:
    store, emb = parts
    app = create_app(
        Settings(store=store.folder, **settings),  # type: ignore[arg-type]
        store=store,
        embedder=emb,
        generator=EchoGenerator(),
    )
    return in_process(app)


@pytest.fixture(scope="module")
def keyed(parts: tuple[Store, HashEmbedder]) -> Iterator[httpx.Client]:
    with serve(parts, api_keys="alpha-key-1,beta-key-2", rate_limit=5, rate_burst=4) as client:
        yield client


SEARCH = {"query": "lighthouse", "top_k": 2}


def test_keys_guard_the_api_but_not_health_or_page(keyed: httpx.Client) -> None:
    missing = keyed.post("/api/search", json=SEARCH)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = keyed.post("/api/search", json=SEARCH, headers=auth("alpha-key-2"))
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    basic = keyed.get("/api/stats", auth=("alpha-key-1", ""))
    assert basic.status_code == 401
    v1 = keyed.get("/v1/models")  # every /v1/* route too, in OpenAI's error shape
    assert v1.status_code == 401 and v1.json()["error"]["code"] == "invalid_api_key"
    ok = keyed.post("/api/search", json=SEARCH, headers=auth("beta-key-2"))
    assert ok.status_code == 200 and ok.json()["results"]
    for open_path in ("/healthz", "/readyz", "/", "/static/app.js", "/openapi.json"):
        assert keyed.get(f"{open_path}").status_code == 200, open_path


def test_rate_limit_per_key_with_retry_after(keyed: httpx.Client) -> None:
    headers = auth("alpha-key-1")
    codes = [keyed.get("/api/stats", headers=headers).status_code for _ in range(12)]
    assert codes[:3] == [200, 200, 200] and 429 in codes  # burst 4, 5/s refill
    limited = keyed.get("/api/stats", headers=headers)
    while limited.status_code != 429:
        limited = keyed.get("/api/stats", headers=headers)
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["detail"]
    # The other key has a bucket of its own.
    other = keyed.get("/api/stats", headers=auth("beta-key-2"))
    assert other.status_code == 200
    # Refused keys do not reach the limiter's table of buckets, nor drain a real one.
    assert keyed.get("/api/stats", headers=auth("nope")).status_code == 401


def test_upload_limits(parts: tuple[Store, HashEmbedder]) -> None:
    limits = {"max_upload_bytes": 1000, "max_upload_files": 2, "max_request_bytes": 5000}
    with serve(parts, rate_limit=0, **limits) as client:
        url = "/api/documents"
        before = client.get("/api/stats").json()["documents"]
        big = client.post(url, files=[("files", ("big.md", b"word " * 300))])
        assert big.status_code == 413 and "1000-byte upload limit" in big.json()["detail"]
        three = [("files", (f"n{i}.md", b"small note")) for i in range(3)]
        many = client.post(url, files=three)
        assert many.status_code == 413 and "at most 2 files" in many.json()["detail"]
        declared = client.post(url, files=[("files", ("huge.md", b"x" * 6000))])
        assert declared.status_code == 413 and "5000-byte limit" in declared.json()["detail"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=c.md\r\n\r\n"
            for _ in range(100):
                yield b"y" * 100
            yield b"\r\n--b--\r\n"

        streamed = client.post(
            url, content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert streamed.status_code == 413, streamed.text
        image = client.post(url, files=[("files", ("cat.md", b"\x89PNG\r\n\x1a\n\x00\x00"))])
        assert image.status_code == 415 and "PNG image" in image.json()["detail"]
        assert client.get("/api/stats").json()["documents"] == before
        fine = client.post(url, files=[("files", ("ok-note", b"A plain note with no suffix."))])
        assert fine.status_code == 200 and fine.json()["documents"][0]["status"] == "added"
        assert client.delete(f"{url}/ok-note").status_code == 204


def test_cors_is_off_unless_origins_are_set(parts: tuple[Store, HashEmbedder]) -> None:
    origin = {"origin": "https://intranet.example"}
    preflight = {**origin, "access-control-request-method": "POST"}
    with serve(parts, rate_limit=0) as client:
        plain = client.get("/api/stats", headers=origin)
        assert "access-control-allow-origin" not in plain.headers
        assert client.options("/api/search", headers=preflight).status_code >= 400
    with serve(
        parts, rate_limit=0, api_keys="k-123456", cors_origins="https://intranet.example"
    ) as client:
        allowed = client.options(
            "/api/search",
            headers={**preflight, "access-control-request-headers": "authorization"},
        )
        assert allowed.status_code == 200  # a preflight carries no key and needs none
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example"
        refused = client.get("/api/stats", headers=origin)
        assert refused.status_code == 401
        # The browser must be able to read why: the refusal carries CORS headers too.
        assert refused.headers["access-control-allow-origin"] == "https://intranet.example"
        other = client.get("/api/stats", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}
