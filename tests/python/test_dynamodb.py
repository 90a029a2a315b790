"""The built-in tables through boto3's DynamoDB client, unchanged, against `sandflow serve`."""

import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import client


@pytest.fixture(scope="module")
def ddb(server):
    return client(server, service="dynamodb")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def make(ddb, sort=True, name=None):
    name = name or unique("t")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    defs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if sort:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        defs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=defs, BillingMode="PAY_PER_REQUEST")
    return name


def test_table_lifecycle(ddb):
    name = make(ddb)
    d = ddb.describe_table(TableName=name)["Table"]
    assert d["TableStatus"] == "ACTIVE"
    assert d["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    assert d["KeySchema"][1] == {"AttributeName": "sk", "KeyType": "RANGE"}
    ddb.get_waiter("table_exists").wait(TableName=name)
    assert name in ddb.list_tables()["TableNames"]
    with pytest.raises(ClientError) as e:
        make(ddb, name=name)
    assert code(e) == "ResourceInUseException"
    ddb.delete_table(TableName=name)
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert code(e) == "ResourceNotFoundException"


def test_items_and_conditional_put(ddb):
    name = make(ddb)
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "first"}}
    ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"] == item
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item={**item, "v": {"S": "second"}},
                     ConditionExpression="attribute_not_exists(pk)")
    assert code(e) == "ConditionalCheckFailedException"
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                        ConditionExpression="v = :x", ExpressionAttributeValues={":x": {"S": "nope"}})
    old = ddb.put_item(TableName=name, Item={**item, "v": {"S": "second"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"]["v"] == {"S": "first"}
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "zz"}, "sk": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item={"pk": {"S": "big"}, "sk": {"N": "1"}, "x": {"S": "x" * 410_000}})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item=item, ConditionExpression="pk = :unset")
    assert code(e) == "ValidationException"
    got = ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, ReturnValues="ALL_OLD")
    assert got["Attributes"]["v"] == {"S": "second"}


def test_update_expressions(ddb):
    name = make(ddb, sort=False)
    key = {"pk": {"S": "u"}}
    r = ddb.update_item(
        TableName=name, Key=key,
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, tags = :tags, t2 = :t2, l = :l",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}, ":tags": {"SS": ["a"]}, ":t2": {"SS": ["a", "zzz"]},
                                   ":l": {"L": [{"S": "x"}]}},
        ReturnValues="ALL_NEW")
    assert r["Attributes"]["count"] == {"N": "1"}
    r = ddb.update_item(
        TableName=name, Key=key,
        UpdateExpression="SET l = list_append(l, :more), #c = #c - :one REMOVE gone ADD tags :b, n :five DELETE t2 :a",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":more": {"L": [{"S": "y"}]}, ":one": {"N": "1"}, ":b": {"SS": ["b"]},
                                   ":five": {"N": "5"}, ":a": {"SS": ["zzz"]}},
        ReturnValues="UPDATED_NEW")
    assert r["Attributes"]["l"] == {"L": [{"S": "x"}, {"S": "y"}]}
    assert r["Attributes"]["count"] == {"N": "0"}
    assert sorted(r["Attributes"]["tags"]["SS"]) == ["a", "b"]
    assert r["Attributes"]["n"] == {"N": "5"}
    assert r["Attributes"]["t2"] == {"SS": ["a"]}
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET pk = :x",
                        ExpressionAttributeValues={":x": {"S": "y"}})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET a = :x",
                        ConditionExpression="#c > :ten",
                        ExpressionAttributeNames={"#c": "count"},
                        ExpressionAttributeValues={":x": {"S": "y"}, ":ten": {"N": "10"}})
    assert code(e) == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET = :x",
                        ExpressionAttributeValues={":x": {"S": "y"}})
    assert code(e) == "ValidationException"
    assert "Syntax error" in e.value.response["Error"]["Message"]


def test_query_sort_key_conditions_and_paging(ddb):
    name = make(ddb)
    for i in range(1, 11):
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "odd": {"BOOL": i % 2 == 1}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "sk": {"N": "5"}})

    def q(cond, values, **kw):
        r = ddb.query(TableName=name, KeyConditionExpression=cond,
                      ExpressionAttributeValues={":p": {"S": "p"}, **values}, **kw)
        return [int(i["sk"]["N"]) for i in r["Items"]], r

    assert q("pk = :p AND sk BETWEEN :a AND :b", {":a": {"N": "3"}, ":b": {"N": "5"}})[0] == [3, 4, 5]
    assert q("pk = :p AND sk > :a", {":a": {"N": "8"}})[0] == [9, 10]
    assert q("pk = :p AND sk <= :a", {":a": {"N": "2"}})[0] == [1, 2]
    assert q("pk = :p", {}, ScanIndexForward=False)[0] == list(range(10, 0, -1))
    odd, r = q("pk = :p", {":t": {"BOOL": True}}, FilterExpression="odd = :t", Limit=4)
    assert odd == [1, 3] and r["ScannedCount"] == 4 and r["Count"] == 2
    pages, start = [], None
    while True:
        kw = {"Limit": 3, **({"ExclusiveStartKey": start} if start else {})}
        got, r = q("pk = :p", {}, **kw)
        pages.append(got)
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    assert [x for p in pages for x in p] == list(range(1, 11))
    assert pages[0] == [1, 2, 3]
    back = [int(i["sk"]["N"]) for p in ddb.get_paginator("query").paginate(
        TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}},
        ScanIndexForward=False, PaginationConfig={"PageSize": 4}) for i in p["Items"]]
    assert back == list(range(10, 0, -1))
    with pytest.raises(ClientError) as e:
        q("sk = :p", {})
    assert code(e) == "ValidationException"
    scanned = [i for p in ddb.get_paginator("scan").paginate(TableName=name, PaginationConfig={"PageSize": 4})
               for i in p["Items"]]
    assert len(scanned) == 11


def test_batches(ddb):
    name = make(ddb, sort=False)
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}}
                                              for i in range(5)]})
    ddb.batch_write_item(RequestItems={name: [{"DeleteRequest": {"Key": {"pk": {"S": "k0"}}}}]})
    got = ddb.batch_get_item(RequestItems={name: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(5)],
                                                  "ProjectionExpression": "v"}})
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][name]) == [1, 2, 3, 4]
    assert all(list(i) == ["v"] for i in got["Responses"][name])
    assert ddb.scan(TableName=name, Select="COUNT")["Count"] == 4


def test_tenant_isolation(ddb, server, other):
    name = make(ddb, sort=False)
    ddb.put_item(TableName=name, Item={"pk": {"S": "secret"}})
    theirs = client(server, other._request_signer._credentials.access_key,
                    other._request_signer._credentials.secret_key, region="eu-west-1", service="dynamodb")
    with pytest.raises(ClientError) as e:
        theirs.get_item(TableName=name, Key={"pk": {"S": "secret"}})
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        theirs.describe_table(TableName=f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}")
    assert code(e) == "ResourceNotFoundException"
    assert name not in theirs.list_tables()["TableNames"]
    make(theirs, sort=False, name=name)
    assert "Item" not in theirs.get_item(TableName=name, Key={"pk": {"S": "secret"}})
