"""What the end-to-end tests of `llmc serve` share (serve_check.py, serve_api.py, serve_parallel.py):
a check() that records failures, and a server process on a free loopback port (found in its log)
that SIGTERM stops. Each test adds its own request helpers in a subclass. Loops are bounded."""
import os
import re
import signal
import subprocess
import time

fails = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


class ServerBase:
    """`BIN serve MODEL --host 127.0.0.1 --port 0 --threads 2 EXTRA...`; .port once it listens (30 s at most)."""

    def __init__(self, binary, model, extra, tag):
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"llmc-{tag}-{os.getpid()}-{len(extra)}.log"), "w+")
        self.p = subprocess.Popen([binary, "serve", model, "--host", "127.0.0.1", "--port", "0", "--threads", "2", *extra],
                                  stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        self.port = None
        for _ in range(600):
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None:
                break
        if not self.port:
            self.log.seek(0)
            raise SystemExit("server did not start:\n" + self.log.read())

    def stop(self, timeout=60):
        """SIGTERM, then (exit status or None when it had to be killed, the server's log)."""
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = None
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        return rc, text
