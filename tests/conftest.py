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
    # A session a test left running ends here, in its loop: left to the garbage collector, its
    # clean-up would run later, outside any loop, and warn in whatever test came next.
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def replay_window(qtbot, loop):
    """Opens a recording in the replay window with its timeline, paused, once the timeline has
    indexed it: ``replay_window(path) -> (window, scrub)``."""
    from biobreath.files.recording import read_session
    from biobreath.ui.timeline import ReplayScrub, Scrubber
    from biobreath.ui.window import SessionNews, TrainerWindow

    def open_(path):
        data = read_session(path)
        window = TrainerWindow(lambda p: None, data.protocol(), autostart=False)
        qtbot.addWidget(window)
        scrub = ReplayScrub(window, Scrubber(data, lambda s: [SessionNews(s)]), playing=False)
        window.make_session = scrub.make_session
        window.resize(1280, 800)
        window.show()
        window.start()
        loop.run_until_complete(scrub.indexing)
        return window, scrub

    return open_
