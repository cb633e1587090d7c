"""`prodml data ...` from the outside: the commands a data engineer runs, in order."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from prodml.cli import app
from tests.data._contracts import orders

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_infer_validate_ingest_list_show_diff(tmp_path):
    project, contract = str(tmp_path), str(tmp_path / "orders.contract.yaml")
    days = orders(300).astype({"amount": object})
    days.iloc[:200].to_csv(tmp_path / "day1.csv", index=False)
    bad = days.iloc[100:].reset_index(drop=True)  # 100 rows as before, 100 new
    bad.loc[[5, 6], "amount"] = "lots"
    bad.to_csv(tmp_path / "day2.csv", index=False)

    inferred = _run("data", "infer", str(tmp_path / "day1.csv"), "--name", "orders", "-o", contract)
    assert "order_id" in inferred
    assert "Review it" in inferred

    checked = _run("data", "validate", str(tmp_path / "day2.csv"), "-c", contract, "-C", project)
    assert "198 accepted, 2 rejected" in checked
    assert "amount: not an integer" in checked
    assert "7: 'lots'" in checked  # row number and value of an example
    assert not (tmp_path / ".prodml" / "artifacts").exists()  # a dry run writes nothing

    first = json.loads(
        _run("data", "ingest", str(tmp_path / "day1.csv"), "-c", contract, "-C", project, "--json")
    )
    second = _run(
        "data",
        "ingest",
        str(tmp_path / "day2.csv"),
        "-c",
        contract,
        "-C",
        project,
        "--parent",
        first["snapshot"],
    )
    assert "Created snapshot" in second
    assert "Quarantined 2 rows" in second
    again = _run("data", "ingest", str(tmp_path / "day1.csv"), "-c", contract, "-C", project)
    assert "Unchanged" in again

    listed = json.loads(_run("data", "list", "-C", project, "--json"))
    assert len(listed) == 2
    newest = listed[0]["id"]
    assert listed[0]["parents"] == [first["snapshot"]]

    shown = _run("data", "show", newest[:8], "-C", project)
    assert "198 rows" in shown
    assert "2 quarantined" in shown

    diff = json.loads(
        _run("data", "diff", first["snapshot"][:8], newest[:8], "-C", project, "--json")
    )
    assert (diff["rows_added"], diff["rows_removed"], diff["rows_kept"]) == (100, 102, 98)


def test_a_bad_source_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    import sys

    from prodml.cli import main

    (tmp_path / "c.yaml").write_text("name: x\ncolumns: {a: {type: string}}\n")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "prodml",
            "data",
            "ingest",
            str(tmp_path / "nope.csv"),
            "-c",
            str(tmp_path / "c.yaml"),
            "-C",
            str(tmp_path),
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "nope.csv: no such file" in err
    assert "Traceback" not in err


def test_infer_refuses_to_overwrite_a_reviewed_contract(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.contract.yaml").write_text("reviewed")
    result = runner.invoke(
        app,
        [
            "data",
            "infer",
            str(tmp_path / "a.parquet"),
            "-n",
            "a",
            "-o",
            str(tmp_path / "a.contract.yaml"),
        ],
    )
    assert result.exit_code != 0
    assert (tmp_path / "a.contract.yaml").read_text() == "reviewed"


def test_a_rejected_ingest_prints_the_report_before_the_error(tmp_path):
    orders(20).to_csv(tmp_path / "good.csv", index=False)
    contract = str(tmp_path / "o.yaml")
    _run("data", "infer", str(tmp_path / "good.csv"), "-n", "orders", "-o", contract)
    orders(20).assign(amount="lots").to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(
        app, ["data", "ingest", str(tmp_path / "bad.csv"), "-c", contract, "-C", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "amount: not an integer" in result.output  # the report came first
    checked = runner.invoke(
        app, ["data", "validate", str(tmp_path / "bad.csv"), "-c", contract, "-C", str(tmp_path)]
    )
    assert checked.exit_code != 0
    assert "20 rejected" in checked.output
