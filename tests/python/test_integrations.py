"""Workflows on the built-in services through boto3, unchanged: an HTTP task with an
EventBridge connection made by boto3 and an origin allowed with `sandflow tenant http-allow`,
SQS and DynamoDB tasks whose effects a boto3 worker sees, and a nested workflow."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import client

ROLE = "arn:aws:iam::000000000000:role/r"


def wait_done(sfn, arn):
    for _ in range(400):
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    raise AssertionError(f"{arn} still running")


def run(sfn, definition, payload):
    name = f"m-{uuid.uuid4().hex[:8]}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    return wait_done(sfn, ex)


@pytest.fixture(scope="module")
def shop():
    """A local HTTP service that records requests and answers JSON."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body.decode()})
            reply = json.dumps({"receipt": "R-1"}).encode()
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.seen = seen
    httpd.origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()


def test_http_task_with_a_boto3_connection(server, sfn, shop):
    events = client(server, service="events")
    arn = events.create_connection(
        Name=f"shop-{uuid.uuid4().hex[:6]}", AuthorizationType="BASIC",
        AuthParameters={"BasicAuthParameters": {"Username": "robot", "Password": "pa55"}},
    )["ConnectionArn"]
    described = events.describe_connection(Name=arn.split("/")[1])
    assert described["AuthParameters"]["BasicAuthParameters"] == {"Username": "robot"}
    assert any(c["ConnectionArn"] == arn for c in events.list_connections()["Connections"])
    with pytest.raises(ClientError) as e:
        events.describe_connection(Name="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    definition = {"StartAt": "Order", "States": {"Order": {
        "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": shop.origin + "/orders", "Method": "POST",
                       "Authentication": {"ConnectionArn": arn}, "RequestBody": {"sku.$": "$.sku"}},
        "ResultSelector": {"receipt.$": "$.ResponseBody.receipt", "status.$": "$.StatusCode"},
        "End": True}}}
    refused = run(sfn, definition, {"sku": "BOOK-1"})
    assert (refused["status"], refused["error"]) == ("FAILED", "States.Runtime"), refused
    listed = server.cli("tenant", "http-allow", "dev", shop.origin)
    assert shop.origin in listed["httpOrigins"]
    done = run(sfn, definition, {"sku": "BOOK-1"})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"receipt": "R-1", "status": 201}
    sent = shop.seen[-1]
    assert sent["path"] == "/orders" and json.loads(sent["body"]) == {"sku": "BOOK-1"}
    assert sent["headers"]["authorization"] == "Basic cm9ib3Q6cGE1NQ=="
    server.cli("tenant", "http-allow", "dev", "--revoke", shop.origin)


def test_workflow_queues_and_tables_meet_a_boto3_worker(server, sfn):
    sqs, ddb = client(server, service="sqs"), client(server, service="dynamodb")
    queue = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    table = f"jobs-{uuid.uuid4().hex[:6]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    definition = {"StartAt": "Record", "States": {
        "Record": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                   "Parameters": {"TableName": table, "Item": {"id": {"S.$": "$.id"}, "state": {"S": "queued"}}},
                   "ResultPath": None, "Next": "Hand off"},
        "Hand off": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                     "Parameters": {"QueueUrl": queue, "MessageBody": {"id.$": "$.id", "token.$": "$$.Task.Token"}},
                     "ResultPath": "$.work", "Next": "Read back"},
        "Read back": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                      "Parameters": {"TableName": table, "Key": {"id": {"S.$": "$.id"}}},
                      "ResultSelector": {"state.$": "$.Item.state.S"}, "ResultPath": "$.record", "End": True}}}
    arn = sfn.create_state_machine(name=f"jobs-{uuid.uuid4().hex[:6]}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"id": "J-1"}))["executionArn"]
    # The worker: takes the job, updates the record, answers with the token.
    msgs = []
    for _ in range(20):
        msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            break
    job = json.loads(msgs[0]["Body"])
    ddb.update_item(TableName=table, Key={"id": {"S": job["id"]}}, UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": {"S": "done"}})
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=msgs[0]["ReceiptHandle"])
    sfn.send_task_success(taskToken=job["token"], output=json.dumps({"worker": "py"}))
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"id": "J-1", "work": {"worker": "py"}, "record": {"state": "done"}}


def test_nested_workflow_sync2(sfn):
    child = sfn.create_state_machine(
        name=f"child-{uuid.uuid4().hex[:6]}", roleArn=ROLE,
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}),
    )["stateMachineArn"]
    d = run(sfn, {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Input": {"from": "parent"}},
        "OutputPath": "$.Output", "End": True}}}, {})
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"ok": True}
    assert len(sfn.list_executions(stateMachineArn=child)["executions"]) == 1
