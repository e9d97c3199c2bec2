#!/usr/bin/env python3
"""Drives `llmc chat` through a pseudo-terminal as a person would: the prompt, slash commands
(never sent to the model), multi-line input between \"\"\" marks, /set with its ranges, /save and
/load, history recall with the up arrow (line editing), Ctrl-C at the prompt, a conversation that
outgrows a small context and keeps answering, and /bye.
usage: chat_pty.py LLMC_BIN MODEL.gguf"""
import json, os, pty, select, signal, sys, tempfile, time

BIN, MODEL = sys.argv[1], sys.argv[2]
failures = []


class Chat:
    def __init__(self, *extra):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"  # a person's terminal (ctest may run without TERM)
            os.execv(BIN, [BIN, "chat", MODEL, "--greedy", "--max-new-tokens", "8", "--threads", "2", *extra])
        self.out = b""

    def expect(self, needle, timeout=60):
        """Reads until needle (bytes) appears after what earlier expects consumed; returns what came before it."""
        end = time.time() + timeout
        while needle not in self.out:
            left = end - time.time()
            if left <= 0:
                raise TimeoutError(f"waited for {needle!r}; got {self.out[-400:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise EOFError(f"chat ended while waiting for {needle!r}; got {self.out[-400:]!r}")
                self.out += data
        before, _, self.out = self.out.partition(needle)
        return before

    def send(self, text):
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def key(self, seq):
        """A key the line editor must see (arrow, Ctrl-C): give it time to put the terminal in raw
        mode after drawing the prompt, or a loaded machine's tty still cooks the bytes."""
        time.sleep(1.0)
        self.send(seq)

    def wait(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.2)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        return None


def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


tmp = tempfile.mkdtemp()
c = Chat()
c.expect(b">>> ")
c.send("/help\n")
got = c.expect(b">>> ")
check(b"/bye" in got and b"/set" in got and b'"""' in got, "/help lists the commands")
c.send("/frobnicate now\n")
got = c.expect(b">>> ")
check(b"unknown command '/frobnicate'" in got and b"not sent to the model" in got, "an unknown command is not sent")
c.send("Hi!\n")
first = c.expect(b">>> ")
check(len(first.strip()) > len(b"Hi!"), "a reply comes")
c.send('"""\nWrite two words:\nred blue\n"""\n')
got = c.expect(b">>> ")
check(b"... " in got, "multi-line input shows the continuation prompt")
c.send("/set temperature 2\n")
check(b"(temperature = 2)" in c.expect(b">>> "), "/set temperature")
c.send("/set top_p 5\n")
check(b"cannot set 'top_p'" in c.expect(b">>> "), "/set names the valid range")
c.send("/set greedy\n")
c.expect(b">>> ")
conv = os.path.join(tmp, "conv.json")
c.send(f"/save {conv}\n")
c.expect(b">>> ")
saved = json.load(open(conv))
check([m["role"] for m in saved] == ["user", "assistant", "user", "assistant"], f"/save wrote the conversation: {[m['role'] for m in saved]}")
check(saved[2]["content"] == "Write two words:\nred blue", f"the multi-line message is one message: {saved[2]['content']!r}")
c.send(f"/load {conv}\n")
check(b"(loaded 4 messages" in c.expect(b">>> "), "/load")
c.key(b"\x1b[A\n")  # the up arrow recalls the last line (/load ...); the editor redraws the prompt
got = c.expect(b"(loaded 4 messages")
c.expect(b">>> ")
check(b"^[[A" not in got, "the up arrow recalls history (line editing)")
c.key(b"\x03")  # Ctrl-C at the prompt does not quit
c.expect(b"(use /bye")
c.expect(b">>> ")
c.send("/set\n")
check(b"sampling: off (greedy)" in c.expect(b">>> "), "Ctrl-C at the prompt keeps the chat; /set shows the settings")
c.send("/bye\n")
check(c.wait() == 0, "/bye exits 0")

# A context of 96 positions: the conversation outgrows it and the chat keeps answering.
c = Chat("--max-context", "96", "--system", "You are brief.")
c.expect(b">>> ")
notices = 0
for i in range(8):
    c.send(f"Tell me about the number {i} please.\n")
    got = c.expect(b">>> ")
    notices += got.count(b"dropped the oldest turn")
    check(b"more than the context" not in got and b"error" not in got, f"turn {i} answered without a context error")
check(notices >= 1, f"the oldest turns were dropped with a notice ({notices})")
c.send("/bye\n")
check(c.wait() == 0, "/bye exits 0 after the long conversation")
print(f"chat_pty: {len(failures)} failed")
sys.exit(1 if failures else 0)
