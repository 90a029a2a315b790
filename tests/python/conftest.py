"""Fixtures for the boto3/aws-cli suite: a `sandflow serve --dev` on a free port and a temp
data dir (the binary comes from $SANDFLOW_BIN), clients for it, and a second tenant made with
`sandflow tenant create` while the server runs."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

BIN = os.environ.get("SANDFLOW_BIN", "sandflow")
REGION = "us-east-1"
CONFIG = Config(
    inject_host_prefix=False,  # StartSyncExecution would prefix the host with "sync-"
    retries={"max_attempts": 1},
    read_timeout=70,  # GetActivityTask long-polls up to 60 s
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra):
        """`extra`: more `sandflow serve` flags."""
        self.data = tempfile.mkdtemp(prefix="sandflow-py-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.data, "server.log"), "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data, "--dev", *extra],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"sandflow did not become healthy; see {self.log.name}")
            time.sleep(0.05)

    def cli(self, *args):
        out = subprocess.run([BIN, *args, "--data", self.data], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    assert s.stop() == 0, "graceful shutdown on SIGTERM exits 0"


def client(server, key="test", secret="test", region=REGION, service="stepfunctions"):
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=CONFIG,
    )


@pytest.fixture(scope="session")
def sfn(server):
    return client(server)


@pytest.fixture(scope="session")
def other(server):
    """A second tenant, created while the server runs, in another region."""
    creds = server.cli("tenant", "create", "other")
    assert list(creds) == ["tenant", "accountId", "accessKeyId", "secretAccessKey"]
    c = client(server, creds["accessKeyId"], creds["secretAccessKey"], region="eu-west-1")
    c.account = creds["accountId"]
    return c


def signed(server, method, path, body=b"", headers=None, service="sns", key="test", secret="test"):
    """A SigV4-signed request made by hand (what boto3 has no method for)."""
    req = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body or None, method=method, headers=dict(req.headers))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
