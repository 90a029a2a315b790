"""Every Step Functions action through boto3, unchanged, against `sandflow serve`."""

import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import client

ROLE = "arn:aws:iam::000000000000:role/sandflow"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def create(sfn, definition=PASS, type_="STANDARD", name=None, **kw):
    return sfn.create_state_machine(
        name=name or unique("m"), definition=definition, roleArn=ROLE, type=type_, **kw
    )["stateMachineArn"]


def wait_done(sfn, arn, timeout=10):
    deadline = time.time() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING" or time.time() > deadline:
            return d
        time.sleep(0.05)


def test_state_machine_crud(sfn):
    name = unique("crud")
    arn = create(sfn, name=name, tags=[{"key": "team", "value": "core"}])
    assert arn == f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}"
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert (d["name"], d["type"], d["status"], d["definition"]) == (name, "STANDARD", "ACTIVE", PASS)
    assert d["creationDate"].year >= 2024
    u = sfn.update_state_machine(stateMachineArn=arn, definition=WAIT)
    assert u["revisionId"] != d["revisionId"]
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == WAIT
    assert any(m["stateMachineArn"] == arn for m in sfn.list_state_machines()["stateMachines"])
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert code(e) == "StateMachineDoesNotExist"


def test_validate_definition(sfn):
    assert sfn.validate_state_machine_definition(definition=PASS)["result"] == "OK"
    bad = sfn.validate_state_machine_definition(definition='{"StartAt":"X","States":{}}')
    assert bad["result"] == "FAIL" and bad["diagnostics"][0]["code"]


def test_executions_history_and_describe_for_execution(sfn):
    arn = create(sfn)
    ex = sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"n": 1}')["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"ok": True}
    events = sfn.get_execution_history(executionArn=ex)["events"]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    rev = sfn.get_execution_history(executionArn=ex, reverseOrder=True, maxResults=1, includeExecutionData=False)
    assert rev["events"][0]["type"] == "ExecutionSucceeded" and "nextToken" in rev
    assert "output" not in rev["events"][0]["executionSucceededEventDetails"]
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=ex, PaginationConfig={"PageSize": 2})
    assert [e["id"] for p in pages for e in p["events"]] == [e["id"] for e in events]
    assert sfn.describe_state_machine_for_execution(executionArn=ex)["definition"] == PASS
    # Same name and input while finished: AlreadyExists (idempotent only while running).
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"n": 2}')
    assert code(e) == "ExecutionAlreadyExists"


def test_list_stop_and_pagination(sfn):
    arn = create(sfn, definition=WAIT)
    arns = [sfn.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(5)]
    again = sfn.start_execution(stateMachineArn=arn, name=arns[0].split(":")[-1])
    assert again["executionArn"] == arns[0], "idempotent by name while running"
    page = sfn.list_executions(stateMachineArn=arn, maxResults=2)
    assert len(page["executions"]) == 2 and "nextToken" in page
    seen = [
        e["executionArn"]
        for p in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, PaginationConfig={"PageSize": 2})
        for e in p["executions"]
    ]
    assert sorted(seen) == sorted(arns)
    sfn.stop_execution(executionArn=arns[0], error="Halt", cause="test")
    assert sfn.describe_execution(executionArn=arns[0])["status"] == "ABORTED"
    aborted = sfn.list_executions(stateMachineArn=arn, statusFilter="ABORTED")["executions"]
    assert [e["executionArn"] for e in aborted] == [arns[0]]
    for _ in range(3):
        create(sfn)
    names = [m["name"] for p in sfn.get_paginator("list_state_machines").paginate(PaginationConfig={"PageSize": 2}) for m in p["stateMachines"]]
    assert len(names) >= 4 and names == sorted(names) and len(set(names)) == len(names)


