"""Progress lines: throttled to the interval, with counts, rate and ETA, and always a final line."""

from digit_assets.engine.progress import Progress, observed


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logs_at_most_once_per_interval_with_rate_and_eta():
    clock, lines = FakeClock(), []
    progress = Progress(lines.append, "shard 0 digit_tc", total=100, interval_s=10, clock=clock)
    clock.now += 4
    progress.advance(accepted=1)
    assert lines == []  # inside the interval: silent
    clock.now += 6  # 10 s since start, 20 items done
    progress.advance(19, accepted=15, rejected=4)
    assert lines == ["shard 0 digit_tc: 20/100 done in 10.0s (2.0/s, ~40s left); accepted 16, rejected 4"]
    clock.now += 1
    progress.advance()
    assert len(lines) == 1  # the interval restarts at the last report


def test_finish_always_logs_without_eta():
    clock, lines = FakeClock(), []
    progress = Progress(lines.append, "search retail", interval_s=60, clock=clock)
    clock.now += 2
    progress.advance(3, solved=2)
    progress.finish()
    assert lines == ["search retail: 3 done in 2.0s (1.5/s); solved 2"]


def test_an_observer_sees_every_advance_while_it_observes():
    clock, seen = FakeClock(), []
    progress = Progress(lambda line: None, "shard 1 no_bt", total=3, interval_s=60, clock=clock)
    with observed(lambda label, done, total: seen.append((label, done, total))):
        progress.advance()
        progress.advance(2)
    progress.advance()
    assert seen == [("shard 1 no_bt", 1, 3), ("shard 1 no_bt", 3, 3)]
