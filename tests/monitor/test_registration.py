"""What registration keeps for monitoring: the reference, CBPE's calibration and the
fairness group metrics, computed once from the version's own rows."""

import pytest

from prodml.errors import NotFoundError
from prodml.train import fit_model
from tests._data import TOY_SPEC, log_model_run, toy_frame


def test_a_registered_version_keeps_its_reference_calibration_and_fairness(workspace, rng):
    train, holdout = toy_frame(rng, 3_000), toy_frame(rng, 2_000)
    model = fit_model("logistic", train, "y", TOY_SPEC)
    version = workspace.registry.register("toy", log_model_run(workspace, model)).version
    with pytest.raises(NotFoundError, match="No drift reference for toy version 1"):
        workspace.reference("toy", version)
    workspace.save_reference(
        "toy", version, train, TOY_SPEC.names, holdout=holdout, label="y", sensitive=["color"]
    )
    reference = workspace.reference("toy", version)
    assert set(reference.columns) == {*TOY_SPEC.names, "prediction"}
    assert reference.rows == 3_000
    assert len(reference.sample) == 3_000
    assert reference.estimator is not None
    assert reference.estimator["x"] == sorted(reference.estimator["x"])  # a monotone map
    groups = reference.fairness["color"]["groups"]
    assert set(groups) == set(train["color"].dropna().astype(str))
    assert 0 <= reference.fairness["color"]["demographic_parity_difference"] <= 1
