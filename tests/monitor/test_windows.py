import pandas as pd

from prodml.monitor import time_windows


def test_calendar_windows_follow_the_local_time_zone_and_skip_empty_months():
    utc = pd.to_datetime(["2013-07-01 03:00", "2013-07-01 05:00", "2013-09-02 12:00"], utc=True)
    frame = pd.DataFrame({"t": utc.tz_convert("America/New_York"), "x": [1, 2, 3]})
    windows = list(time_windows(frame, time="t", freq="MS"))
    assert [(w.start.month, w.end.month, len(w.rows)) for w in windows] == [
        (6, 7, 1),
        (7, 8, 1),
        (9, 10, 1),
    ]
    assert windows[0].rows["x"].tolist() == [1]  # 03:00 UTC on Jul 1 is still June in New York


def test_count_windows_are_full_runs_and_stable_as_the_log_grows():
    from prodml.monitor.windows import count_windows

    times = pd.date_range("2026-01-01", periods=10, freq="min", tz="UTC")
    frame = pd.DataFrame({"t": times[::-1], "x": range(10)})  # written out of order
    windows = list(count_windows(frame, time="t", size=4))
    assert [len(w.rows) for w in windows] == [4, 4]  # the last two rows are still filling
    assert windows[0].rows["x"].tolist() == [9, 8, 7, 6]  # in time order
    assert windows[0].end == times[3] + pd.Timedelta(microseconds=1)
    grown = pd.concat([frame, pd.DataFrame({"t": [times[-1] + pd.Timedelta("1min")] * 2, "x": 0})])
    again = list(count_windows(grown, time="t", size=4))
    assert [(w.start, w.end) for w in again] == [(w.start, w.end) for w in windows] + [
        (times[8], times[-1] + pd.Timedelta("1min") + pd.Timedelta(microseconds=1))
    ]


def test_weekly_windows_start_on_their_monday_and_hold_that_week():
    times = pd.to_datetime(["2026-03-02 12:00", "2026-03-08 23:00", "2026-03-09 00:00"], utc=True)
    frame = pd.DataFrame({"t": times, "x": [1, 2, 3]})
    windows = list(time_windows(frame, time="t", freq="W-MON"))
    assert [(str(w.start.date()), str(w.end.date()), w.rows["x"].tolist()) for w in windows] == [
        ("2026-03-02", "2026-03-09", [1, 2]),
        ("2026-03-09", "2026-03-16", [3]),
    ]
