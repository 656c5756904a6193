"""The Python side of a Fathom sandbox session: runs cells like a notebook kernel.

Used two ways: as a process speaking JSON lines over two pipes (the bwrap backend), and imported
by Pyodide (the WebAssembly backend), which calls Kernel.run directly.

Protocol (process mode): requests arrive on the fd given by FATHOM_KERNEL_IN, one JSON object a
line; each answer is one JSON line on FATHOM_KERNEL_OUT. Cell output goes to the real stdout and
stderr; after a request the kernel writes the request's `end` marker on both, so the host knows
it has read everything the cell printed.
"""

import ast
import base64
import collections
import datetime
import errno
import io
import json
import linecache
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
import types

WORKSPACE = os.environ.get("FATHOM_WORKSPACE", "/home/user")
MAX_FIGURES = 8
MAX_FIGURE_BYTES = 4 * 1024 * 1024
MAX_FIGURES_BYTES = 16 * 1024 * 1024
MAX_LISTED_FILES = 2000
MAX_WALKED = 100_000
MAX_REPR_CHARS = 100_000
# ipykernel's OutStream.flush_interval, in seconds.
FLUSH_INTERVAL = 0.2
MAX_CHUNKS = 10_000
SKIPPED_DIRS = {".fathom", "__pycache__", ".cache", ".config", ".local", ".ipython"}
THIS_FILE = os.path.abspath(__file__) if "__file__" in globals() else "<kernel>"


def snapshot(root=WORKSPACE):
    """Size and modification time of every file under root (bounded)."""
    files = {}
    stack = [root]
    while stack and len(files) < MAX_LISTED_FILES:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    files[entry.path] = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                continue
            if len(files) >= MAX_LISTED_FILES:
                break
    return files


def changes(before, after):
    listed = []
    for path, (size, mtime) in sorted(after.items()):
        old = before.get(path)
        if old is None:
            listed.append({"path": path, "change": "created", "size": size})
        elif old != (size, mtime):
            listed.append({"path": path, "change": "modified", "size": size})
    for path in sorted(set(before) - set(after)):
        listed.append({"path": path, "change": "deleted", "size": 0})
    return listed


def user_traceback(error):
    """The traceback without the kernel's own frames."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == THIS_FILE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def describe_error(error):
    if isinstance(error, SystemExit):
        value = "" if error.code is None else str(error.code)
        return {"name": "SystemExit", "value": value, "traceback": f"SystemExit: {value}".rstrip(": ") + "\n"}
    if isinstance(error, SyntaxError) and error.__traceback__ is not None and error.filename and error.filename.startswith("<cell"):
        text = "".join(traceback.format_exception_only(type(error), error))
        return {"name": type(error).__name__, "value": str(error.msg), "traceback": text}
    return {"name": type(error).__name__, "value": str(error), "traceback": user_traceback(error)}


NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}
# Connection errors of the HTTP clients the sandbox has; they wrap the socket error when there is one.
NETWORK_ERRORS = {("requests.exceptions", "ConnectionError"), ("urllib3.exceptions", "NewConnectionError"), ("aiohttp.client_exceptions", "ClientConnectorError")}


def is_network_failure(error):
    """Whether the error, or one it wraps or was raised from, is a failed connection or name lookup."""
    import socket

    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ConnectionRefusedError, socket.gaierror)):
            return True
        if isinstance(current, OSError) and current.errno in NETWORK_ERRNOS:
            return True
        if (type(current).__module__, type(current).__name__) in NETWORK_ERRORS:
            return True
        # urllib's URLError keeps the socket error as .reason, urllib3's MaxRetryError too.
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def safe_repr(value):
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not break the cell
        text = f"<{type(value).__name__} object (repr failed: {error})>"
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + "..."


def open_figures():
    """Every open matplotlib figure as PNG (base64) and its repr, then closed, as a notebook shows them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return [], []
    images, texts = [], []
    total = 0
    try:
        for number in list(pyplot.get_fignums())[:MAX_FIGURES]:
            figure = pyplot.figure(number)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            data = buffer.getvalue()
            if len(data) <= MAX_FIGURE_BYTES and total + len(data) <= MAX_FIGURES_BYTES:
                total += len(data)
                images.append(base64.b64encode(data).decode("ascii"))
                texts.append(safe_repr(figure))
        pyplot.close("all")
    except Exception as error:  # drawing a broken figure must not break the cell
        print(f"[figure not rendered: {type(error).__name__}: {error}]", file=sys.stderr)
    return images, texts


