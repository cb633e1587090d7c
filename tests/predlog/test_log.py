import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from prodml.serve import PredictionLog


def test_records_read_back_in_order(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([{"request_id": "a", "p": 0.1}, {"request_id": "b", "p": 0.2}])
    log.append([{"request_id": "c", "p": 0.3}])
    assert log.read()["request_id"].tolist() == ["a", "b", "c"]
    log.close()


def test_segments_rotate_and_reopening_appends(tmp_path):
    log = PredictionLog(tmp_path, segment_bytes=100)
    for i in range(10):
        log.append([{"request_id": str(i), "pad": "x" * 40}])
    log.close()
    assert len(PredictionLog(tmp_path).segments()) > 3
    again = PredictionLog(tmp_path, segment_bytes=100)
    again.append([{"request_id": "10"}])
    assert again.read()["request_id"].tolist() == [str(i) for i in range(11)]
    again.close()


def test_a_line_torn_by_a_crash_is_skipped_and_cut_before_the_next_append(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([{"request_id": "whole"}])
    log.close()
    with log.segments()[-1].open("ab") as f:
        f.write(b'{"request_id": "tor')
    assert PredictionLog(tmp_path).read()["request_id"].tolist() == ["whole"]
    restarted = PredictionLog(tmp_path)
    restarted.append([{"request_id": "after restart"}])
    restarted.close()
    assert PredictionLog(tmp_path).read()["request_id"].tolist() == ["whole", "after restart"]
    assert PredictionLog(tmp_path).count() == 2


def test_an_appended_record_survives_kill_9_right_after(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from prodml.serve import PredictionLog
        log = PredictionLog(Path({str(tmp_path)!r}))
        log.append([{{"request_id": "answered"}}])
        print("sent", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -9
    assert result.stdout == "sent\n"
    assert PredictionLog(tmp_path).read()["request_id"].tolist() == ["answered"]


def test_full_segments_are_compacted_to_parquet_and_read_the_same(tmp_path):
    log = PredictionLog(tmp_path, segment_bytes=300)
    records = [{"request_id": str(i), "inputs": {"a": i, "b": "x"}, "p": i / 10} for i in range(20)]
    for record in records:
        log.append([record])
    log.compact()
    kinds = {p.suffix for p in log.segments()}
    assert kinds == {".parquet", ".jsonl"}  # full ones compacted, the live one still lines
    assert log.count() == 20
    back = log.read()
    assert back["request_id"].tolist() == [str(i) for i in range(20)]
    assert back["inputs"].tolist() == [r["inputs"] for r in records]
    log.close()


def _answered(minute: int) -> dict:
    return {"request_id": str(minute), "timestamp": f"2026-01-01T10:{minute:02d}:00+00:00"}


def test_reading_since_a_time_gives_the_records_answered_from_then_and_skips_older_segments(
    tmp_path, monkeypatch
):
    from datetime import UTC, datetime

    from prodml.predlog import log as module

    with PredictionLog(tmp_path, segment_bytes=200) as log:
        for minute in range(30):
            log.append([_answered(minute)])
        # Another zone's offset is the same instant: read by time, not by text.
        log.append([{"request_id": "30", "timestamp": "2026-01-01T05:30:00-05:00"}])
    segments = log.segments()
    assert sum(p.suffix == ".parquet" for p in segments) > 3
    opened = []
    records = module._records
    monkeypatch.setattr(module, "_records", lambda s: opened.append(s) or records(s))

    since = datetime(2026, 1, 1, 10, 25, tzinfo=UTC)
    back = log.read(since=since)

    assert back["request_id"].tolist() == ["25", "26", "27", "28", "29", "30"]
    assert len(opened) < len(segments) / 2  # the segments all before 10:25 were not read
    assert log.read(since=datetime(2026, 1, 1, 11, tzinfo=UTC)).empty
    assert len(log.read(since=datetime(2026, 1, 1, tzinfo=UTC))) == 31


def test_segments_written_without_their_newest_time_are_read_and_filtered(tmp_path):
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    old = pa.table({"request_id": ["a", "b"], "timestamp": [_answered(1)["timestamp"]] * 2})
    pq.write_table(old, tmp_path / "predictions-000000.parquet")  # as earlier releases did
    with PredictionLog(tmp_path) as log:
        log.append([_answered(40)])
    since = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert log.read(since=since)["request_id"].tolist() == ["40"]
    assert len(log.read(since=datetime(2026, 1, 1, tzinfo=UTC))) == 3


def test_compact_waits_for_segments_the_background_thread_is_still_retiring(tmp_path, monkeypatch):
    # A slow disk: the background thread is mid-fsync of a full segment it retires when
    # `compact` is called, and `compact` must still compact it before it returns.
    from prodml.predlog import log as module

    retiring, compacting = threading.Event(), threading.Event()
    fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        background = threading.current_thread().name == "prodml-predlog"
        if background and sys._getframe(1).f_code.co_name == "_retire":  # a full segment
            retiring.set()
            compacting.wait(5)
        fsync(fd)

    monkeypatch.setattr(module.os, "fsync", slow_fsync)
    log = PredictionLog(tmp_path, segment_bytes=300, fsync_interval=60)  # rotations wake it
    for i in range(20):
        log.append([{"request_id": str(i), "p": i / 10}])
    assert retiring.wait(5)
    threading.Timer(0.3, compacting.set).start()  # the disk answers while compact runs
    log.compact()
    *full, live = log.segments()
    assert [p.suffix for p in full] == [".parquet"] * len(full)
    assert live.suffix == ".jsonl"
    assert log.count() == 20
    log.close()


def test_a_segment_left_uncompacted_by_a_crash_is_compacted_on_the_next_start(tmp_path):
    # What a kill -9 right after a rotation leaves: a full segment and a live one, as lines.
    (tmp_path / "predictions-000000.jsonl").write_text('{"request_id":"0"}\n{"request_id":"1"}\n')
    (tmp_path / "predictions-000001.jsonl").write_text('{"request_id":"2"}\n')
    log = PredictionLog(tmp_path)
    log.append([{"request_id": "3"}])
    log.close()
    assert [p.name for p in log.segments()] == [
        "predictions-000000.parquet",
        "predictions-000001.jsonl",
    ]
    assert log.read()["request_id"].tolist() == ["0", "1", "2", "3"]


def test_always_fsync_is_a_choice_and_anything_else_is_refused(tmp_path):
    log = PredictionLog(tmp_path, fsync="always")
    log.append([{"request_id": "a"}])
    log.close()
    with pytest.raises(ValueError, match="fsync must be 'batch' or 'always'"):
        PredictionLog(tmp_path, fsync="never")


def test_a_batch_appended_by_another_writer_keeps_what_was_there(tmp_path):
    import pyarrow as pa

    with PredictionLog(tmp_path) as http:
        http.append([{"request_id": "h1"}])
    with PredictionLog(tmp_path) as batch:  # a later process: `prodml score`
        batch.append_table(pa.table({"request_id": ["b1", "b2"]}))
        batch.append([{"request_id": "h2"}])
    assert PredictionLog(tmp_path).read()["request_id"].tolist() == ["h1", "b1", "b2", "h2"]


def test_each_server_worker_writes_its_own_segments_and_one_read_sees_all(tmp_path):
    deployment = PredictionLog(tmp_path)
    with deployment.writer("worker-1") as one, deployment.writer("worker-2") as two:
        one.append([{"request_id": "a"}])
        two.append([{"request_id": "b"}])
        one.append([{"request_id": "c"}])
    assert deployment.count() == 3
    assert sorted(deployment.read()["request_id"]) == ["a", "b", "c"]


def test_records_whose_objects_are_always_empty_compact_too(tmp_path):
    with PredictionLog(tmp_path, segment_bytes=200) as log:
        for i in range(6):  # a model without a feature store: "features" is always {}
            log.append([{"request_id": str(i), "features": {}, "inputs": {"a": i}}])
    assert any(p.suffix == ".parquet" for p in log.segments())
    assert log.read()["request_id"].tolist() == [str(i) for i in range(6)]


def test_compaction_keeps_fields_only_later_records_have(tmp_path):
    """A segment of answers with a refused row among them: Arrow typed by the first record
    alone would drop the refusal's fields."""
    answer = {"request_id": "a", "inputs": {"size": 1.5}, "probability": 0.2}
    refused = {"request_id": "b", "sent": {"size": "big"}, "rejected": ["size: not a number"]}
    with PredictionLog(tmp_path, segment_bytes=150) as log:
        log.append([answer, refused, answer])
        log.append([answer])  # rotates: the first segment is full
        log.compact()
    assert any(p.suffix == ".parquet" for p in log.segments())
    back = log.read().to_dict("records")
    assert back[1]["rejected"] == ["size: not a number"]
    assert back[1]["sent"] == {"size": "big"}
    assert back[0]["inputs"] == {"size": 1.5}


def _slow_compactions(monkeypatch, seconds: float) -> None:
    """Compaction children that take a while, as a 64 MB segment does under load."""
    from prodml.predlog import log as predlog

    slow = f"import time; time.sleep({seconds})\n" + predlog._COMPACTOR
    monkeypatch.setattr(predlog, "_COMPACTOR", slow)


def _compacting(log: PredictionLog) -> subprocess.Popen:
    deadline = time.monotonic() + 10
    while log._child is None and time.monotonic() < deadline:  # the rotation reached it
        time.sleep(0.01)
    return log._child[0]


def test_records_are_fsynced_on_schedule_while_a_compaction_runs(tmp_path, monkeypatch):
    _slow_compactions(monkeypatch, 5)
    log = PredictionLog(tmp_path, segment_bytes=200, fsync_interval=0.02)
    for i in range(6):
        log.append([{"request_id": str(i), "pad": "x" * 40}])
    child = _compacting(log)
    for i in range(6, 12):  # more segments fill up meanwhile
        log.append([{"request_id": str(i), "pad": "x" * 40}])
    time.sleep(0.5)
    assert child.poll() is None  # still compacting …
    assert not log._dirty  # … and the live segment was fsynced anyway,
    assert not log._retiring  # and the segments filled meanwhile were flushed and closed
    log.close()  # waits for the compaction
    assert any(p.suffix == ".parquet" for p in log.segments())
    assert log.read()["request_id"].tolist() == [str(i) for i in range(12)]


def test_closing_stops_a_compaction_that_runs_too_long_and_the_next_start_redoes_it(
    tmp_path, monkeypatch
):
    from prodml.predlog import log as predlog

    _slow_compactions(monkeypatch, 60)
    monkeypatch.setattr(predlog, "_CLOSE_COMPACTION_SECONDS", 0.5)
    log = PredictionLog(tmp_path, segment_bytes=200)
    for i in range(6):
        log.append([{"request_id": str(i), "pad": "x" * 40}])
    child = _compacting(log)
    started = time.monotonic()
    log.close()
    assert time.monotonic() - started < 30
    assert child.returncode == -9
    assert {p.suffix for p in log.segments()} == {".jsonl"}
    monkeypatch.undo()
    with PredictionLog(tmp_path) as again:
        again.append([{"request_id": "6"}])
    assert any(p.suffix == ".parquet" for p in again.segments())
    assert again.read()["request_id"].tolist() == [str(i) for i in range(7)]


def test_a_compaction_that_cannot_start_is_tried_again(tmp_path, monkeypatch):
    from prodml.predlog import log as predlog

    real = subprocess.Popen
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError(24, "Too many open files")
        return real(*args, **kwargs)

    monkeypatch.setattr(predlog.subprocess, "Popen", failing_once)
    with PredictionLog(tmp_path, segment_bytes=200) as log:
        for i in range(6):
            log.append([{"request_id": str(i), "pad": "x" * 40}])
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 2
    assert any(p.suffix == ".parquet" for p in log.segments())
    assert log.read()["request_id"].tolist() == [str(i) for i in range(6)]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_compaction_child_runs_at_idle_priority(tmp_path, monkeypatch):
    from prodml.predlog import log as predlog

    # The child reports its own scheduling policy before it compacts.
    report = tmp_path / "policy"
    monkeypatch.setattr(
        predlog,
        "_COMPACTOR",
        predlog._COMPACTOR.replace(
            "sys.argv = sys.argv[1:]\n",
            f"open({str(report)!r}, 'w').write(str(os.sched_getscheduler(0)))\n"
            "sys.argv = sys.argv[1:]\n",
        ),
    )
    with PredictionLog(tmp_path / "log", segment_bytes=100) as log:
        for i in range(3):
            log.append([{"request_id": str(i), "pad": "x" * 40}])
    assert int(report.read_text()) == os.SCHED_IDLE
