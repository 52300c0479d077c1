"""The org id the gateway learns from its own Salesforce login (token responses as recorded in the research)."""

from __future__ import annotations

from gateway.config import SalesforceSettings
from gateway.salesforce.identity import org_id_from_token_response, org_id_key


def test_the_org_comes_from_the_identity_url_else_from_the_token_prefix() -> None:
    jwt_bearer = {  # research: salesforce-platform.md §C1, S4
        "access_token": "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX",
        "instance_url": "https://yourInstance.salesforce.com",
        "id": "https://yourInstance.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
    }
    assert org_id_from_token_response(jwt_bearer) == "00Dxx0000001gPLEAY"
    refresh = {  # §C1, S7 (a recorded response)
        "access_token": "00D36000001HDi3!ARwAQ",
        "id": "https://login.salesforce.com/id/00D36000001HDi3EAG/00536000002PmoeAAC",
    }
    assert org_id_from_token_response(refresh) == "00D36000001HDi3EAG"
    assert org_id_from_token_response({"access_token": "00D36000001HDi3!ARwAQ"}) == "00D36000001HDi3"
    assert org_id_from_token_response({"access_token": "opaque", "id": "https://x/id/not-an-org/005"}) is None
    assert org_id_from_token_response({}) is None


def test_each_login_has_its_own_key_so_another_org_never_reuses_an_old_id() -> None:
    prod = SalesforceSettings(login_url="https://acme.my.salesforce.com", client_id="key", username="int@acme.org")
    sandbox = SalesforceSettings(login_url="https://acme--uat.sandbox.my.salesforce.com", client_id="key")
    assert org_id_key(prod) != org_id_key(sandbox)
    assert org_id_key(prod) == org_id_key(
        SalesforceSettings(login_url="https://ACME.my.salesforce.com/", client_id="key", username="int@acme.org")
    )
