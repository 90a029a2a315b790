"""The web console in a real browser: Debian's chromium driven by Playwright (never
`playwright install`) against `sandflow serve --dev`. Signs in, reads the order-fulfillment graph
as text, approves and rejects waiting tasks from the inbox, sees the 409 of a second decision and
the execution page update live (a waiting task shown as Waiting), and a Map drawn as one node with
a count bar and its iterations in a paged table. Screenshots go to $CONSOLE_SCREENSHOTS
(tests/run-all.sh sets target/console-screenshots; otherwise a temp dir)."""

import json
import os
import pathlib
import shutil
import tempfile
import time

import pytest
from conftest import client

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed in this venv")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (tests/install-guest-tools.sh installs it)"
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::000000000000:role/console"
APPROVAL = {
    "StartAt": "Approve",
    "States": {
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": "QUEUE",
                "MessageBody": {"order.$": "$.order", "token.$": "$$.Task.Token"},
            },
            "End": True,
        }
    },
}
EACH = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 5,
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$", "NumericGreaterThan": 100, "Next": "TooBig"}],
                        "Default": "Fine",
                    },
                    "TooBig": {"Type": "Fail", "Error": "TooBig"},
                    "Fine": {"Type": "Pass", "End": True},
                },
            },
            "ToleratedFailurePercentage": 100,
            "End": True,
        }
    },
}
SHOTS = pathlib.Path(os.environ.get("CONSOLE_SCREENSHOTS") or tempfile.mkdtemp(prefix="sandflow-console-"))
SHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def sign_in(page, base):
    page.goto(base + "/")
    expect = sync_api.expect
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Access key").fill("test")
    page.get_by_label("Secret key").fill("test")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="State machines")).to_be_visible()


