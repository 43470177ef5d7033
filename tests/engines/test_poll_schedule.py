"""The poll schedule: few polls per task, a ready result seen within a second."""

from __future__ import annotations

import math

import pytest

from imagine.engines.poll_schedule import PollSchedule, TaskDurations


def history(*seconds: float) -> TaskDurations:
    durations = TaskDurations()
    for value in seconds:
        durations.record(value)
    return durations


def seen_after(durations: TaskDurations, ready_at: float) -> tuple[float, int]:
    """(when a task ready at `ready_at` is first polled as done, how many polls it took)."""
    schedule = PollSchedule(durations)
    now, polls = schedule.before_first_poll(), 1
    while now < ready_at:
        now += schedule.next_delay(now)
        polls += 1
    return now, polls


def test_without_history_it_polls_at_once_then_backs_off_to_four_seconds() -> None:
    schedule = PollSchedule(history(10.0, 10.0))  # two tasks are not history yet
    assert schedule.before_first_poll() == 0.0
    delays = [schedule.next_delay(0.0) for _ in range(8)]
    assert delays[:4] == pytest.approx([0.5, 0.75, 1.125, 1.6875])
    assert delays[-2:] == [4.0, 4.0]


def test_with_history_it_sleeps_until_the_quickest_tasks_finish_then_polls_briskly() -> None:
    schedule = PollSchedule(history(10.0, 10.0, 10.0))
    assert schedule.before_first_poll() == pytest.approx(9.0)
    assert schedule.next_delay(9.0) == 1.0
    assert schedule.next_delay(29.0) == 1.0
    # Three times the usual duration: a queued task, polled less and less often.
    assert [schedule.next_delay(31.0) for _ in range(5)] == [1.0, 1.5, 2.25, 3.375, 4.0]


@pytest.mark.parametrize("usual", [3.0, 10.0, 30.0])
def test_steady_tasks_take_few_polls_and_are_seen_within_a_second(usual: float) -> None:
    recent = history(*[usual] * 20)
    for ready_at in (usual * 0.95, usual, usual * 1.1, usual * 2):
        seen, polls = seen_after(recent, ready_at)
        assert seen - ready_at <= 1.0
        assert polls <= 2 + (ready_at - 0.9 * usual) / 0.5
    assert seen_after(recent, usual)[1] <= 2 + math.ceil(0.1 * usual)  # 3 polls at 10 s
    # Without history the same 10 s task costs 7 polls and is seen up to 4 s late.
    assert seen_after(TaskDurations(), 10.0) == (pytest.approx(10.39, abs=0.01), 7)


def test_varied_durations_start_from_the_quickest() -> None:
    recent = history(*[5.0 + i * 0.5 for i in range(21)])  # 5 s … 15 s
    for ready_at in (5.0, 7.5, 10.0, 15.0):
        seen, _ = seen_after(recent, ready_at)
        assert 0.0 <= seen - ready_at <= 1.0


def test_a_provider_that_answers_at_once_is_polled_at_once() -> None:
    schedule = PollSchedule(history(0.01, 0.02, 0.01))
    assert schedule.before_first_poll() == pytest.approx(0.009)
    assert schedule.next_delay(0.01) == 0.5


def test_only_the_recent_window_counts() -> None:
    durations = TaskDurations(window=4)
    for value in (60.0, 60.0, 60.0, 60.0, 2.0, 2.0, 2.0, 2.0):
        durations.record(value)
    assert durations.quantile(0.5) == 2.0
    assert PollSchedule(durations).before_first_poll() == pytest.approx(1.8)
