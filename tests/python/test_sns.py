"""The built-in SNS through boto3's SNS client, unchanged, against `sandflow serve`: topics,
errors, tenancy, delivery to built-in SQS queues, to a local HTTP endpoint and through a local
SMTP sink, and the outbox endpoint that keeps mail when no relay is set."""

import email
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import Server, client, free_port, signed

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def sns(server):
    return client(server, service="sns")


@pytest.fixture(scope="module")
def sqs(server):
    return client(server, service="sqs")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def outbox(server, topic, **creds):
    st, body = signed(server, "GET", "/sandflow/outbox?topic=" + urllib.parse.quote(topic, safe=""), **creds)
    assert st == 200, body
    return json.loads(body)["Messages"]


def wait_for(fn, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_topic_lifecycle_paging_and_attributes(sns):
    name = unique("t")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Attributes={"DisplayName": "Other"})
    assert code(e) == "InvalidParameter"
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attrs["DisplayName"], attrs["Owner"], attrs["TopicArn"]) == ("Orders", ACCOUNT, arn)
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Renamed"

    made = {sns.create_topic(Name=f"{name}-{i:03}")["TopicArn"] for i in range(105)}
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    seen = {t["TopicArn"] for t in first["Topics"]}
    token = first["NextToken"]
    while token:
        page = sns.list_topics(NextToken=token)
        seen |= {t["TopicArn"] for t in page["Topics"]}
        token = page.get("NextToken")
    assert made | {arn} <= seen
    paginated = {t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]}
    assert paginated == seen

    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert (code(e), status(e)) == ("NotFound", 404)
    assert arn not in {t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]}


def test_errors_are_snss(sns, server):
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:{unique('missing')}", Message="m")
    assert (code(e), status(e)) == ("NotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="no spaces allowed")
    assert (code(e), status(e)) == ("InvalidParameter", 400)
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=unique("f") + ".fifo", Attributes={"FifoTopic": "true"})
    assert code(e) == "InvalidParameter"
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="")
    assert code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageAttributes={"a": {"DataType": "Color", "StringValue": "x"}})
    assert code(e) == "ParameterValueInvalid"
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint="http://127.0.0.1:9/hook")
    assert code(e) == "InvalidParameter"
    assert "--sns-http-allow" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn=f"{arn}:{uuid.uuid4()}")
    assert code(e) == "NotFound"
    st, body = signed(
        server, "POST", "/", b"Action=Frobnicate&Version=2010-03-31",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert st == 400 and b"<Code>InvalidAction</Code>" in body, body
    bad = client(server, key="test", secret="wrong", service="sns")
    with pytest.raises(ClientError) as e:
        bad.list_topics()
    assert code(e) == "InvalidSignatureException"


def test_another_tenants_topic_does_not_exist(sns, server):
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    sns.publish(TopicArn=arn, Message="mine")
    creds = server.cli("tenant", "create", unique("acme"))
    key, secret = creds["accessKeyId"], creds["secretAccessKey"]
    theirs = client(server, key, secret, region="eu-west-1", service="sns")
    assert arn not in {t["TopicArn"] for t in theirs.list_topics()["Topics"]}
    for call in (
        lambda: theirs.publish(TopicArn=arn, Message="m"),
        lambda: theirs.get_topic_attributes(TopicArn=arn),
        lambda: theirs.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotFound"
    own = theirs.create_topic(Name=arn.rsplit(":", 1)[1])["TopicArn"]
    assert own == f"arn:aws:sns:eu-west-1:{creds['accountId']}:{arn.rsplit(':', 1)[1]}"
    assert outbox(server, arn, key=key, secret=secret) == []
    assert [m["Message"] for m in outbox(server, arn)] == ["mine"]


def test_sqs_subscriptions_receive_the_envelope_and_the_raw_message(sns, sqs):
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    queues = {}
    for kind in ("wrapped", "raw"):
        url = sqs.create_queue(QueueName=unique(kind))["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attrs = {"RawMessageDelivery": "true"} if kind == "raw" else {}
        sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes=attrs,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        assert sub.startswith(arn + ":")
        queues[kind] = (url, sub)
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in subs) == sorted(s for _, s in queues.values())
    assert all(s["Protocol"] == "sqs" and s["Owner"] == ACCOUNT for s in subs)
    assert {s["SubscriptionArn"] for s in subs} <= {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}

    mid = sns.publish(TopicArn=arn, Message="hello", Subject="greeting",
                      MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})["MessageId"]

    def receive(url):
        return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["All"]).get("Messages")

    [wrapped] = wait_for(lambda: receive(queues["wrapped"][0]), "the envelope")
    env = json.loads(wrapped["Body"])
    assert env["Type"] == "Notification" and env["MessageId"] == mid and env["TopicArn"] == arn
    assert (env["Subject"], env["Message"]) == ("greeting", "hello")
    assert env["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"}}
    [raw] = wait_for(lambda: receive(queues["raw"][0]), "the raw message")
    assert raw["Body"] == "hello"
    assert raw["MessageAttributes"]["kind"]["StringValue"] == "order"

    sns.unsubscribe(SubscriptionArn=queues["wrapped"][1])
    assert len(sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]) == 1
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as e:
        sns.list_subscriptions_by_topic(TopicArn=arn)
    assert code(e) == "NotFound"
    assert queues["raw"][1] not in {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}