def test_express_sync(sfn):
    arn = create(sfn, type_="EXPRESS")
    r = sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"ok": True}
    assert ":express:" in r["executionArn"] and r["billingDetails"]["billedDurationInMilliseconds"] >= 100
    lam = json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:none", "End": True}}})
    r = sfn.start_sync_execution(stateMachineArn=create(sfn, definition=lam, type_="EXPRESS"))
    assert (r["status"], r["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")
    with pytest.raises(ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=create(sfn))
    assert code(e) == "StateMachineTypeNotSupported"


@pytest.mark.parametrize("approve", [True, False])
def test_activity_approval_and_rejection(sfn, approve):
    act = sfn.create_activity(name=unique("approve"))["activityArn"]
    assert sfn.describe_activity(activityArn=act)["activityArn"] == act
    assert any(a["activityArn"] == act for a in sfn.list_activities()["activities"])
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": act, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=create(sfn, definition=definition), input='{"order": 7}')["executionArn"]
    task = sfn.get_activity_task(activityArn=act, workerName="pytest")
    assert json.loads(task["input"]) == {"order": 7}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    if approve:
        sfn.send_task_success(taskToken=task["taskToken"], output='{"approved": true}')
        d = wait_done(sfn, ex)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"approved": True}
    else:
        sfn.send_task_failure(taskToken=task["taskToken"], error="Rejected", cause="no stock")
        d = wait_done(sfn, ex)
        assert (d["status"], d["error"], d["cause"]) == ("FAILED", "Rejected", "no stock")
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert code(e) == "TaskDoesNotExist"
    sfn.delete_activity(activityArn=act)
    with pytest.raises(ClientError) as e:
        sfn.describe_activity(activityArn=act)
    assert code(e) == "ActivityDoesNotExist"


def test_tags(sfn):
    arn = create(sfn)
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(ClientError) as e:
        sfn.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": ""} for i in range(50)])
    assert code(e) == "TooManyTags"


@pytest.mark.parametrize(
    "call,kind",
    [
        (lambda s: s.describe_state_machine(stateMachineArn="not-an-arn"), "InvalidArn"),
        (lambda s: s.describe_execution(executionArn="arn:aws:states:us-east-1:000000000000:stateMachine:x"), "InvalidArn"),
        (lambda s: s.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:missing"), "StateMachineDoesNotExist"),
        (lambda s: s.start_execution(stateMachineArn="arn:aws:states:us-east-1:000000000000:stateMachine:missing"), "StateMachineDoesNotExist"),
        (lambda s: s.create_state_machine(name="bad-def", definition='{"StartAt": "Nowhere", "States": {}}', roleArn=ROLE), "InvalidDefinition"),
        (lambda s: s.create_state_machine(name="bad name", definition=PASS, roleArn=ROLE), "InvalidName"),
        (lambda s: s.list_state_machines(nextToken="garbage"), "InvalidToken"),
        (lambda s: s.redrive_execution(executionArn="arn:aws:states:us-east-1:000000000000:execution:m:e"), "UnsupportedOperation"),
    ],
)
def test_errors(sfn, call, kind):
    with pytest.raises(ClientError) as e:
        call(sfn)
    assert code(e) == kind
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.value.response["Error"]["Message"]


def test_duplicate_name(sfn):
    name = unique("dup")
    create(sfn, name=name)
    assert create(sfn, name=name) == f"arn:aws:states:us-east-1:000000000000:stateMachine:{name}", "same fields: idempotent"
    with pytest.raises(ClientError) as e:
        create(sfn, name=name, definition=WAIT)
    assert code(e) == "StateMachineAlreadyExists"


def test_oversized_payloads(sfn):
    arn = create(sfn)
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps("x" * 262_144))
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name=unique("huge"), definition="x" * (1_200_000), roleArn=ROLE)
    assert code(e) == "RequestEntityTooLargeException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_wrong_signature_and_unknown_key(server):
    with pytest.raises(ClientError) as e:
        client(server, secret="wrong").list_state_machines()
    assert code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        client(server, key="AKIDNOBODY").list_state_machines()
    assert code(e) == "UnrecognizedClientException"


def test_other_tenant_sees_nothing(sfn, other):
    mine = create(sfn)
    with pytest.raises(ClientError) as e:
        other.describe_state_machine(stateMachineArn=mine)
    assert code(e) == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as e:
        other.list_tags_for_resource(resourceArn=mine)
    assert code(e) == "ResourceNotFound"
    theirs = other.create_state_machine(name=unique("theirs"), definition=PASS, roleArn=ROLE)["stateMachineArn"]
    assert theirs.startswith(f"arn:aws:states:eu-west-1:{other.account}:stateMachine:")
    assert all(m["stateMachineArn"] != mine for m in other.list_state_machines()["stateMachines"])
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=theirs)
    assert code(e) == "StateMachineDoesNotExist"


