"""The same endpoint through aws-cli (v1), as a user would type it."""

import json
import os
import subprocess
import uuid

ROLE = "arn:aws:iam::000000000000:role/sandflow"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def aws(server, *args, secret="test", check=True):
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    out = subprocess.run(
        ["aws", "--endpoint-url", server.url, "--output", "json", "stepfunctions", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    if check:
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}
    return out


def test_cli_round_trip(server):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    arn = aws(server, "create-state-machine", "--name", name, "--definition", PASS, "--role-arn", ROLE)["stateMachineArn"]
    assert any(m["name"] == name for m in aws(server, "list-state-machines")["stateMachines"])
    ex = aws(server, "start-execution", "--state-machine-arn", arn, "--input", '{"a": 1}')["executionArn"]
    for _ in range(100):
        d = aws(server, "describe-execution", "--execution-arn", ex)
        if d["status"] != "RUNNING":
            break
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"a": 1}
    express = aws(server, "create-state-machine", "--name", name + "-x", "--definition", PASS, "--role-arn", ROLE, "--type", "EXPRESS")
    r = aws(server, "start-sync-execution", "--state-machine-arn", express["stateMachineArn"], "--input", "[1]")
    assert r["status"] == "SUCCEEDED" and r["output"] == "[1]"
    aws(server, "delete-state-machine", "--state-machine-arn", arn)


def test_cli_errors(server):
    out = aws(server, "list-state-machines", secret="wrong", check=False)
    assert out.returncode != 0 and "InvalidSignatureException" in out.stderr
    out = aws(server, "describe-state-machine", "--state-machine-arn", "arn:aws:states:us-east-1:000000000000:stateMachine:missing", check=False)
    assert out.returncode != 0 and "StateMachineDoesNotExist" in out.stderr
