"""Which datasets a monitoring run judges: each dataset by its own schedule within the run's interval, a
named one alone, none without a champion (`monitoring_flow.datasets_due`), and the schedule's check."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, parse_settings, read_yaml
from modelops.pipelines.monitoring_flow import datasets_due, fires_within, tick_interval

RAW = read_yaml(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
MONDAY = datetime(2028, 11, 6, tzinfo=UTC)  # a Monday, midnight: the daily tick's fire time
DAY = (MONDAY - timedelta(days=1), MONDAY)  # the (start, end] the daily run at MONDAY covers


def _settings(**schedules):
    """The bundled parameters file with datasets.<name>.monitoring.schedule set as given."""
    raw = copy.deepcopy(RAW)
    for name, schedule in schedules.items():
        raw["datasets"][name].setdefault("monitoring", {})["schedule"] = schedule
    return parse_settings(raw)


def _everyone(spec) -> bool:
    return True


def test_the_bundled_datasets_are_all_due_on_the_daily_tick():
    settings = _settings()
    assert len(settings.datasets) >= 2
    due, left_out = datasets_due(settings, None, DAY, _everyone)
    assert due == sorted(settings.datasets) and left_out == []


def test_a_dataset_switched_off_is_left_to_manual_runs():
    settings = _settings(anes96_vote="off")
    due, left_out = datasets_due(settings, None, DAY, _everyone)
    assert due == sorted(set(settings.datasets) - {"anes96_vote"}) and "voter_turnout" in due
    assert left_out == ["anes96_vote: its schedule 'off' does not fire in this run's interval"]
    assert datasets_due(settings, None, None, _everyone)[0] == sorted(settings.datasets)  # manual, all
    assert datasets_due(settings, "anes96_vote", DAY, _everyone)[0] == ["anes96_vote"]  # named: judged


@pytest.mark.parametrize(
    ("schedule", "interval", "due"),
    [
        ("@weekly", DAY, False),  # Sundays at midnight: MONDAY's run covers Sunday 00:00 exclusive .. Monday
        ("@weekly", (MONDAY - timedelta(days=2), MONDAY - timedelta(days=1)), True),  # Saturday -> Sunday 00:00
        ("0 6 * * 0", DAY, True),  # Sunday 06:00 lies inside the day before MONDAY
        ("0 6 * * 1", DAY, False),  # Monday 06:00: the next day's run
        ("30 12 * * *", DAY, True),
        ("@daily", DAY, True),
        ("0 0 * * *", (MONDAY, MONDAY + timedelta(hours=12)), False),  # the start is not inside
    ],
)
def test_a_cron_schedule_is_due_when_it_fires_inside_the_interval(schedule, interval, due):
    settings = _settings(anes96_vote=schedule)
    assert fires_within(schedule, interval) is due
    judged, left_out = datasets_due(settings, None, interval, _everyone)
    assert ("anes96_vote" in judged) is due and ("anes96_vote" in " ".join(left_out)) is not due


def test_a_dataset_without_a_champion_is_left_out_saying_why():
    settings = _settings()
    due, left_out = datasets_due(settings, None, DAY, lambda spec: spec.name == "voter_turnout")
    assert due == ["voter_turnout"]
    assert left_out == [
        f"{name}: no champion of {name}_model, nothing served to judge"
        for name in sorted(settings.datasets)
        if name != "voter_turnout"
    ]
    anes = "anes96_vote: no champion of anes96_vote_model, nothing served to judge"
    assert anes in left_out
    assert datasets_due(settings, "anes96_vote", None, lambda spec: False) == ([], [anes])


def test_an_unknown_named_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        datasets_due(_settings(), "nope", None, _everyone)


def test_the_interval_of_a_cron_trigger_run_reaches_back_to_the_previous_tick():
    assert tick_interval("@daily", MONDAY, MONDAY) == DAY  # Airflow 3's cron trigger: an empty data interval
    assert tick_interval("@daily", None, MONDAY) == DAY
    wide = (MONDAY - timedelta(days=7), MONDAY)
    assert tick_interval("@daily", *wide) == wide  # a data interval timetable's own interval


@pytest.mark.parametrize("schedule", ["sometimes", "@once", "61 * * * *", 5])
def test_a_schedule_that_is_no_cron_is_a_config_error_naming_it(schedule):
    with pytest.raises(ConfigError, match=r"datasets\.anes96_vote\.monitoring\.schedule: a cron expression"):
        _settings(anes96_vote=schedule)


def test_the_schedule_is_no_threshold():
    from modelops.monitor.thresholds import thresholds_for

    settings = _settings(anes96_vote="@weekly")
    assert "schedule" not in thresholds_for(settings, None, settings.dataset("anes96_vote"))


def test_schedules_are_read_in_the_dags_timezone():
    """A DAG in New York ticks at 05:00 UTC; its daily datasets are due, and a cron line reads local time."""
    from zoneinfo import ZoneInfo

    local = ZoneInfo("America/New_York")
    tick = datetime(2028, 11, 13, tzinfo=local).astimezone(UTC)  # Monday, local midnight: 05:00 UTC
    interval = tick_interval("@daily", tick, tick, "America/New_York")
    assert interval == (datetime(2028, 11, 12, tzinfo=local), datetime(2028, 11, 13, tzinfo=local))
    everything = sorted(_settings().datasets)
    assert "anes96_vote" in everything and datasets_due(_settings(), None, interval, _everyone)[0] == everything
    evening = _settings(anes96_vote="0 22 * * *")  # 22:00 in New York, Sunday: inside the local day
    assert datasets_due(evening, None, interval, _everyone)[0] == everything
    # read in UTC, the run would cover Monday 00:00-05:00 UTC and miss both (the bug this guards against)
    utc = tick_interval("@daily", tick, tick)
    assert not fires_within("@daily", utc) and not fires_within("0 22 * * *", utc)


def test_the_sections_schedule_is_checked_as_cron_at_load():
    raw = copy.deepcopy(RAW)
    raw["monitoring"]["schedule"] = "@once"
    with pytest.raises(ConfigError, match=r"monitoring\.schedule: a cron expression"):
        parse_settings(raw)


@pytest.mark.parametrize("schedule", ["@hourly", "30 * * * *", "0 0,12 * * *", "0 0,12 1 * *"])
def test_a_schedule_finer_than_the_dags_tick_is_a_config_error(schedule):
    with pytest.raises(
        ConfigError, match=r"anes96_vote\.monitoring\.schedule: .* fires more often than the monitoring"
    ):
        _settings(anes96_vote=schedule)


@pytest.mark.parametrize("schedule", ["@daily", "0 6 * * *", "@weekly", "0 0 1,2 * *", "@monthly", "off"])
def test_a_schedule_at_most_once_a_tick_is_accepted(schedule):
    assert _settings(anes96_vote=schedule).dataset("anes96_vote").monitoring.schedule == schedule


def test_the_section_schedule_is_each_datasets_own_not_the_dags_tick():
    """The DAG ticks daily whatever the file says: a weekly section schedule is due once a week, not daily."""
    raw = copy.deepcopy(RAW)
    raw["monitoring"]["schedule"] = "@weekly"
    settings = parse_settings(raw)
    assert datasets_due(settings, None, DAY, _everyone)[0] == []
    saturday_to_sunday = (MONDAY - timedelta(days=2), MONDAY - timedelta(days=1))
    assert datasets_due(settings, None, saturday_to_sunday, _everyone)[0] == sorted(settings.datasets)
