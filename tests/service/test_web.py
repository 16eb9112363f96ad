"""The demo page's files as the service serves them: the page at /, its scripts and styles under /static,
nothing outside the static folder, nothing fetched from elsewhere, no label list of its own."""

from __future__ import annotations

import re

import pytest

from service.routes.web import STATIC_DIR
from tests.service.conftest import FER_LABELS

STATIC_FILES = sorted(p.name for p in STATIC_DIR.iterdir())
LOCAL_REFERENCE = re.compile(r"from\s+[\"']\./([\w.-]+)[\"']|(?:href|src)=\"/static/([\w.-]+)\"")


def test_page_is_served_at_the_root(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert 'id="status"' in r.text and 'src="/static/app.js"' in r.text


@pytest.mark.parametrize("name", STATIC_FILES)
def test_static_files_are_served_with_their_types(client, name):
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.content == (STATIC_DIR / name).read_bytes()
    kind = {"js": "javascript", "css": "text/css", "html": "text/html"}[name.rsplit(".", 1)[1]]
    assert kind in r.headers["content-type"]


def test_every_script_the_page_imports_is_there(client):
    """A module missing from the package data would break the page without any server error."""
    for name in STATIC_FILES:
        text = (STATIC_DIR / name).read_text()
        for ref in LOCAL_REFERENCE.findall(text):
            target = next(part for part in ref if part)
            assert client.get(f"/static/{target}").status_code == 200, (name, target)


@pytest.mark.parametrize("path", ["/static/..%2fapp.py", "/static/%2e%2e/routes/web.py", "/static/nope.js", "/static/"])
def test_nothing_outside_the_static_folder_is_served(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_page_fetches_nothing_from_other_hosts_and_hard_codes_no_labels():
    for name in STATIC_FILES:
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"""(https?:)?//[\w.-]+\.\w+/""", text), name
        for label in FER_LABELS:
            assert not re.search(rf"\b{label}\b", text), (name, label)
