"""The soak's flatness judgement (soak.judge) on made-up series.

The soak itself runs for minutes (tests/run.sh, SG_SOAK_SECONDS); these
check in milliseconds that its verdict tells a leak from noise.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from soak import FD_ABS, RSS_ABS_KIB, RSS_REL, judge, percentile  # noqa: E402


def series(values, every=2.0):
    return [(i * every, v) for i, v in enumerate(values)]


def test_flat_series_with_noise_and_one_spike_passes():
    vals = [12000 + (i % 3) * 40 for i in range(60)]
    vals[50] = 30000  # one sample during a burst: the median ignores it
    ok, first, last, limit = judge(series(vals), 10, RSS_ABS_KIB, RSS_REL)
    assert ok and first == 12040 and last == 12040
    assert limit == 12040 + RSS_ABS_KIB + RSS_REL * 12040


def test_warm_up_growth_is_left_out():
    vals = [2000 + 1000 * i for i in range(10)] + [20000] * 50
    assert judge(series(vals), 20, RSS_ABS_KIB, RSS_REL)[0] is True
    # Judged from the start, the same series is growth.
    assert judge(series(vals), 0, RSS_ABS_KIB, RSS_REL)[0] is False


def test_steady_leak_fails():
    # 4 KiB per request at 50 requests/s for 2 minutes: 24 MiB.
    vals = [12000 + 200 * 2 * i for i in range(60)]
    ok, first, last, _ = judge(series(vals), 10, RSS_ABS_KIB, RSS_REL)
    assert ok is False and last > first


def test_small_leak_within_slack_is_not_flagged_but_grows_out_of_it():
    # 100 bytes a request at 50/s: within the slack for two minutes...
    short = [12000 + 5 * 2 * i for i in range(60)]
    assert judge(series(short), 10, RSS_ABS_KIB, RSS_REL)[0] is True
    # ...not over an hour (samples every 10 s).
    hour = [12000 + 5 * 10 * i for i in range(360)]
    assert judge(series(hour, 10), 60, RSS_ABS_KIB, RSS_REL)[0] is False


def test_descriptor_leak_fails_and_one_open_connection_does_not():
    toggling = [9 + (i % 2) for i in range(60)]
    assert judge(series(toggling), 10, FD_ABS, 0)[0] is True
    leaking = [9 + i // 5 for i in range(60)]
    assert judge(series(leaking), 10, FD_ABS, 0)[0] is False


def test_too_few_samples_is_no_verdict():
    assert judge(series([1, 2, 3, 4, 5]), 0, RSS_ABS_KIB, RSS_REL)[0] is None


def test_percentile():
    vals = sorted(float(i) for i in range(1, 101))
    assert percentile(vals, 50) == 50 and percentile(vals, 99) == 99
    assert percentile(vals, 100) == 100 and percentile([7.0], 99) == 7.0
