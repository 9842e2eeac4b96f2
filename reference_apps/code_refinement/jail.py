"""What runs inside the sandbox: its PID 1 (`init`) and the worker that hosts the candidate (`serve`).

`sandbox.py` starts `unshare --pid --fork --kill-child --mount --net --ipc --uts
[--user --map-root-user] python jail.py init CONFIG`. In those fresh namespaces
`init`, the sandbox's PID 1:

1. builds a new root on a size-limited tmpfs: read-only bind mounts of the
   system directories and the Python installation, a generated `/etc`, a few
   `/dev` nodes, a fresh `/proc` of the new PID namespace, an empty `/tmp`, the
   candidate in `/sandbox` and this harness in `/harness`. Nothing else of the
   host is in it: no `/run`, no host `/tmp`, no home directories, so no host
   Unix socket to connect to;
2. `pivot_root`s into it and detaches the old root, so no path leads back;
3. forks the worker, which leaves root (an unprivileged uid of its own, no
   capabilities, `no_new_privs`), takes its rlimits (address space, CPU time,
   file size, process count, no core dumps) and execs `jail.py serve MODULE`;
4. waits. When the worker exits it kills every other process of the namespace,
   so nothing the candidate forked (even after `setsid()`) holds the pipes
   open; when the parent closes the lifeline it exits, and the kernel kills
   whatever is left in the PID namespace.

`serve` imports the candidate and answers the trusted test run's requests
(`referee.py`) over its stdin and stdout in `wire` format; the candidate's own
prints go to the sandbox log. Standard library only: `init` runs before the
venv is in reach of anyone but root, and the worker should not need more.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NoReturn, TypedDict

import wire

__all__ = ["HARNESS", "WORKDIR", "JailConfig", "main"]

HARNESS = "/harness"
WORKDIR = "/sandbox"
# What of the host the sandbox sees, read-only: what the dynamic loader and Python need to start.
_SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/localtime",
)
_DEVICES = ("null", "zero", "full", "random", "urandom")

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
_MNT_DETACH = 2
_CLONE_NEWUSER = 0x10000000
_PR_SET_NO_NEW_PRIVS = 38
# statvfs flag -> mount flag. In a user namespace the kernel refuses a remount that would clear one of
# these on a mount inherited from the host, so every remount carries the source's own.
_KEPT_FLAGS = {1: _MS_RDONLY, 2: _MS_NOSUID, 4: _MS_NODEV, 8: _MS_NOEXEC}
_KEPT_FLAGS |= {1024: _MS_NOATIME, 2048: _MS_NODIRATIME, 4096: _MS_RELATIME}
_OCTAL = re.compile(r"\\([0-7]{3})")
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

_GUARD = '''"""Sandbox guard, imported at interpreter start: internet sockets are refused.

Not the boundary (the sandbox has its own empty network namespace); it makes the
failure say what happened instead of "Network is unreachable".
"""
import socket

_Socket = socket.socket


class _NoNetworkSocket(_Socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family != socket.AF_UNIX:
            raise PermissionError("network access is disabled in the sandbox")
        super().__init__(family, type, proto, fileno)


socket.socket = _NoNetworkSocket
'''


class JailConfig(TypedDict):
    mode: Literal["root", "userns"]
    root: str
    """An empty host directory: the mount point of the sandbox's root tmpfs (in its own mount namespace)."""
    candidate: str
    """The host file holding the candidate's source; copied to /sandbox/MODULE.py."""
    module: str
    python: str
    uid: int
    memory_bytes: int
    cpu_seconds: int
    file_bytes: int
    processes: int
    tmpfs_mb: int
    lifeline_fd: int
    """Read end of the lifeline: EOF (the parent closed it, or died) ends the sandbox."""
    handoff_fd: int
    """A socket that brings the worker's stdin and stdout and the status pipe, in that order."""


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "init":
        _init(json.loads(argv[2]))
    elif len(argv) == 3 and argv[1] == "serve":
        _serve(argv[2])
    else:
        sys.exit("usage: jail.py init CONFIG_JSON | jail.py serve MODULE")


# --- init: PID 1 of the sandbox -------------------------------------------------------------------