class ChunkedStream:
    """sys.stdout or sys.stderr, recording where a Jupyter kernel would have cut the output into messages.

    The rule is ipykernel's (OutStream, 6.29 in E2B's code-interpreter image): writes are buffered
    and sent as one stream message when flush() is called (print(..., flush=True) does) or
    flush_interval after the first write since the last message, and at the end of the cell.
    So print("a") is one message with its newline, and prints within 0.2 s of the first
    one share it. E2B lists each message as one element of Logs.stdout. Here every write still
    goes straight through; only the message lengths (in characters) are kept, at most MAX_CHUNKS,
    the rest counting as one. Output that bypasses sys.stdout (a child process, sys.stdout.buffer)
    is not seen: the host then shows the whole output as one message.
    """

    def __init__(self, stream):
        self._stream = stream
        self.chunks, self._open, self._started = [], 0, 0.0

    def write(self, text):
        written = self._stream.write(text)
        if text:
            now = time.monotonic()
            if self._open and now - self._started >= FLUSH_INTERVAL:
                self._send()
            if not self._open:
                self._started = now
            self._open += len(text)
        return written

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._send()
        self._stream.flush()

    def _send(self, last=False):
        if self._open and (last or len(self.chunks) < MAX_CHUNKS - 1):
            self.chunks.append(self._open)
            self._open = 0

    def take(self):
        """The message lengths since the last take, the open message included."""
        self._send(last=True)
        taken = self.chunks
        self.chunks, self._open, self._started = [], 0, 0.0
        return taken

    def __getattr__(self, name):
        return getattr(self._stream, name)


def chunked_streams():
    """sys.stdout and sys.stderr as ChunkedStreams, their records started afresh."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, ChunkedStream):
            setattr(sys, name, ChunkedStream(stream))
        else:
            stream.take()


def taken_chunks():
    """Each stream's message lengths, or None for a stream the cell replaced."""
    return {name: stream.take() if isinstance(stream, ChunkedStream) else None for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr))}


class Kernel:
    def __init__(self):
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main  # classes and functions defined in cells pickle as __main__.X
        self.namespace = main.__dict__
        self.namespace["__builtins__"] = __builtins__
        self.count = 0

    def compile_cell(self, code):
        self.count += 1
        filename = f"<cell-{self.count}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | flags)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, filename, "exec", flags)
        tail = compile(last, filename, "eval", flags) if last is not None else None
        return body, tail

    def evaluate(self, code_object):
        outcome = eval(code_object, self.namespace)
        if code_object.co_flags & 0x80:  # CO_COROUTINE: top-level await
            import asyncio

            loop = self.namespace.get("__fathom_loop__")
            if loop is None:
                loop = asyncio.new_event_loop()
                self.namespace["__fathom_loop__"] = loop
            outcome = loop.run_until_complete(outcome)
        return outcome

    def run(self, code, track_files=True):
        """Runs one cell; returns its value, error, figures and file changes (not its output)."""
        before = snapshot() if track_files else {}
        result = {"value": None, "error": None, "figures": [], "figure_texts": [], "files": []}
        chunked_streams()
        try:
            body, tail = self.compile_cell(code)
            self.evaluate(body)
            if tail is not None:
                value = self.evaluate(tail)
                if value is not None:
                    self.namespace["_"] = value
                    result["value"] = safe_repr(value)
        except BaseException as error:  # noqa: B036 - SystemExit and KeyboardInterrupt are cell errors too
            result["error"] = describe_error(error)
            if is_network_failure(error):
                result["network_failure"] = True
        result["figures"], result["figure_texts"] = open_figures()
        result["chunks"] = taken_chunks()
        if track_files:
            result["files"] = changes(before, snapshot())
        return result


def drain(stream, keep, sink):
    kept = bytearray()
    total = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
        room = keep - len(kept)
        if room > 0:
            kept += chunk[:room]
    sink.append((bytes(kept), total))


