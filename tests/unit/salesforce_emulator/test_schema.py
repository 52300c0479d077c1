"""Loading a package's SFDX source: custom objects, fields, custom metadata records."""

from __future__ import annotations

from pathlib import Path

from gateway.emulators.salesforce.schema import build_schema

META = 'xmlns="http://soap.sforce.com/2006/04/metadata"'


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{text}')


def test_package_objects_fields_and_metadata_records(tmp_path: Path) -> None:
    objects = tmp_path / "force-app" / "main" / "default" / "objects"
    write(
        objects / "Contact" / "fields" / "Ext__c.field-meta.xml",
        f"<CustomField {META}><fullName>Ext__c</fullName><type>Text</type><length>10</length>"
        "<externalId>true</externalId><unique>true</unique></CustomField>",
    )
    write(
        objects / "Thing__c" / "Thing__c.object-meta.xml",
        f"<CustomObject {META}><label>Thing</label><nameField><type>AutoNumber</type>"
        "<displayFormat>T-{0000}</displayFormat><label>Thing No</label></nameField></CustomObject>",
    )
    write(
        objects / "Thing__c" / "fields" / "Kind__c.field-meta.xml",
        f"<CustomField {META}><fullName>Kind__c</fullName><type>Picklist</type><valueSet><restricted>true"
        "</restricted><valueSetDefinition><value><fullName>A</fullName><default>true</default></value><value>"
        "<fullName>B</fullName><default>false</default></value></valueSetDefinition></valueSet></CustomField>",
    )
    write(
        objects / "Conf__mdt" / "Conf__mdt.object-meta.xml", f"<CustomObject {META}><label>Conf</label></CustomObject>"
    )
    write(
        objects / "Conf__mdt" / "fields" / "On__c.field-meta.xml",
        f"<CustomField {META}><fullName>On__c</fullName><type>Checkbox</type><defaultValue>false</defaultValue>"
        "</CustomField>",
    )
    write(
        tmp_path / "force-app" / "main" / "default" / "customMetadata" / "Conf.First.md-meta.xml",
        f'<CustomMetadata {META} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><label>First one</label><values><field>On__c</field>'
        '<value xsi:type="xsd:boolean">true</value></values></CustomMetadata>',
    )
    schema = build_schema(tmp_path)
    ext = schema["contact"].field("ext__c")
    assert ext is not None and ext.external_id and ext.unique and ext.length == 10 and ext.custom
    thing = schema["thing__c"]
    assert thing.kind == "custom" and thing.key_prefix.startswith("a")
    assert thing.field("Name") is not None and thing.fields["name"].auto_number_format == "T-{0000}"
    kind = thing.fields["kind__c"]
    assert kind.picklist == ["A", "B"] and kind.restricted and kind.default == "A"
    conf = schema["conf__mdt"]
    assert conf.kind == "mdt"
    assert conf.records == [
        {
            "DeveloperName": "First",
            "MasterLabel": "First one",
            "Label": "First one",
            "QualifiedApiName": "First",
            "Language": "en_US",
            "NamespacePrefix": None,
            "On__c": True,
        }
    ]
    assert build_schema(tmp_path / "missing").keys() == build_schema(None).keys()
