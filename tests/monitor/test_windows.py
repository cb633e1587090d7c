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
