"""`qwen3 serve` on a free loopback port for the Python server tests: started with --port 0 and
--quiet, its port read from the "listening on" line; stderr then drained by a thread so that the
server never blocks on a full pipe."""
import re
import subprocess
import threading
import time


def start_server(binary, model, *extra, sanitized=False, launch=()):
    """Returns (the process, its port); raises RuntimeError when it does not start in time. launch: a
    prefix such as ["mpirun", "-n", "2", ...] (the process returned is then the launcher)."""
    p = subprocess.Popen([*launch, binary, "serve", "--model", model, "--port", "0", "--quiet", *extra],
                         stderr=subprocess.PIPE, text=True)
    line = ""
    deadline = time.time() + (120 if sanitized else 30)
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, int(m.group(1))
        if p.poll() is not None:
            break
    p.kill()
    p.wait()
    raise RuntimeError(f"server did not start: {line}")
