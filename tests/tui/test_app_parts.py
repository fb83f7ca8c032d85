"""The app's pure parts: the form's rules, remembered hosts and SSH aliases, metric
series and plots, GPU bars and sparklines, and how a link's state reads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from protocol.jobs import JobInfo, JobState
from protocol.metrics import MetricRecord
from tui.app.gpu_panel import bar, sparkline
from tui.app.host_list import HostListError, load_hosts, remember_host, ssh_config_aliases
from tui.app.job_form import FormError, JobForm, parse_env, spec_from_form
from tui.app.link_text import link_badge, link_line
from tui.app.metric_plot import PlotSeries, render_plot
from tui.app.metric_store import MAX_POINTS, JobMetrics, Series, format_value
from tui.app.screens.add_host import host_problem
from tui.app.screens.help import key_label
from tui.session import SessionState


def job(**fields: object) -> JobInfo:
    base = {
        "id": 7,
        "name": "train",
        "state": JobState.FAILED,
        "argv": ["python", "train.py", "--lr", "3e-4"],
        "cwd": "/work",
        "env": {"SEED": "1", "NOTE": "two words"},
        "created_at": 0.0,
    }
    return JobInfo(**{**base, **fields})


def test_a_typed_command_runs_as_a_login_shell_line() -> None:
    spec = spec_from_form(JobForm(command="python t.py | tee out", env="A=1"), default_cwd="/here")
    assert spec.argv == ["bash", "-lc", "python t.py | tee out"]
    assert (spec.cwd, spec.env, spec.name, spec.gpus) == ("/here", {"A": "1"}, None, None)


def test_after_and_priority_from_the_form() -> None:
    spec = spec_from_form(JobForm(command="x", after="4, 3 4", priority="-2"), default_cwd=None)
    assert (spec.after, spec.after_any, spec.priority) == ([3, 4], False, -2)
    either = spec_from_form(JobForm(command="x", after="any 7"), default_cwd=None)
    assert (either.after, either.after_any, either.priority) == ([7], True, 0)


def test_rerun_keeps_the_original_argv_unless_the_command_was_edited() -> None:
    original = job()
    form = JobForm.from_job(original)
    assert form.command == "python train.py --lr 3e-4"
    assert parse_env(form.env) == {"SEED": "1", "NOTE": "two words"}
    assert spec_from_form(form, default_cwd=None, rerun_of=original).argv == original.argv
    edited = JobForm(**{**form.__dict__, "command": "python train.py --lr 1e-3"})
    assert spec_from_form(edited, default_cwd=None, rerun_of=original).argv[:2] == ["bash", "-lc"]


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        (JobForm(command="  "), "command", "type a command to run"),
        (JobForm(command="x", env="NOEQ"), "env", "KEY=VALUE pairs, got 'NOEQ'"),
        (JobForm(command="x", env="A='open"), "env", "close the quote"),
        (JobForm(command="x", env="1A=2"), "env", "'1A' is not valid"),
        (JobForm(command="x", gpus="two"), "gpus", "a count or 'all'"),
        (JobForm(command="x", name="a\tb"), "name", "printable"),
        (JobForm(command="x", after="3,x"), "after", "job ids like 3,4 (or any 3,4), not 'x'"),
        (JobForm(command="x", after="any"), "after", "name the jobs too"),
        (JobForm(command="x", priority="high"), "priority", "a whole number"),
    ],
)
def test_bad_fields_say_which_and_how_to_fix(form: JobForm, field: str, words: str) -> None:
    with pytest.raises(FormError) as caught:
        spec_from_form(form, default_cwd=None)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_added_hosts_are_remembered_once_and_a_damaged_list_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "tether" / "hosts.json"
    assert load_hosts(path) == []
    assert remember_host("gpu1", path) == ["gpu1"]
    assert remember_host("gpu2", path) == ["gpu1", "gpu2"]
    assert remember_host("gpu1", path) == ["gpu1", "gpu2"]
    assert json.loads(path.read_text()) == ["gpu1", "gpu2"]
    path.write_text('{"hosts": 1}')
    with pytest.raises(HostListError, match="must hold a JSON list of host names"):
        load_hosts(path)


def test_ssh_aliases_follow_includes_and_leave_out_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    ssh = tmp_path / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "config").write_text(
        "# mine\nHost gpu1 gpu2\n  HostName x\nHost *.corp !bad\nInclude conf.d/*\nHost=eq-alias\n"
    )
    (ssh / "conf.d" / "lab").write_text('Host lab-a "lab b"\n  User me\nHost gpu1\n')
    assert ssh_config_aliases() == ["gpu1", "gpu2", "lab-a", "lab b", "eq-alias"]


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", "type a host"),
        ("two words", "one word"),
        ("-oProxyCommand=x", "cannot start with '-'"),
        ("localhost", "this machine is already open"),
        ("gpu1", "gpu1 is already open"),
        ("gpu3", None),
    ],
)
def test_a_host_is_checked_before_it_is_added(typed: str, problem: str | None) -> None:
    found = host_problem(typed, ["", "gpu1"])
    assert (found is None) if problem is None else (problem in (found or ""))


def test_metric_series_stay_bounded_and_keep_the_newest_value_exactly() -> None:
    series = Series()
    for step in range(MAX_POINTS * 5):
        series.add(step, 1.0 / (step + 1))
    assert len(series.points) <= MAX_POINTS
    assert series.points[0] == (0, 1.0)
    assert series.latest == (MAX_POINTS * 5 - 1, 1.0 / (MAX_POINTS * 5))
    steps = [x for x, _ in series.points]
    assert steps == sorted(steps)


def test_job_metrics_order_series_loss_first_and_use_record_order_without_steps() -> None:
    metrics = JobMetrics(1)
    metrics.add([MetricRecord(values={"lr": 0.1, "val_acc": 0.5, "loss": 2.0})])
    metrics.add([MetricRecord(values={"loss": 1.0})])
    assert metrics.names() == ["loss", "val_acc", "lr"]
    assert metrics.series["loss"].points == [(0.0, 2.0), (1.0, 1.0)]
    assert format_value(math.nan) == "NaN" and format_value(3e-4) == "3.000e-04"
    assert format_value(0.42) == "0.42"


def test_plot_draws_in_braille_with_axes_and_skips_non_finite_values() -> None:
    points = [(float(x), 1.0 / (x + 1)) for x in range(100)] + [(100.0, math.nan)]
    lines = render_plot([PlotSeries("loss", points, "cyan")], 40, 10)
    assert len(lines) == 10
    assert all(line.cell_len <= 40 for line in lines)
    plot_text = "\n".join(line.plain for line in lines)
    assert sum(0x2800 < ord(c) <= 0x28FF for c in plot_text) > 20
    assert lines[0].plain.strip().startswith("1")  # the top label is the maximum
    assert lines[-1].plain.strip().endswith("99")  # the x axis ends at the last step
    log_lines = render_plot([PlotSeries("loss", points, "cyan")], 40, 10, log_y=True)
    assert log_lines != lines
    empty = render_plot([PlotSeries("loss", [(0.0, math.inf)], "cyan")], 40, 6)
    assert "no values to plot yet" in "".join(line.plain for line in empty)


def test_bars_and_sparklines() -> None:
    assert bar(50, 8, "green").plain == "████░░░░"
    assert bar(None, 8, "green").plain.strip() == "n/a"
    assert sparkline([0, 50, 100], 3) == "▁▅█"
    assert sparkline([0] * 10 + [100] * 10, 4) == "▁▁██"
    assert sparkline([None, 100], 2) == " █"


def test_link_state_reads_the_same_at_any_width_and_time_given() -> None:
    state = SessionState("reconnecting", "gpu1: connection lost", 3, 1000.0)
    assert link_badge("gpu1", state, 996.0).plain == "◐ gpu1 #3 4s"
    line = link_line(state, 996.0, stale_for=83.0).plain
    assert line == "reconnecting (attempt 3, next try in 4s) [stale 1m23s]: gpu1: connection lost"
    offline = SessionState("offline", "gpu1: auth refused")
    assert link_line(offline, 0.0, None).plain == "offline: gpu1: auth refused"
    assert link_badge("gpu1", offline, 0.0).plain == "✕ gpu1 offline"


def test_help_names_keys_the_way_they_are_pressed() -> None:
    assert key_label("question_mark") == "?"
    assert key_label("ctrl+s") == "Ctrl+S"
    assert key_label("n,escape") == "n / Esc"
