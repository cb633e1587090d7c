import subprocess
import sys
import textwrap

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
