"""The loans example end to end: the generator is seeded and its knobs do what they say;
a model trained on fair history is released, one trained on biased history is blocked by
the fairness gate (though `sex` is not among its features) and cannot be made champion;
an approver's exception is recorded on the version, in its card and in the audit log."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

import prodml
from prodml.errors import ConfigError, StateError
from prodml.registry.card import build_card
from prodml.registry.promotion import allow

LOANS = Path(__file__).resolve().parents[2] / "examples" / "loans"
sys.path.insert(0, str(LOANS))
from generate import applications  # noqa: E402


def test_the_generator_is_seeded_and_bias_wrongs_women_only():
    assert applications(500, seed=4).equals(applications(500, seed=4))
    fair, biased = applications(20_000, seed=1), applications(20_000, seed=1, bias=0.5)
    repaid = {
        name: frame.groupby("sex")["repaid"].apply(lambda s: (s == "yes").mean())
        for name, frame in (("fair", fair), ("biased", biased))
    }
    assert abs(repaid["fair"]["F"] - repaid["fair"]["M"]) < 0.02
    assert repaid["biased"]["M"] == pytest.approx(repaid["fair"]["M"])
    assert repaid["biased"]["F"] == pytest.approx(repaid["fair"]["F"] * 0.5, abs=0.02)
    poorer = applications(20_000, seed=1, drift=1.0)
    assert poorer["income"].median() < 0.75 * fair["income"].median()
    with pytest.raises(ValueError, match="bias and drift must be in"):
        applications(10, bias=2.0)


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    """The example run as a script: the fair model, the biased one, the exception."""
    project = tmp_path_factory.mktemp("loans")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["run.py", "--project", str(project), "--rows", "12000"])
        runpy.run_path(str(LOANS / "run.py"), run_name="__main__")
    ws = prodml.open(project)
    yield ws
    ws.close()


def test_the_fair_model_is_released_and_the_biased_one_was_blocked_with_figures(loans):
    fair, biased = loans.registry.resolve("loans/1"), loans.registry.resolve("loans/2")
    assert "champion" in fair.aliases
    assert json.loads(fair.tags["prodml.fairness"])["passed"]
    report = json.loads(biased.tags["prodml.fairness"])
    assert not report["passed"]
    assert report["attributes"]["sex"]["demographic_parity_ratio"]["value"] < 0.8
    gate = json.loads(biased.tags["prodml.gate"])
    assert gate["fairness_passed"] is False
    assert any("four-fifths" in r for r in gate["reasons"])
    assert "sex" not in json.loads(biased.tags["prodml.card"]).get("features", [])


def test_the_exception_is_recorded_everywhere_and_only_for_fairness(loans):
    excepted = loans.registry.resolve("loans/2")
    assert "challenger" in excepted.aliases
    granted = json.loads(excepted.tags["prodml.fairness.exception"])
    assert granted["by"] == "approver:alice"
    assert "CC-2025-031" in granted["reason"]
    (event,) = [e for e in loans.audit.events() if e.action == "fairness.exception"]
    assert event.actor == "approver:alice"
    assert event.target == "loans/2"
    assert any("four-fifths" in r for r in event.figures["reasons"])
    assert loans.audit.verify().ok
    trained = [e for e in loans.audit.events() if e.action == "training.run"]
    assert [e.target for e in trained[:2]] == ["loans", "loans"]
    assert "gate failed" in trained[1].reason
    assert trained[1].figures["metrics"]["roc_auc"] > 0.5
    card = build_card(excepted, loans.tracking_uri)
    assert "## Fairness" in card
    assert "**blocked** the release" in card
    assert "Exception granted** by approver:alice" in card
    with pytest.raises(StateError, match="nothing to except"):
        _allow(loans, "loans/1", "because")


def test_a_blocked_version_cannot_be_made_champion_without_an_exception(loans, tmp_path):
    """A third, biased version, not excepted: promotion to champion is refused, with the
    command that would allow it; an exception without a reason is refused."""
    prodml.ingest(
        applications(8000, seed=3, bias=0.6, start="2026-01-01"), name="loans", workspace=loans
    )
    third = prodml.train_table("loans", label="repaid", positive="yes", workspace=loans)
    assert not third.passed
    assert not third.version.aliases
    with pytest.raises(StateError, match="blocked by the fairness check") as refused:
        loans.registry.promote(third.version.ref, "champion", now=loans.clock.now())
    assert f"prodml models allow {third.version.ref}" in str(refused.value)
    with pytest.raises(ConfigError, match="Say why"):
        _allow(loans, third.version.ref, " ")
    assert loans.registry.promote(third.version.ref, "reviewing", now=loans.clock.now())


def _allow(ws, ref, reason):
    return allow(
        ref,
        reason=reason,
        actor="approver:bob",
        now=ws.clock.now(),
        registry=ws.registry,
        tracker=ws.tracker,
    )


def test_the_evidence_pack_is_written_from_the_records_with_its_sources(loans, tmp_path):
    from prodml.evidence import write_evidence

    markdown, html = write_evidence(loans, "loans/2", tmp_path / "evidence")
    text = markdown.read_text()
    for point in (
        "## 1.",
        "## 2(a).",
        "## 2(d).",
        "## 2(e).",
        "## 2(g).",
        "## 3.",
        "## 6.",
        "## 9.",
    ):
        assert point in text
    assert "demographic-parity ratio" in text.lower() or "parity ratio" in text
    assert "Fairness exception granted by approver:alice" in text
    assert "`applied_at`" in text
    assert "`income`: integer" in text
    assert "fairness.exception loans/2" in text  # the lifecycle, from the audit log
    assert "The audit log is intact" in text
    assert "| 2(d) | metadata tables snapshots and ingestions" in text
    assert "rows quarantined in 1 ingestion(s) ({'loan_amount: above max" in text
    assert (tmp_path / "evidence" / "model_card.md").exists()
    assert "<table>" in html.read_text()