def test_console_graph_and_approvals(server, sfn, browser):
    expect = sync_api.expect
    definition = (ROOT / "guest-examples/order-fulfillment/definition.asl.json").read_text()
    order = sfn.create_state_machine(name="console-orders", definition=definition, roleArn=ROLE)
    queue = client(server, service="sqs").create_queue(QueueName="console-approvals")["QueueUrl"]
    approval = sfn.create_state_machine(
        name="console-approval", definition=json.dumps(APPROVAL).replace("QUEUE", queue), roleArn=ROLE
    )
    arns = [
        sfn.start_execution(stateMachineArn=approval["stateMachineArn"], name=f"console-{n}", input='{"order": %d}' % n)[
            "executionArn"
        ]
        for n in (1, 2)
    ]
    errors = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server.url)

    # The seed state machine's graph: every state a text node, Choice edges labelled.
    page.get_by_role("link", name="console-orders").click()
    for state in ["Check Inventory", "In Stock?", "Process Payment", "Wait for Approval", "Complete Order"]:
        expect(page.locator(f'svg.graph g.node[data-state="{state}"] text.node-name')).to_have_text(state)
    expect(page.locator("svg.graph text.edge-label", has_text="$.amount >= 1000")).to_have_count(1)
    layout_ms = page.evaluate("window.layoutMs")
    print(f"order-fulfillment layout: {layout_ms:.1f} ms")
    page.screenshot(path=str(SHOTS / "state-machine.png"), full_page=True)

    # Two inboxes open at once: the second decision on the same task is refused with 409.
    page.get_by_role("link", name="Approvals").click()
    other = ctx.new_page()
    other.goto(server.url + "/console/#/approvals")
    for p in (page, other):
        expect(p.locator("tr[data-execution='console-1']")).to_have_count(1)
    row = page.locator("tr[data-execution='console-1']")
    row.get_by_role("button", name="Approve").click()
    expect(row.get_by_role("alert")).to_have_text("A comment is required.")
    row.get_by_label("Comment").fill("fine by me")
    row.get_by_role("button", name="Approve").click()
    expect(row.locator(".decided")).to_contain_text("Approved by test")
    page.screenshot(path=str(SHOTS / "approvals.png"), full_page=True)
    late = other.locator("tr[data-execution='console-1']")
    late.get_by_label("Comment").fill("me too")
    late.get_by_role("button", name="Reject").click()
    expect(late.get_by_role("alert")).to_contain_text("409")
    assert sfn.describe_execution(executionArn=arns[0])["status"] in ("RUNNING", "SUCCEEDED")

    # The execution page shows the waiting state and follows the rejection live.
    other.goto(server.url + "/console/#/executions/" + arns[1])
    expect(other.locator('svg.graph g.node[data-state="Approve"]')).to_have_attribute("data-status", "WAITING")
    row2 = page.locator("tr[data-execution='console-2']")
    row2.get_by_label("Comment").fill("too expensive")
    row2.get_by_role("button", name="Reject").click()
    expect(row2.locator(".decided")).to_contain_text("Rejected by test")
    expect(other.locator("h1 + p .status")).to_have_text("Failed", timeout=10_000)
    expect(other.locator('svg.graph g.node[data-state="Approve"]')).to_have_attribute("data-status", "FAILED")
    expect(other.get_by_role("table", name="Decisions")).to_contain_text("too expensive")
    other.screenshot(path=str(SHOTS / "execution.png"), full_page=True)

    # The executions list, newest first, statuses in words.
    page.get_by_role("link", name="Executions").click()
    expect(page.get_by_role("table", name="Executions")).to_contain_text("Failed")
    page.screenshot(path=str(SHOTS / "executions.png"), full_page=True)
    assert sfn.describe_execution(executionArn=arns[0])["status"] == "SUCCEEDED"
    assert sfn.describe_execution(executionArn=arns[1])["status"] == "FAILED"

    # A Map is one node with a count bar; its iterations page on the server.
    each = sfn.create_state_machine(name="console-map", definition=json.dumps(EACH), roleArn=ROLE)
    items = list(range(1, 31)) + [500, 600]
    mapped = sfn.start_execution(stateMachineArn=each["stateMachineArn"], input=json.dumps({"items": items}))
    page.goto(server.url + "/console/#/executions/" + mapped["executionArn"])
    bar = page.locator('svg.graph g.countbar[data-map="Each"]')
    expect(bar).to_have_attribute("aria-label", "Each iterations: 30 succeeded, 2 failed, 0 aborted, 0 running, of 32")
    expect(page.locator('svg.graph g.node[data-state="Check"]')).to_have_count(0)
    page.locator('svg.graph g.node[data-state="Each"]').click()
    table = page.get_by_role("table", name="Iterations of Each")
    expect(table.locator("tbody tr")).to_have_count(25)
    page.get_by_role("button", name="Next iterations").click()
    expect(table.locator("tbody tr")).to_have_count(7)
    expect(table).to_contain_text("Failed")
    assert "it=25" in page.url and "state=Each" in page.url
    page.screenshot(path=str(SHOTS / "map-execution.png"), full_page=True)
    page.get_by_role("button", name="Expand Each").click()
    expect(page.locator('svg.graph g.node[data-state="Check"]')).to_have_attribute("data-status", "SUCCEEDED")
    # The deep link reproduces the view: the state selected, the second page of iterations.
    page.reload()
    expect(page.get_by_role("table", name="Iterations of Each").locator("tbody tr")).to_have_count(7)

    # Topics and the SNS outbox: an email with no SMTP relay waits there.
    sns = client(server, service="sns")
    topic = sns.create_topic(Name="console-news")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@shop.example")
    sns.publish(TopicArn=topic, Subject="Restocked", Message="SKU-1 is back")
    page.get_by_role("link", name="Topics").click()
    expect(page.get_by_role("table", name="Topics")).to_contain_text("email: ops@shop.example")
    page.locator("#f-topic").select_option(label="console-news")
    outbox = page.get_by_role("table", name="Outbox")
    expect(outbox).to_contain_text("Restocked")
    expect(outbox).to_contain_text("pending email: ops@shop.example")
    assert "topic=" in page.url
    page.screenshot(path=str(SHOTS / "topics.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not errors, errors
    print(f"screenshots in {SHOTS}")
    sfn.delete_state_machine(stateMachineArn=order["stateMachineArn"])
    ctx.close()


def chain(n, prefix):
    """`n` Pass states in a row, every tenth a Parallel of two short branches."""
    states = {}
    names = [f"{prefix}{i}" for i in range(n)]
    for i, name in enumerate(names):
        nxt = {"Next": names[i + 1]} if i + 1 < n else {"End": True}
        if i % 10 == 9:
            branch = lambda b: {"StartAt": f"{name}-{b}", "States": {f"{name}-{b}": {"Type": "Pass", "End": True}}}
            states[name] = {"Type": "Parallel", "Branches": [branch("a"), branch("b")], **nxt}
        else:
            states[name] = {"Type": "Pass", **nxt}
    return {"StartAt": names[0], "States": states}


def test_console_scale(server, sfn, browser):
    """A 200-state definition is laid out (in a worker) and a 10,000-iteration Map stays one
    node with a paged table. Prints the layout and page-load times the closing note reports."""
    expect = sync_api.expect
    big = chain(182, "S")  # 182 states + 18 Parallels × 2 branch states = 218
    sm = sfn.create_state_machine(name="console-big", definition=json.dumps(big), roleArn=ROLE)
    each = sfn.create_state_machine(name="console-10k", definition=json.dumps(EACH), roleArn=ROLE)
    run = sfn.start_execution(stateMachineArn=each["stateMachineArn"], input=json.dumps({"items": [i % 100 for i in range(10_000)]}))
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, server.url)

    page.goto(server.url + "/console/#/machines/" + sm["stateMachineArn"])
    expect(page.locator('svg.graph g.node[data-state="S181"]')).to_have_count(1)
    expect(page.locator("svg.graph g.node")).to_have_count(218)
    layout_ms = page.evaluate("window.layoutMs")
    print(f"\n218-state layout (worker round trip): {layout_ms:.1f} ms")
    assert page.evaluate("performance.getEntriesByType('resource').some(r => r.name.endsWith('layout-worker.js'))")

    deadline = time.time() + 120
    while sfn.describe_execution(executionArn=run["executionArn"])["status"] == "RUNNING":
        assert time.time() < deadline, "the 10,000-item Map did not finish"
        time.sleep(0.5)
    t0 = time.time()
    page.goto(server.url + "/console/#/executions/" + run["executionArn"] + "?state=Each")
    table = page.get_by_role("table", name="Iterations of Each")
    expect(table.locator("tbody tr")).to_have_count(25, timeout=30_000)
    load_s = time.time() - t0
    expect(page.locator('svg.graph g.countbar[data-map="Each"]')).to_have_attribute(
        "aria-label", "Each iterations: 10000 succeeded, 0 failed, 0 aborted, 0 running, of 10000"
    )
    expect(page.get_by_text("10000 iterations")).to_be_visible()
    events = sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1, reverseOrder=True)["events"][0]["id"]
    print(f"10,000-iteration Map ({events} events): execution page with iterations table in {load_s:.2f} s")
    page.screenshot(path=str(SHOTS / "map-10k.png"))
    assert not errors, errors
    ctx.close()


