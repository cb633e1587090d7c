"""The console in a real headless Chromium (Debian's, driven by Playwright): every page
loads with no console error and its charts drawn, under its Content-Security-Policy the
stylesheet still applies, the keyboard reaches it, and an approver who signs in promotes
the canary's candidate, after which the page and the registry agree."""

from prodml.serve.server import BackgroundServer
from prodml.ui import create_ui
from tests._browser import browser, console_errors
from tests.automate._world import DEPLOYMENT, MODEL

PAGES = (
    "/models",
    f"/models/{MODEL}",
    f"/models/{MODEL}/1/card",
    f"/models/{MODEL}/monitoring",
    f"/models/{MODEL}/training",
    "/deployments",
    f"/deployments/{DEPLOYMENT}",
    "/audit",
    "/data",
)
DRAWN = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"


def test_every_page_loads_clean_and_styled_in_chromium(registered, tmp_path):
    with BackgroundServer(create_ui(registered)) as server, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        errors = console_errors(page)
        for path in PAGES:
            assert page.goto(server.url + path).status == 200, path
        assert errors == []
        page.goto(server.url + "/models/toy")
        assert page.locator("tbody tr").count() == 2  # both versions
        # The stylesheet applied under the policy: a passed gate is drawn in green.
        passed = page.locator(".verdict.passed")
        assert passed.evaluate("e => getComputedStyle(e).color") == "rgb(27, 127, 59)"
        page.keyboard.press("Tab")  # the first stop is the skip link, then the sections
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.get_by_role("link", name="card").first.click()
        assert page.url.endswith("/models/toy/2/card")
        assert errors == []


def test_an_approver_signs_in_sees_the_story_and_promotes_the_candidate(lived, tmp_path):
    _, token = lived.tokens.create("approver", name="ana", actor="admin")
    candidate = lived.rollouts.status(DEPLOYMENT)[1].arm("candidate").version
    with BackgroundServer(create_ui(lived)) as server, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        errors = console_errors(page)
        page.goto(server.url + "/models")
        assert page.get_by_label("Token").is_visible()  # auth is on: sign in first
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        assert "Signed in as" in page.locator("header").inner_text()
        assert token not in page.url
        for path in PAGES:
            assert page.goto(server.url + path).status == 200, path
            page.wait_for_load_state("load")
            assert page.evaluate(DRAWN), f"a chart of {path} was not drawn"
            page.screenshot(path=tmp_path / f"{path.strip('/').replace('/', '-')}.png")
        page.goto(f"{server.url}/deployments/{DEPLOYMENT}")
        assert page.locator("figure.chart img").count() == 1  # the traffic's shares
        page.locator("#reason-promote").fill("the canary held every check for two days")
        page.get_by_role("button", name="Promote the candidate").click()
        assert page.url.endswith(f"/deployments/{DEPLOYMENT}")
        newest = page.locator("#changes tbody tr").first.inner_text()
        assert "promote" in newest
        assert "the canary held every check" in newest
        assert lived.registry.resolve(f"{MODEL}@champion").version == candidate
        assert errors == []
    promoted = list(lived.audit.events(actions={"deployment.promote"}))
    assert promoted
    assert promoted[-1].actor.startswith("ana")
