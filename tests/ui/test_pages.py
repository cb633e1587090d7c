"""The console's pages: what each shows, its empty state, a missing model's page, and the
security headers every response carries."""

import re

from starlette.testclient import TestClient

from prodml.ui import create_ui


def test_the_models_page_lists_each_model_with_its_aliases(console):
    home = console.get("/", follow_redirects=False)
    assert home.status_code == 303
    assert home.headers["location"].endswith("/models")
    page = console.get("/models")
    assert page.status_code == 200
    assert 'href="http://testserver/models/toy"' in page.text
    assert "champion → 1" in page.text
    assert "Local mode" in page.text  # governance.auth is off in this project


def test_a_models_page_shows_each_version_its_gate_and_lineage(console, registered):
    page = console.get("/models/toy").text
    snapshot = registered.registry.resolve("toy/1").tags["prodml.snapshot.toy"]
    assert f"toy {snapshot[:8]}" in page  # trained on that snapshot
    assert '<span class="verdict passed">passed</span>' in page
    assert "roc_auc over majority" in page  # the gate's figure against its first baseline
    assert "no gate" in page  # version 2, registered from a notebook
    assert page.index(">2<") < page.index(">1<")  # newest first


def test_a_versions_card_is_shown_inside_the_console(console):
    page = console.get("/models/toy/1/card")
    assert page.status_code == 200
    assert "Machine-readable summary" in page.text
    assert "<style>" not in page.text  # the card's own page style stays out of the console


def test_a_model_or_version_that_does_not_exist_answers_404_with_what_to_do(console):
    for path in ("/models/nobody", "/models/toy/9/card"):
        page = console.get(path)
        assert page.status_code == 404
        assert "prodml models list" in page.text


def test_every_page_forbids_scripts_and_outside_resources(console):
    for path in ("/models", "/models/toy", "/models/toy/1/card", "/models/nobody"):
        policy = console.get(path).headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy  # no script at all: default-src 'none' holds
    assert console.get("/static/style.css").status_code == 200


def test_an_empty_project_says_what_to_run(workspace):
    with TestClient(create_ui(workspace)) as client:
        page = client.get("/models").text
    assert "No model is registered yet" in page
    assert "prodml demo" in page


def test_the_audit_log_pages_back_through_every_matching_event(console, registered):
    for i in range(230):
        registered.audit.record("pager", "test.page", f"thing-{i}", reason="paging")
    first = console.get("/audit", params={"actor": "pager"})
    assert "230 events match" in first.text
    assert first.text.count("<td>test.page</td>") == 200
    older = re.search(r'href="([^"]*before=(\d+)[^"]*)" rel="next"', first.text)
    assert older is not None
    assert "actor=pager" in older[1]
    second = console.get(older[1].replace("&amp;", "&"))
    assert second.text.count("<td>test.page</td>") == 30
    assert "thing-0<" in second.text
    assert "thing-229<" not in second.text
    assert 'rel="next"' not in second.text  # the first matching event is on it
    assert "Newest" in second.text
    wrong = console.get("/audit", params={"before": "yesterday"})
    assert wrong.status_code == 422
    assert "not an event number" in wrong.text
