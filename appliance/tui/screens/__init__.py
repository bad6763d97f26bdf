"""One module per console screen; each re-renders itself from ``app.state`` in ``sync()``."""

from .browser import BrowserScreen
from .devices import DevicesScreen
from .exam import ExamScreen
from .jobs import JobsScreen
from .log import LogScreen
from .patient import PatientScreen

__all__ = ["PatientScreen", "ExamScreen", "BrowserScreen", "JobsScreen", "DevicesScreen", "LogScreen"]
