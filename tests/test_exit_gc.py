"""The CLI skips the exit's full garbage collection (0.5-0.9 s of a train's wall time)."""

import subprocess
import sys

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("FROZEN", gc.get_freeze_count() > 0, file=sys.stderr))
from rnnlab.cli import main
sys.argv = ["rnnlab", sys.argv[1]]
main()
"""


def test_cli_freezes_the_heap_before_exit():
    for args in ("--help", "--no-such-option"):
        done = subprocess.run([sys.executable, "-c", PROBE, args], capture_output=True,
                              text=True, timeout=60)
        assert "FROZEN True" in done.stderr, (args, done.stderr)
    assert done.returncode == 2  # exit codes are unchanged
