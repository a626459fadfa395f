"""The favicon and the API documentation pages, served by the app itself (no CDN)."""

from __future__ import annotations

import re


def test_favicon_answers_with_an_icon(browser):
    response = browser.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content.startswith(b"\x00\x00\x01\x00")  # an ICO header
    assert '<link rel="icon" href="/favicon.ico">' in browser.get("/login").text


def test_api_docs_load_every_asset_from_the_app(browser):
    for page in ("/api/docs", "/api/docs/redoc"):
        response = browser.get(page)
        assert response.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        urls += re.findall(r"url: '([^']+)'", response.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from elsewhere
        for url in urls:
            assert browser.get(url).status_code == 200, url
    assert "/api/docs/assets/swagger-ui-bundle.js" in browser.get("/api/docs").text
    assert browser.get("/api/openapi.json").json()["info"]["title"] == "taskflow"
