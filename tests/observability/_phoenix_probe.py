"""Run a flow with traces exported to a real Arize Phoenix, and print what Phoenix stored (JSON).

Run inside a network namespace of its own (`unshare -n`): Phoenix binds its gRPC port on
every interface, and in a fresh namespace the only interface is loopback. Usage:
`unshare -n python _phoenix_probe.py PATH_TO_PHOENIX`; exits non-zero with a reason on stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return bytes(response.read())


def main(phoenix: str) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with tempfile.TemporaryDirectory(prefix="orch-phoenix-") as workdir:
        log = Path(workdir, "phoenix.log")
        with log.open("w") as output:
            server = subprocess.Popen(
                [phoenix, "serve"], env=_env(workdir), stdout=output, stderr=subprocess.STDOUT, cwd=workdir
            )
            try:
                return _probe(server, f"http://127.0.0.1:{os.environ['PHOENIX_PORT']}", log)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()


def _env(workdir: str) -> dict[str, str]:
    os.environ["PHOENIX_PORT"] = str(_free_port())
    return {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_WORKING_DIR": workdir,
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }


def _probe(server: subprocess.Popen[bytes], base: str, log: Path) -> int:
    deadline = time.monotonic() + 120
    while True:
        try:
            _get(f"{base}/healthz")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                print(f"phoenix did not come up:\n{log.read_text()[-2000:]}", file=sys.stderr)
                return 2
            time.sleep(0.5)

    from patterns import arun, observability, resolve_model

    observability.configure(otel_endpoint=base)
    result = asyncio.run(arun("pipeline", model=resolve_model(), checkpoint="memory"))
    observability.shutdown()  # flushes the batch to Phoenix

    spans: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    while len(spans) < 7 and time.monotonic() < deadline:  # a run of the pipeline: 1 + 3 + 3 spans
        time.sleep(0.5)
        spans = json.loads(_get(f"{base}/v1/projects/default/spans?limit=100"))["data"]
    print(json.dumps({"thread_id": result.thread_id, "status": result.status, "spans": spans}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