def _init(config: JailConfig) -> NoReturn:
    with socket.socket(fileno=config["handoff_fd"]) as handoff:
        _, fds, _, _ = socket.recv_fds(handoff, 16, 3)
    worker_in, worker_out, status = fds
    for fd, target in ((worker_in, 0), (worker_out, 1)):  # the worker inherits them as stdin and stdout
        os.dup2(fd, target)
        os.close(fd)
    try:
        host_pid = int(os.readlink("/proc/self"))  # the host's /proc, still mounted: our pid out there
        worker = _start(config)
    except Exception as exc:
        _report(status, {"error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)
    _report(status, {"ok": True, "pid": host_pid})
    os.close(status)
    lifeline = config["lifeline_fd"]
    # The parent holds the other end: when it closes it (or dies), the sandbox ends.
    threading.Thread(target=_exit_on_eof, args=(lifeline,), daemon=True).start()
    _supervise(worker)


def _exit_on_eof(fd: int) -> None:
    while os.read(fd, 64):
        pass
    os._exit(0)  # PID 1 exiting: the kernel kills every process left in the namespace


def _supervise(worker: int) -> NoReturn:
    # PID 1 reaps every orphan; once the worker is gone, nothing else may keep running or hold the pipes.
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            signal.pause()  # nothing left; the lifeline thread ends the sandbox
            continue
        if pid == worker:
            _kill_all()


def _kill_all() -> None:
    # kill(-1) from a namespace's PID 1 reaches every other process in it (a setsid() does not escape it).
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return


def _report(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, wire.dumps(message))


def _start(config: JailConfig) -> int:
    os.umask(0o022)
    root = config["root"]
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted below propagates to the host
    size = f"size={config['tmpfs_mb']}m,nr_inodes=16384,mode=755"
    _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, size)
    for path in (*_SYSTEM, *_python_dirs(config["python"])):
        _expose(root, path)
    userns = config["mode"] == "userns"
    # In a user namespace only uid 0 is mapped (to the caller); the worker maps itself in its own.
    owner = 0 if userns else config["uid"]
    _populate(root, config, owner)
    _mount("proc", f"{root}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    os.chdir(root)
    _pivot_root()
    _check(_libc().umount2(b".", _MNT_DETACH), "umount the old root")
    os.chdir("/")
    return _spawn_worker(config)


def _python_dirs(python: str) -> list[str]:
    """The interpreter's installation and the venv, where they are outside the system directories."""
    candidates = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    candidates.add(os.path.dirname(os.path.dirname(os.path.realpath(python))))
    kept: list[str] = []
    covered = [os.path.realpath(p) for p in _SYSTEM if os.path.isdir(p)]
    for path in sorted({os.path.normpath(p) for p in candidates}, key=len):
        if not any(path == c or path.startswith(c + "/") for c in (*covered, *kept)):
            kept.append(path)
    return kept


def _expose(root: str, path: str) -> None:
    """`path` of the host at the same place in the new root: a symlink as a symlink, anything else read-only."""
    target = root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(path), target)
    elif os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
        _bind(path, target, readonly=True)
    elif os.path.isfile(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
        _bind(path, target, readonly=True)


def _bind(source: str, target: str, *, readonly: bool) -> None:
    _mount(source, target, None, _MS_BIND | _MS_REC)
    extra = _MS_NOSUID | (_MS_RDONLY | _MS_NODEV if readonly else _MS_NOEXEC)
    # A recursive bind carries the source's submounts; each one is made read-only (no setuid) too.
    for point in _mount_points(target):
        kept = sum(flag for bit, flag in _KEPT_FLAGS.items() if os.statvfs(point).f_flag & bit)
        _mount(None, point, None, _MS_REMOUNT | _MS_BIND | kept | extra)


def _mount_points(top: str) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), line.split()[4])  # mountinfo writes " " as \040
        if point == top or point.startswith(top + "/"):
            points.append(point)
    return points


def _populate(root: str, config: JailConfig, owner: int) -> None:
    uid = config["uid"]
    for folder, mode in (
        ("proc", 0o555),
        ("tmp", 0o1777),
        ("etc", 0o755),
        ("dev", 0o755),
        (HARNESS[1:], 0o755),
    ):
        os.makedirs(f"{root}/{folder}", exist_ok=True)
        os.chmod(f"{root}/{folder}", mode)
    os.makedirs(f"{root}/dev/shm", mode=0o1777, exist_ok=True)
    os.chmod(f"{root}/dev/shm", 0o1777)
    # A generated /etc: the sandbox user exists by name, and no host configuration is visible.
    Path(f"{root}/etc/passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{WORKDIR}:/usr/sbin/nologin\n"
    )
    Path(f"{root}/etc/group").write_text(f"root:x:0:\nsandbox:x:{uid}:\n")
    for device in _DEVICES:
        if os.path.exists(f"/dev/{device}"):
            Path(f"{root}/dev/{device}").touch()
            _bind(f"/dev/{device}", f"{root}/dev/{device}", readonly=False)
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(link, f"{root}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{root}/dev/stderr")
    here = Path(__file__).resolve().parent
    for name in ("jail.py", "wire.py"):
        shutil.copyfile(here / name, f"{root}{HARNESS}/{name}")
    Path(f"{root}{HARNESS}/sitecustomize.py").write_text(_GUARD)
    workdir = f"{root}{WORKDIR}"
    os.makedirs(workdir, mode=0o700)
    shutil.copyfile(config["candidate"], f"{workdir}/{config['module']}.py")
    for path in (workdir, f"{workdir}/{config['module']}.py"):
        os.chown(path, owner, owner)


