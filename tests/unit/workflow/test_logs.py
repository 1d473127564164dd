"""A stage job's logging: an error that explains itself ends the job with its one line, any other
error keeps its traceback."""

from __future__ import annotations

import pytest

from taskgrouping.benchmarks.checks import BenchmarkError
from taskgrouping.training.losses import NonFiniteLoss
from taskgrouping.training.update import UpdateError
from taskgrouping.workflow.logs import logged


@pytest.mark.parametrize("error", [UpdateError, NonFiniteLoss, BenchmarkError])
def test_a_self_explaining_error_ends_the_job_with_its_line_only(error, tmp_path, capsys) -> None:
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop, logged(log):
        raise error("update 'nash_mtl': the solver failed at step 3 while training group 'a+b'")
    assert stop.value.code == 1
    assert stop.value.__context__ is None or stop.value.__suppress_context__
    line = f"{error.__name__}: update 'nash_mtl': the solver failed at step 3"
    assert line in log.read_text()
    assert "Traceback" not in capsys.readouterr().err


def test_any_other_error_is_raised_as_it_is(tmp_path) -> None:
    with pytest.raises(KeyError), logged(tmp_path / "job.log"):
        raise KeyError("x")