def test_concurrent_starts_do_not_hurt_the_server(sfn):
    arn = create(sfn)
    errors = []

    def run():
        try:
            c = sfn
            for _ in range(10):
                c.start_execution(stateMachineArn=arn)
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = sum(len(p["executions"]) for p in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn))
    assert total == 40


def test_presigned_query_form(server):
    """botocore's query-string signer (presigned URL) is accepted; a tampered one is not."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def send(tamper):
        r = AWSRequest(
            method="POST",
            url=server.url + "/",
            data=b"{}",
            headers={"X-Amz-Target": "AWSStepFunctions.ListActivities", "Content-Type": "application/x-amz-json-1.0"},
        )
        SigV4QueryAuth(Credentials("test", "test"), "states", "us-east-1", expires=60).add_auth(r)
        p = r.prepare()
        url = p.url.replace("X-Amz-Expires=60", "X-Amz-Expires=61") if tamper else p.url
        body = p.body.encode() if isinstance(p.body, str) else (p.body or b"")
        req = urllib.request.Request(url, data=body, headers=dict(p.headers), method="POST")
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert send(False)[0] == 200
    status, body = send(True)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")


def test_tenant_quota_overrides_apply_on_a_running_server(server):
    """`sandflow tenant quota` while the server runs: within a few seconds the tenant is held
    to its own limit (ExecutionLimitExceeded), and `--reset` gives the defaults back."""
    creds = server.cli("tenant", "create", "quota-plan")
    sfn = client(server, creds["accessKeyId"], creds["secretAccessKey"])
    shown = server.cli("tenant", "quota", "quota-plan", "--open-executions", "1", "--task-concurrency", "4")
    assert shown["quotas"]["openExecutions"] == 1 and shown["quotas"]["taskConcurrency"] == 4
    assert shown["quotas"]["startsPerSecond"] is None
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    arn = sfn.create_state_machine(
        name="held", definition=json.dumps(wait), roleArn="arn:aws:iam::000000000000:role/r"
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=arn)
    deadline = time.time() + 10
    while True:
        try:
            run = sfn.start_execution(stateMachineArn=arn)
            sfn.stop_execution(executionArn=run["executionArn"])
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ExecutionLimitExceeded"
            break
        assert time.time() < deadline, "the override never applied"
        time.sleep(0.2)
    assert server.cli("tenant", "quota", "quota-plan", "--reset")["quotas"]["openExecutions"] is None
    deadline = time.time() + 10
    while True:
        try:
            sfn.start_execution(stateMachineArn=arn)
            break
        except ClientError:
            assert time.time() < deadline, "the reset never applied"
            time.sleep(0.2)


def test_versions_with_boto3(sfn):
    """publish on create and update, PublishStateMachineVersion, listing, running a version."""
    first = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": 1}, "End": True}}}
    second = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": 2}, "End": True}}}
    made = sfn.create_state_machine(name="versioned", definition=json.dumps(first),
                                    roleArn="arn:aws:iam::000000000000:role/r", publish=True,
                                    versionDescription="v1")
    arn = made["stateMachineArn"]
    assert made["stateMachineVersionArn"] == arn + ":1"
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(second), publish=True)
    assert updated["stateMachineVersionArn"] == arn + ":2"
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [arn + ":2", arn + ":1"]
    assert sfn.describe_state_machine(stateMachineArn=arn + ":1")["description"] == "v1"
    run = sfn.start_execution(stateMachineArn=arn + ":1")
    for _ in range(100):
        d = sfn.describe_execution(executionArn=run["executionArn"])
        if d["status"] != "RUNNING":
            break
        time.sleep(0.05)
    assert json.loads(d["output"]) == {"v": 1}
    sfn.delete_state_machine_version(stateMachineVersionArn=arn + ":1")
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=arn + ":1")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    sfn.delete_state_machine(stateMachineArn=arn)
