"""WASM functions through the Lambda API with boto3 and aws-cli, Lambda tasks in workflows,
and the demo's order-fulfillment flow with approval and rejection."""

import io
import json
import os
import subprocess
import time
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, client, free_port, signed

ROLE = "arn:aws:iam::000000000000:role/sandflow"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def guests():
    """The built guests: $SANDFLOW_GUESTS, or built here with guest-examples/build.sh."""
    d = os.environ.get("SANDFLOW_GUESTS") or os.path.join(ROOT, "target", "guests")
    if not os.environ.get("SANDFLOW_GUESTS"):
        subprocess.run(["bash", os.path.join(ROOT, "guest-examples", "build.sh"), d], check=True)
    return d


def wasm(guests, name):
    with open(os.path.join(guests, f"{name}.wasm"), "rb") as f:
        return f.read()


def zipped(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="session")
def lam(server):
    return client(server, service="lambda")


def sandflow_view(lam, name):
    """GetFunction's `Sandflow` member (grants, fuel, ABI, recent invocations), which boto3
    does not model, read from the raw response."""
    seen = {}

    def keep(http_response, **_):
        seen.update(json.loads(http_response.content))

    lam.meta.events.register("after-call.lambda.GetFunction", keep)
    try:
        lam.get_function(FunctionName=name)
    finally:
        lam.meta.events.unregister("after-call.lambda.GetFunction", keep)
    return seen["Sandflow"]