def run_shell(command, timeout, keep):
    """Runs a shell command in its own process group; kills the group at the time limit."""
    process = subprocess.Popen(
        ["/bin/bash", "-c", command],
        cwd=WORKSPACE,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    outputs = {"stdout": [], "stderr": []}
    readers = [
        threading.Thread(target=drain, args=(process.stdout, keep, outputs["stdout"]), daemon=True),
        threading.Thread(target=drain, args=(process.stderr, keep, outputs["stderr"]), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        process.wait()
    for reader in readers:
        reader.join(timeout=2)
    answer = {"exit_code": process.returncode, "timed_out": timed_out}
    for name, sink in outputs.items():
        kept, total = sink[0] if sink else (b"", 0)
        answer[name] = kept.decode("utf-8", "replace")
        answer[name + "_bytes"] = total
    return answer


class Refused(Exception):
    """A request the caller got wrong; `code` is the FathomError code the host raises."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def entry_of(path, info):
    kind = "file" if stat.S_ISREG(info.st_mode) else "directory" if stat.S_ISDIR(info.st_mode) else "symlink" if stat.S_ISLNK(info.st_mode) else "other"
    modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
    return {"path": path, "type": kind, "size": info.st_size, "modified": modified.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


def list_entries(path, recursive, limit):
    """Entries under path, breadth first and sorted, at most `limit`; `more` counts the rest seen."""
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        return {"entries": [entry_of(path, info)], "more": 0}
    entries, more, walked = [], 0, 0
    queue = collections.deque([path])
    while queue and walked < MAX_WALKED:
        folder = queue.popleft()
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            walked += 1
            child = os.path.join(folder, name)
            try:
                info = os.lstat(child)
            except OSError:
                continue
            if len(entries) < limit:
                entries.append(entry_of(child, info))
            else:
                more += 1
            if recursive and stat.S_ISDIR(info.st_mode):
                queue.append(child)
    return {"entries": entries, "more": more, "walk_cut": bool(queue) or walked >= MAX_WALKED}


def stage_out(path, name, max_bytes):
    """Puts the file at path under WORKSPACE/name (a hard link, or a copy across file systems) for the host to read."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise Refused("invalid_argument", f"{path} is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise Refused("invalid_argument", f"{path} is not a regular file")
    if info.st_size > max_bytes:
        raise Refused("too_large", f"{path} is {info.st_size} bytes, over the {max_bytes}-byte limit")
    target = os.path.join(WORKSPACE, name)
    try:
        os.link(path, target)
    except OSError:
        with open(path, "rb") as source, open(target, "xb") as copy:
            copied = 0
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise Refused("too_large", f"{path} grew past the {max_bytes}-byte limit while being read")
                copy.write(chunk)
    return {"size": info.st_size}


def move_into_place(source, target):
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    if os.path.isdir(target):
        target = os.path.join(target, os.path.basename(source))
    os.replace(source, target)
    return target


def serve(fd_in, fd_out):
    requests = os.fdopen(fd_in, "rb", buffering=0)
    answers = os.fdopen(fd_out, "wb", buffering=0)
    kernel = Kernel()

    def answer(payload):
        answers.write(json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")

    answer({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]})
    buffered = io.BufferedReader(requests)
    for line in buffered:
        try:
            request = json.loads(line)
        except ValueError:
            answer({"error": "malformed request"})
            continue
        op = request.get("op")
        try:
            if op == "run":
                payload = kernel.run(request["code"], request.get("track_files", True))
            elif op == "shell":
                payload = run_shell(request["command"], request.get("timeout"), request.get("keep", 1 << 20))
            elif op == "move":
                payload = {"path": move_into_place(request["source"], request["target"])}
            elif op == "list":
                payload = list_entries(request["path"], request.get("recursive", False), request.get("limit", 5000))
            elif op == "stage_out":
                payload = stage_out(request["path"], request["name"], request["max_bytes"])
            elif op == "ping":
                payload = {"pong": True}
            else:
                payload = {"failure": f"unknown op {op!r}"}
        except Refused as error:
            payload = {"failure": str(error), "code": error.code}
        except FileNotFoundError:
            payload = {"failure": f"{request.get('path') or request.get('target')} does not exist", "code": "not_found"}
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as error:
            payload = {"failure": f"{error.strerror}: {error.filename}", "code": "invalid_argument"}
        except OSError as error:
            payload = {"failure": f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), "code": "disk_full" if error.errno == errno.ENOSPC else "invalid_argument"}
        except BaseException as error:  # noqa: B036 - the loop must survive anything a request does
            payload = {"failure": f"{type(error).__name__}: {error}"}
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        end = request.get("end")
        if end:
            marker = f"\n{end}\n".encode()
            for fd in (1, 2):
                try:
                    os.write(fd, marker)
                except OSError:
                    pass
        payload["id"] = request.get("id")
        answer(payload)


def apply_limits():
    import resource

    names = {"cpu": "RLIMIT_CPU", "fsize": "RLIMIT_FSIZE", "nofile": "RLIMIT_NOFILE", "core": "RLIMIT_CORE", "as": "RLIMIT_AS", "nproc": "RLIMIT_NPROC"}
    for key, value in json.loads(os.environ.pop("FATHOM_RLIMITS", "{}")).items():
        limit = getattr(resource, names[key])
        resource.setrlimit(limit, (value, value))


def main():
    fd_in = int(os.environ.pop("FATHOM_KERNEL_IN", "3"))
    fd_out = int(os.environ.pop("FATHOM_KERNEL_OUT", "4"))
    # Move the protocol pipes out of the way of user code and of child processes.
    import fcntl

    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 200) for fd in (fd_in, fd_out)]
    # Nothing the sandbox inherited beyond the standard streams and these two stays open.
    low, high = sorted(moved)
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 65536)
    fd_in, fd_out = moved
    # After the move: descriptors above the open-file limit stay usable, new ones cannot pass it.
    apply_limits()
    sys.stdin = open(os.devnull)
    serve(fd_in, fd_out)


if __name__ == "__main__":
    main()
