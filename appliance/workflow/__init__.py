"""The whole exam: worklist -> MPPS -> acquisition -> store -> send -> commit -> MPPS -> print -> burn.

- :mod:`appliance.workflow.exam`: :class:`Exam` (the state machine), :class:`ExamOptions`,
  :class:`ExamResult`, :func:`run_exam` (one exam against the embedded hospital);
- :mod:`appliance.workflow.events`: what an exam publishes to its callback;
- :mod:`appliance.workflow.scenario`: scripted exams with timed faults and expected outcomes,
  reported as JSON and JUnit XML (``vscanner exam --scenario``);
- :mod:`appliance.workflow.console`: the terminal face (step lines, progress bar, table).

Python API (see README "Python API")::

    from devices.hospital import Hospital
    from appliance.workflow import run_exam

    with Hospital("syngo-mr-xa11b") as hospital:
        result = run_exam(hospital)
        assert result.ok, result.table()
"""

from .events import ExamFinished, Notice, StateChanged, StepFinished, StepProgress, StepStarted
from .exam import (DEMO_TIME_SCALE, STEPS, Exam, ExamError, ExamOptions, ExamResult, StepResult, run_exam,
                   small_limits)

__all__ = [
    "Exam",
    "ExamOptions",
    "ExamResult",
    "StepResult",
    "ExamError",
    "run_exam",
    "small_limits",
    "STEPS",
    "DEMO_TIME_SCALE",
    "StateChanged",
    "StepStarted",
    "StepProgress",
    "StepFinished",
    "Notice",
    "ExamFinished",
]
