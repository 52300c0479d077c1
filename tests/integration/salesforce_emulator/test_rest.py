"""The REST data API through simple-salesforce and plain requests: describe, query, records, collections."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from simple_salesforce import (
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from .conftest import Emulator

LIMIT_HEADER = re.compile(r"^api-usage=(\d+)/(\d+)$")


def test_versions_and_resources(salesforce_emulator: Emulator) -> None:
    versions = salesforce_emulator.http.get(f"{salesforce_emulator.url}/services/data", timeout=10)
    assert versions.status_code == 200
    assert "Sforce-Limit-Info" not in versions.headers
    assert {"version": "62.0", "label": "v62.0", "url": "/services/data/v62.0"} in versions.json()
    resources = salesforce_emulator.http.get(
        salesforce_emulator.data_url, headers=salesforce_emulator.auth(), timeout=10
    )
    assert resources.json()["query"] == "/services/data/v62.0/query"


def test_describe_lists_standard_objects_and_the_packages_schema(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {
        "Contact",
        "Lead",
        "Account",
        "Opportunity",
        "OpportunityContactRole",
        "User",
        "Sync_Result__c",
        "Messaging_Sync__e",
        "Messaging_Sync_Object__mdt",
        "Messaging_Field_Mapping__mdt",
    } <= names
    contact = sf.Contact.describe()
    fields = {f["name"]: f for f in contact["fields"]}
    assert contact["keyPrefix"] == "003"
    ext = fields["Messaging_Contact_Id__c"]
    assert ext["externalId"] and ext["unique"] and ext["type"] == "string" and ext["length"] == 64
    assert fields["Mobile_Subscriber__c"]["type"] == "boolean"
    assert [p["value"] for p in fields["Messaging_Status__c"]["picklistValues"]] == [
        "Subscribed",
        "Unsubscribed",
        "Paused",
        "Not Synced",
    ]
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    for name in (
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "MobilePhone",
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "HasOptedOutOfEmail",
        "OwnerId",
        "SystemModstamp",
    ):
        assert name in fields
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()


def test_crud_maintains_ids_and_timestamps(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    account = sf.Account.create({"Name": "Acme"})
    created = sf.Contact.create(
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "AccountId": account["id"],
            "MobilePhone": "(415) 555-0123",
            "Mobile_Subscriber__c": True,
        }
    )
    assert created["success"] and created["errors"] == []
    contact_id = created["id"]
    assert len(contact_id) == 18 and contact_id.startswith("003")
    record = sf.Contact.get(contact_id)
    assert record["Name"] == "Ada Lovelace"
    assert record["attributes"] == {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{contact_id}"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$", record["SystemModstamp"])
    assert record["CreatedDate"] == record["LastModifiedDate"]
    assert record["OwnerId"] == salesforce_emulator.clients["integration"]["user_id"]
    time.sleep(0.005)
    assert sf.Contact.update(contact_id, {"LastName": "King"}) == 204
    updated = sf.Contact.get(contact_id)
    assert updated["Name"] == "Ada King" and updated["SystemModstamp"] > record["SystemModstamp"]
    assert updated["CreatedDate"] == record["CreatedDate"]
    assert sf.Contact.get(contact_id[:15])["Id"] == contact_id  # 15-character ids are accepted
    assert set(sf.Contact.get(contact_id, params={"fields": "Id,Email"})) == {"attributes", "Id", "Email"}
    assert sf.Contact.delete(contact_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Contact.get(contact_id)
    assert gone.value.content[0]["errorCode"] == "NOT_FOUND"
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{contact_id}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_write_errors_have_the_orgs_codes(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    cases = [
        ({"FirstName": "No last name"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ({"LastName": "X", "Not_A_Field__c": 1}, "INVALID_FIELD", ["Not_A_Field__c"]),
        ({"LastName": "X", "Name": "Computed"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Name"]),
        ({"LastName": "X", "AccountId": "001xx"}, "MALFORMED_ID", ["AccountId"]),
        ({"LastName": "X", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ({"LastName": "X", "Messaging_Contact_Id__c": "x" * 65}, "STRING_TOO_LONG", ["Messaging_Contact_Id__c"]),
    ]
    for body, code, fields in cases:
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.Contact.create(body)
        assert info.value.content[0]["errorCode"] == code, body
        assert info.value.content[0]["fields"] == fields
    with pytest.raises(SalesforceMalformedRequest) as bad_id:
        sf.Contact.update("003RO0000000001ZZZ", {"LastName": "Y"})
    assert bad_id.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Contact.update("003RO0000009999YAA"[:15], {"LastName": "Y"})
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"


def test_upsert_by_external_id_follows_v46_semantics(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    http, url = salesforce_emulator.http, salesforce_emulator.data_url
    headers = salesforce_emulator.auth()
    first = http.patch(
        f"{url}/sobjects/Contact/Messaging_Contact_Id__c/mc-1", json={"LastName": "A"}, headers=headers, timeout=10
    )
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": True}
    again = http.patch(
        f"{url}/sobjects/Contact/Messaging_Contact_Id__c/MC-1/", json={"LastName": "B"}, headers=headers, timeout=10
    )
    assert again.status_code == 200  # the external id is unique case-insensitively
    assert again.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    old = http.patch(
        f"{salesforce_emulator.url}/services/data/v45.0/sobjects/Contact/Messaging_Contact_Id__c/mc-1",
        json={"LastName": "C"},
        headers=headers,
        timeout=10,
    )
    assert old.status_code == 204 and old.content == b""
    assert sf.Contact.upsert("Messaging_Contact_Id__c/mc-2", {"LastName": "D"}) == 201
    assert sf.Contact.get_by_custom_id("Messaging_Contact_Id__c", "mc-1")["LastName"] == "C"
    with pytest.raises(SalesforceResourceNotFound) as bad_field:
        sf.Contact.upsert("Email/x@example.org", {"LastName": "E"})
    assert bad_field.value.content[0]["message"].startswith("Provided external ID field does not exist")
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Contact.update(
            sf.Contact.get_by_custom_id("Messaging_Contact_Id__c", "mc-2")["Id"], {"Messaging_Contact_Id__c": "Mc-1"}
        )
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert first.json()["id"] in duplicate.value.content[0]["message"]


def test_unique_external_id_on_lead_refuses_a_second_record(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    assert sf.Lead.upsert("Messaging_Contact_Id__c/l-1", {"LastName": "L", "Company": "C"}) == 201
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create({"LastName": "L2", "Company": "C", "Messaging_Contact_Id__c": "L-1"})
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_query_with_relationships_filters_and_order(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    account = sf.Account.create({"Name": "Acme"})["id"]
    for first, last, phone in (
        ("Ada", "Lovelace", "+14155550100"),
        ("Grace", "Hopper", None),
        ("Alan", "Turing", "+14155550102"),
    ):
        sf.Contact.create({"FirstName": first, "LastName": last, "MobilePhone": phone, "AccountId": account})
    result = sf.query(
        "SELECT Id, Name, Account.Name, Owner.Username FROM Contact "
        "WHERE (MobilePhone != null AND FirstName LIKE 'a%') OR LastName IN ('hopper') "
        "ORDER BY LastName DESC LIMIT 2"
    )
    assert result["totalSize"] == 2 and result["done"] is True
    assert [r["Name"] for r in result["records"]] == ["Alan Turing", "Ada Lovelace"]
    assert result["records"][0]["Account"]["Name"] == "Acme"
    assert result["records"][0]["Account"]["attributes"]["type"] == "Account"
    assert result["records"][0]["Owner"]["Username"] == salesforce_emulator.clients["integration"]["username"]
    assert sf.query("SELECT COUNT() FROM Contact WHERE CreatedDate = TODAY AND MobilePhone = null")["totalSize"] == 1
    assert sf.query("SELECT Id FROM Contact WHERE CreatedDate > 2020-01-01T00:00:00Z")["totalSize"] == 3
    assert sf.query("SELECT Id FROM Contact WHERE SystemModstamp < 2020-01-01T00:00:00.000+0000")["totalSize"] == 0
    assert sf.query("SELECT Id FROM Contact WHERE LastModifiedDate = LAST_N_DAYS:2")["totalSize"] == 3
    assert sf.query("SELECT Id FROM Contact ORDER BY LastName LIMIT 1 OFFSET 1")["records"][0]["Id"]
    no_account = sf.Contact.create({"LastName": "Solo"})["id"]
    solo = sf.query(f"SELECT Account.Name FROM Contact WHERE Id = '{no_account}'")["records"][0]
    assert solo["Account"] is None


def test_query_errors_have_the_orgs_codes_and_messages(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    cases = {
        "SELECT Id FROM Contact WHERE": "MALFORMED_QUERY",
        "SELECT Id, FROM Contact": "MALFORMED_QUERY",
        "SELECT Nope__c FROM Contact": "INVALID_FIELD",
        "SELECT Nope__r.Name FROM Contact": "INVALID_FIELD",
        "SELECT Id FROM Nope__c": "INVALID_TYPE",
        "SELECT Id FROM Contact WHERE Id = 'abc'": "INVALID_QUERY_FILTER_OPERATOR",
    }
    for soql, code in cases.items():
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.query(soql)
        assert info.value.status == 400
        assert info.value.content[0]["errorCode"] == code, soql
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Nope__c FROM Contact")
    assert "No such column 'Nope__c' on entity 'Contact'" in info.value.content[0]["message"]
    assert "ERROR at Row:1:Column:8" in info.value.content[0]["message"]


@pytest.mark.parametrize(("count", "pages"), [(2000, 1), (2001, 2), (4000, 2)])
def test_query_pages_hold_2000_records(salesforce_emulator: Emulator, count: int, pages: int) -> None:
    salesforce_emulator.seed("Contact", count=count, seed=1)
    sf = salesforce_emulator.sf()
    first = sf.query("SELECT Id, Name, MobilePhone FROM Contact")
    assert first["totalSize"] == count
    assert len(first["records"]) == min(count, 2000)
    assert first["done"] is (pages == 1)
    seen = [r["Id"] for r in first["records"]]
    page = first
    while not page["done"]:
        assert page["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        assert page["totalSize"] == count
        seen += [r["Id"] for r in page["records"]]
    assert "nextRecordsUrl" not in page
    assert len(seen) == len(set(seen)) == count
    assert len(list(sf.query_all_iter("SELECT Id FROM Contact ORDER BY SystemModstamp, Id"))) == count


def test_custom_metadata_records_are_queryable(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    objects = sf.query(
        "SELECT DeveloperName, Object_API_Name__c, Active__c, Opt_Out_Field__c "
        "FROM Messaging_Sync_Object__mdt WHERE Active__c = true"
    )
    by_object = {r["Object_API_Name__c"]: r for r in objects["records"]}
    assert {"Contact", "Lead"} <= set(by_object)
    assert by_object["Contact"]["Opt_Out_Field__c"] == "Mobile_Subscriber__c"
    mappings = sf.query(
        "SELECT Salesforce_Field__c, Platform_Field__c, Is_Matching__c FROM "
        "Messaging_Field_Mapping__mdt WHERE Object_API_Name__c = 'Contact'"
    )
    phone = [r for r in mappings["records"] if r["Salesforce_Field__c"] == "MobilePhone"]
    assert phone and phone[0]["Platform_Field__c"] == "phone" and phone[0]["Is_Matching__c"] is True
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("sobjects/Messaging_Sync_Object__mdt", method="POST", json={"DeveloperName": "X"})


def test_every_metered_answer_carries_the_limit_header_and_limits_agree(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    contact = sf.Contact
    contact.create({"LastName": "A"})
    assert contact.api_usage["api-usage"].used == 1
    sf.query("SELECT Id FROM Contact")
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - 3
    assert sf.api_usage["api-usage"].used == 3 and sf.api_usage["api-usage"].total == 100_000
    response = salesforce_emulator.http.get(
        f"{salesforce_emulator.data_url}/sobjects/Contact/describe/", headers=salesforce_emulator.auth(), timeout=10
    )
    assert LIMIT_HEADER.match(response.headers["Sforce-Limit-Info"])


def test_collections_create_update_upsert_delete(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "One"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
                {"attributes": {"type": "Lead"}, "LastName": "Lead", "Company": "Co"},
            ],
        },
    )
    assert created[0]["success"] and created[2]["success"]
    assert created[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    contact_id = created[0]["id"]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "id": contact_id, "MobilePhone": "+14155550100"},
                {"attributes": {"type": "Contact"}, "id": "003RO000000ZZZZ", "LastName": "x"},
            ]
        },
    )
    assert updated[0] == {"id": contact_id, "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")
    upserted = sf.restful(
        "composite/sobjects/Contact/Messaging_Contact_Id__c",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "Messaging_Contact_Id__c": "mc-9", "LastName": "New"},
            ]
        },
    )
    assert upserted[0]["created"] is True and upserted[0]["success"] is True
    again = sf.restful(
        "composite/sobjects/Contact/Messaging_Contact_Id__c",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "Messaging_Contact_Id__c": "MC-9", "LastName": "Same"},
            ]
        },
    )
    assert again[0] == {"id": upserted[0]["id"], "success": True, "errors": [], "created": False}
    deleted = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{contact_id},{upserted[0]['id']}", "allOrNone": "false"}
    )
    assert [d["success"] for d in deleted] == [True, True]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_collections_all_or_none_rolls_back_everything(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    result = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Kept?"},
                {"attributes": {"type": "Contact"}, "LastName": "Bad", "Email": "nope"},
            ],
        },
    )
    assert result[0]["success"] is False
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert result[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_collections_refuse_more_than_200_records(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    records = [{"attributes": {"type": "Contact"}, "LastName": f"L{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    ok = sf.restful("composite/sobjects", method="POST", json={"records": records[:200]})
    assert len(ok) == 200 and all(r["success"] for r in ok)


def test_daily_limit_exhaustion_refuses_calls_with_403(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    assert salesforce_emulator.control("POST", "limits", json={"used": 99_999}).json() == {
        "used": 99_999,
        "max": 100_000,
    }
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Contact")
    assert info.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    refused = salesforce_emulator.http.get(
        f"{salesforce_emulator.data_url}/limits", headers=salesforce_emulator.auth(), timeout=10
    )
    assert refused.status_code == 403
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=100000/100000"
    assert salesforce_emulator.stats()["api_usage"]["refused"] == 2


def test_replication_api_lists_updated_and_deleted_ids(salesforce_emulator: Emulator) -> None:
    sf = salesforce_emulator.sf()
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=1)
    assert sf.Contact.updated(start, end)["ids"] == [kept]
    assert [r["id"] for r in sf.Contact.deleted(start, end)["deletedRecords"]] == [gone]