WAIT_THEN_PASS = {
    "StartAt": "Pause",
    "States": {"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}},
}


def test_console_start_watch_dark_mode_and_tenants(server, sfn, other, browser):
    """Start an execution from its state machine's page and watch it succeed without a reload;
    the steps table; dark mode; another tenant's session sees none of it; every page's
    screenshot."""
    expect = sync_api.expect
    sm = sfn.create_state_machine(name="console-wait", definition=json.dumps(WAIT_THEN_PASS), roleArn=ROLE)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.screenshot(path=str(SHOTS / "sign-in.png"))
    sign_in(page, server.url)

    page.goto(server.url + "/console/#/machines/" + sm["stateMachineArn"])
    page.get_by_label("Execution input").fill("{not json")
    expect(page.get_by_role("alert")).to_contain_text("Input is not valid JSON")
    page.get_by_label("Execution input").fill('{"order": 42}')
    page.get_by_label("Name").fill("from-the-console")
    page.get_by_role("button", name="Start execution").click()
    expect(page.get_by_role("heading", name="from-the-console")).to_be_visible()
    status = page.locator("h1 + p .status")
    expect(status).to_have_text("Running")
    page.evaluate("window.__sameDocument = true")
    expect(status).to_have_text("Succeeded", timeout=15_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(page.locator('svg.graph g.node[data-state="Done"]')).to_have_attribute("data-status", "SUCCEEDED")
    steps = page.get_by_role("table", name="Steps")
    expect(steps.locator("tbody tr")).to_have_count(2)
    expect(steps.locator("tbody tr").nth(0)).to_contain_text("Pause")
    expect(steps.locator("tbody tr").nth(0)).to_contain_text("Wait")
    steps.get_by_role("button", name="Done").click()
    expect(page.locator("#selected pre").last).to_contain_text('"order": 42')
    assert "state=Done" in page.url
    mine = page.url

    page.get_by_role("button", name="Dark mode").click()
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    expect(page.get_by_role("button", name="Light mode")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(SHOTS / "execution-dark.png"), full_page=True)
    pages = [("Executions", "executions-dark.png"), ("Approvals", "approvals-dark.png"), ("Functions", "functions.png"),
             ("Topics", "topics-dark.png"), ("Usage", "usage.png"), ("State machines", "state-machines.png")]
    for link, shot in pages:
        t0 = time.time()
        page.get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=link, exact=True)).to_be_visible()
        expect(page.locator("body[data-ready='1']")).to_have_count(1)
        print(f"\n{link} page: {(time.time() - t0) * 1000:.0f} ms to ready")
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.get_by_role("button", name="Light mode").click()

    # Another tenant, in its own browser: none of this tenant's data, even by deep link.
    creds = server.cli("tenant", "create", "console-other")
    theirs = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    theirs.goto(server.url + "/")
    theirs.get_by_label("Access key").fill(creds["accessKeyId"])
    theirs.get_by_label("Secret key").fill(creds["secretAccessKey"])
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.get_by_role("heading", name="State machines")).to_be_visible()
    expect(theirs.get_by_role("link", name="console-wait")).to_have_count(0)
    theirs.get_by_role("link", name="Executions").click()
    expect(theirs.get_by_text("No executions.")).to_be_visible()
    theirs.goto(mine)
    expect(theirs.get_by_role("alert")).to_contain_text("Execution Does Not Exist")
    theirs.screenshot(path=str(SHOTS / "other-tenant.png"))
    assert not errors, errors
    ctx.close()
