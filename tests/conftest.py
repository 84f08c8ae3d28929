import os

# Qt must render offscreen in tests (no display on CI); set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("BIOBREATH_DATA_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                         f"biobreath-test-{os.getpid()}"))
