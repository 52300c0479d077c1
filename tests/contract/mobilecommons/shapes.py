"""Mobile Commons' answers and calls as recorded from the real API, written for this project from the recorded facts
(docs/platforms/mobilecommons.md, "Recorded responses": the test fixtures of move-coop/parsons and of
controlshift/upland_mobile_commons_rest, the clients of DFurnes/northstar-mobilecommonsd and
aclu-national/mobile_commons_etl, and Mobile Commons' mData page). Names, numbers and ids are invented; the
structure, attribute names, vocabularies and padding are the recorded ones. Nothing here is copied from those files.
"""

from __future__ import annotations

# GET /api/profiles?from=…&to=… : `num` is the count on this page, `page` the page; no `page_count`. A person who
# texted STOP: profile status Undeliverable, subscription Opted-Out; custom columns padded with newlines and
# spaces, with their own timestamps, and listed empty where unset.
PROFILES = """<?xml version="1.0" encoding="UTF-8"?>
<response success="true">
  <profiles num="2" page="1">
    <profile id="700100200">
      <first_name>Rosa</first_name>
      <last_name>Parks</last_name>
      <phone_number>13073997990</phone_number>
      <email>rosa@example.org</email>
      <status>Undeliverable</status>
      <created_at>2024-02-01 10:00:00 UTC</created_at>
      <updated_at>2024-03-05 12:30:45 UTC</updated_at>
      <opted_out_at>2024-03-05 12:30:45 UTC</opted_out_at>
      <opted_out_source>Texted a STOP word</opted_out_source>
      <source type="Keyword" name="JOIN" id="880011" opt_in_path_id="279022" message_id="5550001"/>
      <address>
        <street1>1 Main St</street1>
        <street2/>
        <city>Cheyenne</city>
        <state>WY</state>
        <postal_code>82001</postal_code>
        <country>US</country>
      </address>
      <last_saved_location>
        <latitude>41.14</latitude>
        <longitude>-104.82</longitude>
        <precision>zip</precision>
        <city>Cheyenne</city>
        <state>WY</state>
        <postal_code>82001</postal_code>
        <country>US</country>
      </last_saved_location>
      <last_saved_districts>
        <congressional_district>WY-AL</congressional_district>
        <state_upper_district>WY-5</state_upper_district>
        <state_lower_district>WY-8</state_lower_district>
        <split_district>No</split_district>
      </last_saved_districts>
      <custom_columns>
        <custom_column name="Favorite Issue"/>
        <custom_column
            name="sf_id"
            created_at="2024-02-01T10:00:00Z"
            updated_at="2024-02-01T10:00:00Z">
            003000000000042AAA
        </custom_column>
        <custom_column
            name="volunteer_shift"
            created_at="2024-02-02T09:00:00Z"
            updated_at="2024-02-03T09:00:00Z">
            Saturday morning
        </custom_column>
      </custom_columns>
      <subscriptions>
        <subscription
            campaign_id="189358"
            campaign_name="National"
            campaign_description=""
            opt_in_path_id="279022"
            status="Opted-Out"
            opt_in_source="JOIN"
            created_at="2024-02-01T10:00:00Z"
            activated_at="2024-02-01T10:00:00Z"
            opted_out_at="2024-03-05T12:30:45Z"
            opt_out_source="Texted a STOP word"/>
      </subscriptions>
      <integrations>
      </integrations>
      <clicks>
      </clicks>
    </profile>
    <profile id="700100201">
      <first_name>Ella</first_name>
      <last_name>Baker</last_name>
      <phone_number>13073997991</phone_number>
      <email/>
      <status>Active Subscriber</status>
      <created_at>2024-02-01 10:00:01 UTC</created_at>
      <updated_at>2024-03-05 12:31:00 UTC</updated_at>
      <opted_out_at/>
      <opted_out_source/>
      <source type="API" name="Salesforce sync" email="api@example.org"/>
      <address>
        <street1/>
        <street2/>
        <city/>
        <state/>
        <postal_code/>
        <country>US</country>
      </address>
      <last_saved_location>
        <latitude/>
        <longitude/>
        <precision/>
        <city/>
        <state/>
        <postal_code/>
        <country/>
      </last_saved_location>
      <last_saved_districts>
        <congressional_district/>
        <state_upper_district/>
        <state_lower_district/>
        <split_district/>
      </last_saved_districts>
      <custom_columns>
        <custom_column name="Favorite Issue"/>
        <custom_column name="sf_id"/>
        <custom_column name="volunteer_shift"/>
      </custom_columns>
      <subscriptions>
        <subscription
            campaign_id="189358"
            campaign_name="National"
            campaign_description=""
            opt_in_path_id="279022"
            status="Active"
            opt_in_source="API"
            created_at="2024-02-01T10:00:01Z"
            activated_at="2024-02-01T10:00:01Z"
            opted_out_at=""
            opt_out_source=""/>
      </subscriptions>
      <integrations>
      </integrations>
      <clicks>
      </clicks>
    </profile>
  </profiles>
</response>
"""

# Any refused call: HTTP 200, success="false", one <error id= message=/>.
INVALID_PHONE = '<response success="false"><error id="5" message="Invalid phone number"/></response>'
RATE_LIMITED = '<response success="false"><error id="27" message="API rate limit exceeded"/></response>'

# Values recorded in the two status vocabularies and the opt-out sources.
SUBSCRIPTION_STATUSES = {"Active": "subscribed", "Opted-Out": "unsubscribed"}
PROFILE_STATUSES = {
    "Active Subscriber": "subscribed",
    "Active subscriber": "subscribed",
    "Undeliverable": "unsubscribed",  # with an opted_out_at, after STOP or an API opt-out
    "Profiles with no Subscriptions": "unknown",
}
OPT_OUT_SOURCES = {"Texted a STOP word", "Opt-out from API"}

# An mData call for a keyword (form or query parameters): phone as 10 digits, keyword in lower case, args the rest
# of the text, the profile's fields and custom columns as profile_<name>. No message_id was ever recorded.
MDATA_CALL = {
    "phone": "3073997991",
    "keyword": "rally",
    "args": "yes count me in",
    "profile_id": "700100201",
    "profile_first_name": "Ella",
    "profile_last_name": "Baker",
    "profile_email": "",
    "profile_street1": "",
    "profile_city": "",
    "profile_state": "",
    "profile_postal_code": "",
    "profile_sf_id": "003000000000043AAA",
}