def test_filter_policies_choose_what_each_subscription_receives(sns, sqs):
    """Two queues on one topic: one takes only large EU orders (attribute policy), the other
    only shipped orders (body policy); a bad policy is refused."""
    arn = sns.create_topic(Name=unique("orders"))["TopicArn"]
    queues = {}
    for kind, attrs in [
        ("big-eu", {"FilterPolicy": json.dumps({"region": [{"prefix": "eu-"}], "total": [{"numeric": [">=", 100]}]})}),
        ("shipped", {"FilterPolicy": json.dumps({"status": ["shipped"]}), "FilterPolicyScope": "MessageBody",
                     "RawMessageDelivery": "true"}),
    ]:
        url = sqs.create_queue(QueueName=unique(kind))["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn, Attributes=attrs,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        queues[kind] = (url, sub)

    def publish(body, region, total):
        sns.publish(TopicArn=arn, Message=json.dumps(body), MessageAttributes={
            "region": {"DataType": "String", "StringValue": region},
            "total": {"DataType": "Number", "StringValue": str(total)}})

    publish({"id": 1, "status": "new"}, "eu-west-1", 250)     # big-eu only
    publish({"id": 2, "status": "shipped"}, "us-east-1", 500)  # shipped only
    publish({"id": 3, "status": "new"}, "eu-west-1", 20)       # neither

    def drain(url):
        got = []
        for _ in range(3):
            got += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        return got

    big = [json.loads(json.loads(m["Body"])["Message"])["id"] for m in drain(queues["big-eu"][0])]
    shipped = [json.loads(m["Body"])["id"] for m in drain(queues["shipped"][0])]
    assert (big, shipped) == ([1], [2])
    got = sns.get_subscription_attributes(SubscriptionArn=queues["shipped"][1])["Attributes"]
    assert got["FilterPolicyScope"] == "MessageBody" and json.loads(got["FilterPolicy"]) == {"status": ["shipped"]}
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=queues["big-eu"][1], AttributeName="FilterPolicy",
                                        AttributeValue='{"a": [{"wildcard": "x*"}]}')
    assert code(e) == "InvalidParameter" and "wildcard" in e.value.response["Error"]["Message"]
    # An empty policy removes it: every message again.
    sns.set_subscription_attributes(SubscriptionArn=queues["big-eu"][1], AttributeName="FilterPolicy", AttributeValue="")
    publish({"id": 4, "status": "new"}, "us-east-1", 1)
    assert [json.loads(json.loads(m["Body"])["Message"])["id"] for m in drain(queues["big-eu"][0])] == [4]


