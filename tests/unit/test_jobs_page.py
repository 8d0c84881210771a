"""The job page's routes in-process: the page and its files, their security headers, the
modality list; and the static files themselves load nothing from another origin."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from veracity.config import parse_config
from veracity.jobs.api import JobService, create_app
from veracity.jobs.migrate import run_migrations
from veracity.jobs.page import STATIC_DIR, ready_modalities
from veracity.jobs.sources import Spool
from veracity.jobs.store import JobStore, make_engine


@pytest.fixture()
def client(cfg, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    run_migrations(engine)
    service = JobService(cfg, JobStore(engine), Spool(tmp_path / "spool"), lambda _: None)
    with TestClient(create_app(service)) as test_client:
        yield test_client


def test_page_and_its_files_are_served_with_a_same_origin_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "*" not in csp
    assert 'type="file"' in page.text and "audio/*" in page.text and "video/*" in page.text
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith(kind)
        assert reply.headers["x-content-type-options"] == "nosniff"
    for bad in ("index.html", "missing.js", "..%2Fpage.py", "%2E%2E%2Fapi.py"):
        assert client.get(f"/static/{bad}").status_code == 404, bad


def test_modalities_lists_those_with_a_transformer(client, cfg):
    body = client.get("/modalities").json()
    assert body == {"modalities": ["video", "voice"], "default": "voice"}
    assert "/modalities" in client.get("/openapi.json").json()["paths"]
    none = parse_config(cfg.to_dict(), {"jobs.inference_urls": {}})
    assert ready_modalities(none) == []


def test_static_files_load_nothing_external_and_never_insert_html():
    text = {p.name: p.read_text() for p in STATIC_DIR.iterdir()}
    assert set(text) == {"index.html", "app.js", "app.css"}
    for name, body in text.items():
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+", body))
        assert urls <= {"http://www.w3.org"}, (name, urls)  # the SVG namespace only
        assert "@import" not in body and "<script>" not in body, name
    script = text["app.js"]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert re.search(r'<script src="/static/app.js"', text["index.html"])
