import asyncio
import os

import pytest

# Qt must render offscreen in tests (no display on CI); set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("BIOBREATH_DATA_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                         f"biobreath-test-{os.getpid()}"))


@pytest.fixture
def loop(qapp):
    """A qasync event loop on the test's Qt application (the window's loop), closed after."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)