def test_without_a_relay_mail_stays_in_the_outbox(sns, server):
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com",
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["PendingConfirmation"] == "false"
    mid = sns.publish(TopicArn=arn, Message="disk full", Subject="alert")["MessageId"]
    time.sleep(0.5)
    [m] = outbox(server, arn)
    assert (m["MessageId"], m["Subject"], m["Message"]) == (mid, "alert", "disk full")
    [d] = m["Deliveries"]
    assert (d["Protocol"], d["Endpoint"], d["State"], d["SubscriptionArn"]) == ("email", "ops@example.com", "pending", sub)


# --- delivery to real endpoints: a server allowed to POST to a local HTTP server, relaying mail
# through a local SMTP sink ---


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class SmtpSink:
    """Accepts mail on a socket (EHLO, MAIL, RCPT, DATA, QUIT) and keeps each message."""

    def __init__(self):
        self.mails = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink\r\n")
        envelope = {"rcpt": []}
        while line := f.readline():
            cmd = line.decode().strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                conn.sendall(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == "MAIL":
                envelope["from"] = cmd
                conn.sendall(b"250 ok\r\n")
            elif verb == "RCPT":
                envelope["rcpt"].append(cmd.split(":", 1)[1].strip("<> "))
                conn.sendall(b"250 ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go\r\n")
                data = b""
                while (l := f.readline()) != b".\r\n":
                    data += l
                self.mails.append((envelope["rcpt"], email.message_from_bytes(data)))
                conn.sendall(b"250 queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"500 what\r\n")
        conn.close()


@pytest.fixture(scope="module")
def delivering():
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    sink = SmtpSink()
    origin = f"http://127.0.0.1:{hook.server_address[1]}"
    s = Server("--sns-http-allow", origin, "--smtp-relay", f"127.0.0.1:{sink.port}")
    s.origin, s.sink = origin, sink
    yield s
    assert s.stop() == 0
    hook.shutdown()


def test_http_subscriptions_get_a_post_with_snss_headers(delivering):
    sns = client(delivering, service="sns")
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    endpoint = delivering.origin + "/hook"
    sub = sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint, ReturnSubscriptionArn=True)["SubscriptionArn"]
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=f"http://127.0.0.1:{free_port()}/elsewhere")
    assert code(e) == "InvalidParameter"
    mid = sns.publish(TopicArn=arn, Message="ping")["MessageId"]
    headers, body = wait_for(lambda: next((r for r in Hook.received if json.loads(r[1]).get("MessageId") == mid), None), "the POST")
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-amz-sns-message-type"] == "Notification"
    assert (lower["x-amz-sns-message-id"], lower["x-amz-sns-topic-arn"]) == (mid, arn)
    assert lower["x-amz-sns-subscription-arn"] == sub
    env = json.loads(body)
    assert (env["Type"], env["Message"], env["TopicArn"]) == ("Notification", "ping", arn)
    [m] = wait_for(lambda: [m for m in outbox(delivering, arn) if m["Deliveries"][0]["State"] == "delivered"], "delivered")
    assert m["Deliveries"][0]["Attempts"] == 1


def test_email_subscriptions_are_mailed_through_the_relay(delivering):
    sns = client(delivering, service="sns")
    arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
    sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint="robot@example.com")
    mid = sns.publish(TopicArn=arn, Message="disk full on db-1", Subject="alert")["MessageId"]

    def mine():
        got = {rcpt[0]: m for rcpt, m in delivering.sink.mails if m["x-amz-sns-message-id"] == mid}
        return got if len(got) == 2 else None

    mails = wait_for(mine, "two mails")
    plain, js = mails["ops@example.com"], mails["robot@example.com"]
    assert plain["Subject"] == "alert" and plain["To"] == "ops@example.com"
    assert plain.get_payload(decode=True).decode() == "disk full on db-1"
    env = json.loads(js.get_payload(decode=True))
    assert (env["Type"], env["MessageId"], env["Message"]) == ("Notification", mid, "disk full on db-1")
    [m] = wait_for(lambda: [m for m in outbox(delivering, arn)
                            if all(d["State"] == "delivered" for d in m["Deliveries"])], "delivered")
    assert len(m["Deliveries"]) == 2