def test_create_invoke_and_manage_functions(lam, server, guests):
    name = f"echo-{uuid.uuid4().hex[:8]}"
    code = wasm(guests, "rust-echo")
    cfg = lam.create_function(FunctionName=name, Role=ROLE, Runtime="provided.al2023",
                              Handler="run", Code={"ZipFile": zipped("echo.wasm", code)},
                              MemorySize=128, Timeout=5, Description="echoes")
    assert cfg["FunctionName"] == name
    assert cfg["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert cfg["CodeSize"] == len(code)
    assert cfg["ResponseMetadata"]["HTTPStatusCode"] == 201

    r = lam.invoke(FunctionName=name, Payload=json.dumps({"hello": "world"}))
    assert r["StatusCode"] == 200
    assert "FunctionError" not in r
    assert json.loads(r["Payload"].read()) == {"hello": "world"}

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["Description"] == "echoes"
    assert sandflow_view(lam, name)["abi"] == "task"
    assert sandflow_view(lam, name)["grants"] == []
    # The invocation is recorded in the store's next group commit.
    for _ in range(100):
        recent = sandflow_view(lam, name)["recentInvocations"]
        if recent:
            break
        time.sleep(0.02)
    assert recent[0]["status"] == "SUCCEEDED" and recent[0]["fuel"] > 0

    # Grants through the CLI, while the server runs; GetFunction shows them.
    shown = server.cli("function", "grant", name, "kv:inventory", "log", "--fuel", "9000000", "--tenant", "dev")
    assert shown["grants"] == ["kv:inventory", "log"]
    got = sandflow_view(lam, name)
    assert (got["grants"], got["fuel"]) == (["kv:inventory", "log"], 9000000)

    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": code})
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="broken", Role=ROLE, Code={"ZipFile": b"\0asm\x01\0\0\0\xff"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="broken")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    upd = lam.update_function_configuration(FunctionName=name, MemorySize=256, Timeout=10)
    assert (upd["MemorySize"], upd["Timeout"]) == (256, 10)
    names = [f["FunctionName"] for f in lam.get_paginator("list_functions").paginate(MaxItems=1000).build_full_result()["Functions"]]
    assert name in names
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_function_errors_and_other_tenants(lam, server, guests):
    name = f"cmd-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": wasm(guests, "rust-command-echo.p1")})
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": "OutOfStock"}))
    assert r["FunctionError"] == "Unhandled"
    err = json.loads(r["Payload"].read())
    assert err["errorType"] == "OutOfStock"

    creds = server.cli("tenant", "create", f"lam-{uuid.uuid4().hex[:6]}")
    theirs = client(server, creds["accessKeyId"], creds["secretAccessKey"], service="lambda")
    assert theirs.list_functions()["Functions"] == []
    for ref in (name, f"arn:aws:lambda:us-east-1:000000000000:function:{name}"):
        with pytest.raises(ClientError) as e:
            theirs.invoke(FunctionName=ref, Payload=b"{}")
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_uploads_a_wasm_file(server, guests, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_MAX_ATTEMPTS="1")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    # aws-cli insists on a zip for --zip-file; boto3 also takes the bare .wasm.
    path = tmp_path / "echo.zip"
    path.write_bytes(zipped("echo.wasm", wasm(guests, "rust-echo")))

    def aws(*args):
        out = subprocess.run(["aws", "--endpoint-url", server.url, "--output", "json", "lambda", *args],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    cfg = aws("create-function", "--function-name", name, "--zip-file", f"fileb://{path}",
              "--role", ROLE, "--runtime", "provided.al2023", "--handler", "run")
    assert cfg["CodeSize"] == len(wasm(guests, "rust-echo"))
    out = tmp_path / "out.json"
    r = aws("invoke", "--function-name", name, "--payload", '{"n": 1}', str(out))
    assert r["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"n": 1}


def test_lambda_tasks_in_a_workflow(lam, sfn, guests):
    name = f"wf-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Role=ROLE, Code={"ZipFile": wasm(guests, "rust-echo")})
    definition = {"StartAt": "Plain", "States": {
        "Plain": {"Type": "Task", "Resource": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                  "ResultPath": "$.plain", "Next": "Invoke"},
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": name, "Payload": {"x.$": "$.x"}},
                   "OutputPath": "$.Payload", "End": True}}}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"x": 7}))["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"x": 7}


def wait_done(sfn, arn, timeout=20):
    deadline = time.time() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.time() > deadline:
            return d
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo(guests, tmp_path_factory):
    """`sandflow demo` on its own port and data dir, with the guests already built."""
    port = free_port()
    data = tmp_path_factory.mktemp("demo")
    proc = subprocess.Popen([BIN, "demo", "--listen", f"127.0.0.1:{port}", "--data", str(data),
                             "--guests", guests], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C stops the server" in line:
            break
    text = "".join(lines)

    class Demo:
        url = f"http://127.0.0.1:{port}"
        output = text

    yield Demo
    proc.terminate()
    assert proc.wait(timeout=20) == 0


def test_demo_runs_every_path_and_takes_decisions(demo):
    assert "in-stock        SUCCEEDED" in demo.output, demo.output
    assert "needs-approval  WAITING" in demo.output, demo.output
    assert "out-of-stock    FAILED" in demo.output, demo.output
    assert f"Console: {demo.url}/console/ (sign in with access key test, secret key test" in demo.output
    token = demo.output.split("--task-token ")[1].split()[0]
    sfn = client(demo, service="stepfunctions")
    machine = "arn:aws:states:us-east-1:000000000000:stateMachine:order-fulfillment"
    runs = {e["name"].rsplit("-", 1)[0]: e["executionArn"]
            for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    out_of_stock = sfn.describe_execution(executionArn=runs["out-of-stock"])
    assert out_of_stock["error"] == "OutOfStock", out_of_stock
    # The out-of-stock mail: no SMTP relay in the demo, so it waits in the outbox.
    st, body = signed(demo, "GET", "/sandflow/outbox")
    assert st == 200, body
    mails = [m for m in json.loads(body)["Messages"] if "ORD-1003" in m["Message"]]
    assert mails, "the out-of-stock notification was published"
    assert [(d["Protocol"], d["Endpoint"]) for d in mails[0]["Deliveries"]] == [("email", "orders@shop.example")]

    # One store: what the workflow and the guests wrote, boto3 reads.
    ddb = client(demo, service="dynamodb")
    order = ddb.get_item(TableName="orders", Key={"orderId": {"S": "ORD-1001"}})["Item"]
    assert (order["status"], order["amount"]) == ({"S": "PAID"}, {"N": "64.5"}), order
    asked = ddb.get_item(TableName="approvals", Key={"key": {"S": "ORD-1002"}})["Item"]
    assert json.loads(asked["value"]["S"])["orderId"] == "ORD-1002", asked
    stock = ddb.get_item(TableName="inventory", Key={"key": {"S": "BOOK-123"}})["Item"]
    assert stock["value"] == {"S": "10"}, stock
    sqs = client(demo, service="sqs")
    shipments = sqs.get_queue_url(QueueName="shipments")["QueueUrl"]

    def drain():
        got = sqs.receive_message(QueueUrl=shipments, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        for m in got.get("Messages", []):
            sqs.delete_message(QueueUrl=shipments, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"])["orderId"] for m in got.get("Messages", [])]

    assert drain() == ["ORD-1001"]

    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True, "by": "pytest"}))
    d = wait_done(sfn, runs["needs-approval"])
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["approval"] == {"approved": True, "by": "pytest"}
    assert drain() == ["ORD-1002"], "the approved order is queued for shipping"
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=token, output="{}")
    assert e.value.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")

    # A second large order, rejected.
    order = {"orderId": "ORD-2001", "customerId": "C-7", "items": [{"sku": "BOOK-123", "quantity": 1}],
             "amount": 5000, "currency": "USD"}
    ex = sfn.start_execution(stateMachineArn=machine, input=json.dumps(order))["executionArn"]
    lam = client(demo, service="lambda")
    token = None
    for _ in range(400):
        history = sfn.get_execution_history(executionArn=ex)["events"]
        scheduled = [e for e in history if e["type"] == "TaskScheduled"
                     and "waitForTaskToken" in e["taskScheduledEventDetails"]["resource"]]
        if scheduled:
            params = json.loads(scheduled[0]["taskScheduledEventDetails"]["parameters"])
            token = params["Payload"]["taskToken"]
            break
        time.sleep(0.05)
    assert token, "the large order waits for approval"
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="too expensive")
    d = wait_done(sfn, ex)
    assert (d["status"], d["error"], d["cause"]) == ("FAILED", "Rejected", "too expensive")
    assert any(f["FunctionName"] == "request-approval" for f in lam.list_functions()["Functions"])