def _pivot_root() -> None:
    # pivot_root(".", "."): the new root goes to "/", the old one is stacked on it and detached next.
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: no syscall number known for {platform.machine()}")
    _check(_libc().syscall(number, b".", b"."), "pivot_root")


def _spawn_worker(config: JailConfig) -> int:
    # The child reports a failure before exec on this pipe; exec closes it (CLOEXEC), which means success.
    errors_r, errors_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_r)
            _become_worker(config, keep=errors_w)
        except BaseException as exc:
            os.write(errors_w, f"{type(exc).__name__}: {exc}".encode())
        os._exit(127)
    os.close(errors_w)
    error = os.read(errors_r, 4096)
    os.close(errors_r)
    if error:
        raise RuntimeError(f"the worker did not start: {error.decode(errors='replace')}")
    # PID 1 must not hold the RPC pipes: the trusted side sees EOF only when every holder is gone.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return pid


def _become_worker(config: JailConfig, *, keep: int) -> NoReturn:
    uid = config["uid"]
    os.closerange(3, keep)  # the lifeline, the handoff socket and the status pipe are init's alone
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    if config["mode"] == "userns":
        _own_user_namespace(uid)
    else:
        os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a uid of its own: every capability is gone
    _check(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    # RLIMIT_NPROC counts every process and thread of the uid: a fork bomb gets EAGAIN there.
    for limit, value in (
        (resource.RLIMIT_AS, config["memory_bytes"]),
        (resource.RLIMIT_CPU, config["cpu_seconds"]),
        (resource.RLIMIT_FSIZE, config["file_bytes"]),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, config["processes"]),
    ):
        resource.setrlimit(limit, (value, value))
    os.chdir(WORKDIR)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": WORKDIR,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": HARNESS,  # the guard's sitecustomize loads first
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
    }
    python = config["python"]
    os.execve(python, [python, "-B", f"{HARNESS}/jail.py", "serve", config["module"]], env)


def _own_user_namespace(uid: int) -> None:
    # Unprivileged mode: our uid 0 is the caller's own uid. A nested user namespace maps `uid` onto it, so
    # the candidate is not uid 0 anywhere and has no capability over the namespaces init set up.
    _check(_libc().unshare(_CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} 0 1")
    Path("/proc/self/gid_map").write_text(f"{uid} 0 1")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc().mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


# --- serve: the worker, the candidate's process -------------------------------------------------


def _serve(module_name: str) -> None:
    # The pipes to the trusted side move off fds 0 and 1, so the candidate's prints land in the log.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    # Line by line, so the last thing a candidate printed before it died is in the log to report.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)

    def send(message: dict[str, Any]) -> None:
        replies.write(wire.dumps(message))
        replies.flush()

    sys.path.insert(0, WORKDIR)
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # SystemExit too: a module that exits on import did not load
        send({"import_error": wire.describe_error(exc)})
        return
    send({"hello": module_name})
    while line := requests.readline(wire.MAX_LINE + 1):
        send(_answer(module, line))


def _answer(module: Any, line: bytes) -> dict[str, Any]:
    try:
        request = wire.loads(line)
        name = str(request["name"])
        if request.get("op") == "attr":
            return {"ok": _describe(getattr(module, name))}
        function: Callable[..., Any] = getattr(module, name)
        args, kwargs = wire.decode(request["args"]), wire.decode(request["kwargs"])
        result = function(*args, **kwargs)
    except BaseException as exc:  # whatever the candidate raises, even SystemExit, is its answer
        return {"error": wire.describe_error(exc)}
    try:
        return {"ok": wire.encode(result)}
    except (TypeError, RecursionError) as exc:
        problem = TypeError(f"{name}() returned a value the tests cannot receive: {exc}")
        return {"error": wire.describe_error(problem)}


def _describe(value: Any) -> dict[str, Any]:
    if isinstance(value, type) and issubclass(value, BaseException):
        return {"kind": "exception", "base": wire.builtin_base(value)}
    if callable(value):
        return {"kind": "callable"}
    return {"kind": "value", "value": wire.encode(value)}


if __name__ == "__main__":
    main(sys.argv)
