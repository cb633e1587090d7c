"""The console in a real headless Chromium: every page loads with no console error, under
its Content-Security-Policy the stylesheet still applies, and the keyboard reaches it."""

from prodml.serve.server import BackgroundServer
from prodml.ui import create_ui
from tests._browser import browser, console_errors

PAGES = ("/models", "/models/toy", "/models/toy/1/card")


def test_every_page_loads_clean_and_styled_in_chromium(registered, tmp_path):
    with BackgroundServer(create_ui(registered)) as server, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        errors = console_errors(page)
        for path in PAGES:
            assert page.goto(server.url + path).status == 200
            page.screenshot(path=tmp_path / f"{path.strip('/').replace('/', '-')}.png")
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
