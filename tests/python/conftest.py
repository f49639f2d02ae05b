import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402


class LogCapture(harness.wf.LogSink):
    def __init__(self):
        self.lines = []

    def log(self, level, target, message):
        self.lines.append((level, target, message))


# One logger per process, installed before any wallet exists.
LOGS = LogCapture()
harness.wf.init_logging(harness.wf.LogLevel.DEBUG, LOGS)


@pytest.fixture(scope="session")
def system():
    s = harness.System()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def logs():
    return LOGS


@pytest.fixture
def run():
    return asyncio.run
