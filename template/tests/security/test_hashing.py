"""Password hashes run off the event loop, in threads that give way to requests."""

import os
import sys
import threading

import pytest

from app.core import security


class RecordingContext:
    """Stands in for the passlib context: notes the thread each hash or check runs in."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.niceness: list[int] = []

    def _note(self) -> None:
        self.threads.append(threading.current_thread())
        if sys.platform == "linux":
            self.niceness.append(os.getpriority(os.PRIO_PROCESS, 0))

    def hash(self, password: str) -> str:
        self._note()
        return "hash"

    def verify(self, password: str, password_hash: str) -> bool:
        self._note()
        return False

    def verify_and_update(self, password: str, password_hash: str) -> tuple[bool, None]:
        self._note()
        return True, None


@pytest.fixture
def context(monkeypatch: pytest.MonkeyPatch) -> RecordingContext:
    # The dummy hash of a check without a user is made once and kept: make it for real first.
    security._dummy_hash()
    recording = RecordingContext()
    monkeypatch.setattr(security, "password_context", recording)
    return recording


async def test_hashes_and_checks_run_in_the_hashing_threads(context: RecordingContext) -> None:
    assert await security.hash_password("password") == "hash"
    assert await security.verify_password("password", "hash") == (True, None)
    assert await security.verify_password("password", None) == (False, None)
    assert len(context.threads) == 3
    assert all(thread.name.startswith("password-hash") for thread in context.threads)
    assert threading.current_thread() not in context.threads


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux keeps a priority per thread")
async def test_hashing_threads_run_below_the_event_loop(context: RecordingContext) -> None:
    await security.hash_password("password")
    loop_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(loop_niceness + security.HASHING_NICENESS, 19)
    assert context.niceness == [expected]
    # The event loop's thread keeps its own priority.
    assert os.getpriority(os.PRIO_PROCESS, 0) == loop_niceness
