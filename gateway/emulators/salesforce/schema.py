"""The org's schema: standard objects with their common fields, plus everything `sfdx-package/` defines.

Guarantees: a field or object that neither the standard set below nor the package's SFDX source defines
does not exist (callers turn that into INVALID_FIELD / INVALID_TYPE); names are matched case-insensitively
and reported in their canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

_NS = "{http://soap.sforce.com/2006/04/metadata}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

TEXT_TYPES = {
    "id",
    "reference",
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "combobox",
    "encryptedstring",
}
NUMBER_TYPES = {"double", "currency", "percent"}


@dataclass
class FieldDef:
    """One field as describe reports it, plus what the store needs to hold and check it."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    required: bool = False  # required on create (nillable=False and no default)
    createable: bool = True
    updateable: bool = True
    calculated: bool = False
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    id_lookup: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    default: Any = None
    picklist: list[str] = field(default_factory=list)
    restricted: bool = False
    custom: bool = False
    auto_number_format: str | None = None
    formula: str | None = None

    @property
    def sql_type(self) -> str:
        if self.type in ("boolean", "int"):
            return "INTEGER"
        if self.type in NUMBER_TYPES:
            return "REAL"
        if self.type in ("id", "reference"):
            return "TEXT"
        return "TEXT COLLATE NOCASE"

    @property
    def soap_type(self) -> str:
        return {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "int": "xsd:int",
            "double": "xsd:double",
            "currency": "xsd:double",
            "percent": "xsd:double",
            "date": "xsd:date",
            "datetime": "xsd:dateTime",
        }.get(self.type, "xsd:string")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label or self.name,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 0,
            "byteLength": self.length * 3,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "idLookup": self.id_lookup or self.external_id or self.type == "id",
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "defaultedOnCreate": self.default is not None
            or self.auto_number_format is not None
            or self.name in ("Id", "CreatedDate", "OwnerId", "CreatedById"),
            "defaultValue": self.default,
            "filterable": self.type != "textarea" or self.length <= 255,
            "sortable": self.type not in ("textarea", "multipicklist"),
            "groupable": self.type != "textarea",
            "soapType": self.soap_type,
            "autoNumber": self.auto_number_format is not None,
            "restrictedPicklist": self.restricted,
            "deprecatedAndHidden": False,
            "compoundFieldName": None,
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
        }


@dataclass
class SObjectDef:
    """One sObject type: its fields and the behaviours the emulator gives it."""

    name: str
    label: str
    key_prefix: str
    kind: str = "standard"  # standard | custom | event | mdt
    fields: dict[str, FieldDef] = field(default_factory=dict)  # lower-case name -> field
    records: list[dict[str, Any]] = field(default_factory=list)  # custom metadata records
    custom_setting: bool = False

    @property
    def custom(self) -> bool:
        return self.kind != "standard"

    @property
    def queryable(self) -> bool:
        return self.kind != "event"

    @property
    def writable(self) -> bool:
        return self.kind in ("standard", "custom", "event")

    @property
    def stored(self) -> bool:
        return self.kind != "event"

    def add(self, f: FieldDef) -> None:
        self.fields[f.name.lower()] = f

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        lname = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lname:
                return f
        return None

    def describe(self, version: str) -> dict[str, Any]:
        base = self.describe_global(version)
        base["fields"] = [f.describe() for f in self.fields.values()]
        base["childRelationships"] = []
        base["recordTypeInfos"] = []
        return base

    def describe_global(self, version: str) -> dict[str, Any]:
        url = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "customSetting": self.custom_setting,
            "queryable": self.queryable,
            "createable": self.writable,
            "updateable": self.kind in ("standard", "custom"),
            "deletable": self.kind in ("standard", "custom"),
            "retrieveable": self.queryable,
            "searchable": self.kind in ("standard", "custom"),
            "triggerable": self.kind != "mdt",
            "replicateable": self.kind in ("standard", "custom"),
            "layoutable": self.kind in ("standard", "custom"),
            "undeletable": self.kind in ("standard", "custom"),
            "mergeable": False,
            "feedEnabled": False,
            "activateable": False,
            "deprecatedAndHidden": False,
            "isSubtype": False,
            "urls": {"sobject": url, "describe": url + "/describe", "rowTemplate": url + "/{ID}"},
        }


def _f(name: str, type_: str, **kw: Any) -> FieldDef:
    defaults: dict[str, Any] = {"label": kw.pop("label", name)}
    if type_ in ("string", "email", "phone", "url", "picklist") and "length" not in kw:
        defaults["length"] = 255 if type_ != "phone" else 40
    if type_ == "textarea" and "length" not in kw:
        defaults["length"] = 32000
    if type_ == "boolean":
        kw.setdefault("nillable", False)
        kw.setdefault("default", False)
    return FieldDef(name=name, type=type_, **{**defaults, **kw})


def _system_fields(owner: bool = True) -> list[FieldDef]:
    ro = {"createable": False, "updateable": False, "nillable": False}
    out = [
        _f("Id", "id", length=18, **ro),
        _f("IsDeleted", "boolean", **ro),
        _f("CreatedDate", "datetime", **ro),
        _f("CreatedById", "reference", length=18, reference_to=["User"], relationship_name="CreatedBy", **ro),
        _f("LastModifiedDate", "datetime", **ro),
        _f("LastModifiedById", "reference", length=18, reference_to=["User"], relationship_name="LastModifiedBy", **ro),
        _f("SystemModstamp", "datetime", **ro),
    ]
    if owner:
        out.append(
            _f("OwnerId", "reference", length=18, reference_to=["User"], relationship_name="Owner", nillable=False)
        )
    return out


def _address(prefix: str) -> list[FieldDef]:
    return [
        _f(f"{prefix}Street", "textarea", length=255),
        _f(f"{prefix}City", "string", length=40),
        _f(f"{prefix}State", "string", length=80),
        _f(f"{prefix}PostalCode", "string", length=20),
        _f(f"{prefix}Country", "string", length=80),
    ]


def _name_fields() -> list[FieldDef]:
    return [
        _f("Salutation", "picklist", length=40, picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."]),
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False, required=True),
        _f("Name", "string", length=121, createable=False, updateable=False, calculated=True, nillable=False),
    ]


def standard_objects() -> dict[str, SObjectDef]:
    """Contact, Lead, Account, Opportunity, OpportunityContactRole and User with their common fields."""
    objs: dict[str, SObjectDef] = {}

    def obj(name: str, label: str, prefix: str, fields: list[FieldDef], owner: bool = True) -> None:
        o = SObjectDef(name=name, label=label, key_prefix=prefix)
        for f in [*_system_fields(owner), *fields]:
            o.add(f)
        objs[name.lower()] = o

    lead_sources = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
    obj(
        "Account",
        "Account",
        "001",
        [
            _f("Name", "string", nillable=False, required=True, label="Account Name"),
            _f(
                "Type", "picklist", picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"]
            ),
            _f("Industry", "picklist", picklist=["Education", "Government", "Not For Profit", "Technology", "Other"]),
            _f("Phone", "phone"),
            _f("Fax", "phone"),
            _f("Website", "url"),
            _f("AccountNumber", "string", length=40),
            *_address("Billing"),
            *_address("Shipping"),
            _f("NumberOfEmployees", "int"),
            _f("AnnualRevenue", "currency", precision=18, scale=0),
            _f("Description", "textarea"),
        ],
    )
    obj(
        "Contact",
        "Contact",
        "003",
        [
            _f("AccountId", "reference", length=18, reference_to=["Account"], relationship_name="Account"),
            *_name_fields(),
            _f("Title", "string", length=128),
            _f("Department", "string", length=80),
            _f("Email", "email", length=80),
            _f("Phone", "phone"),
            _f("MobilePhone", "phone"),
            _f("HomePhone", "phone"),
            _f("OtherPhone", "phone"),
            _f("Fax", "phone"),
            *_address("Mailing"),
            *_address("Other"),
            _f("Birthdate", "date"),
            _f("Description", "textarea"),
            _f("LeadSource", "picklist", length=40, picklist=lead_sources),
            _f("HasOptedOutOfEmail", "boolean", label="Email Opt Out"),
            _f("HasOptedOutOfFax", "boolean"),
            _f("DoNotCall", "boolean"),
        ],
    )
    obj(
        "Lead",
        "Lead",
        "00Q",
        [
            *_name_fields(),
            _f("Title", "string", length=128),
            _f("Company", "string", nillable=False, required=True),
            _f(
                "Status",
                "picklist",
                length=40,
                nillable=False,
                default="Open - Not Contacted",
                picklist=[
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                ],
            ),
            _f("Email", "email", length=80),
            _f("Phone", "phone"),
            _f("MobilePhone", "phone"),
            _f("Fax", "phone"),
            *_address(""),
            _f("Website", "url"),
            _f("Description", "textarea"),
            _f("LeadSource", "picklist", length=40, picklist=lead_sources),
            _f("Industry", "picklist", picklist=["Education", "Government", "Not For Profit", "Technology", "Other"]),
            _f("Rating", "picklist", picklist=["Hot", "Warm", "Cold"]),
            _f("NumberOfEmployees", "int"),
            _f("AnnualRevenue", "currency", precision=18, scale=0),
            _f("IsConverted", "boolean", createable=True, updateable=False),
            _f("ConvertedDate", "date", createable=False, updateable=False),
            _f(
                "ConvertedContactId",
                "reference",
                length=18,
                reference_to=["Contact"],
                relationship_name="ConvertedContact",
                createable=False,
                updateable=False,
            ),
            _f(
                "ConvertedAccountId",
                "reference",
                length=18,
                reference_to=["Account"],
                relationship_name="ConvertedAccount",
                createable=False,
                updateable=False,
            ),
            _f("HasOptedOutOfEmail", "boolean", label="Email Opt Out"),
            _f("HasOptedOutOfFax", "boolean"),
            _f("DoNotCall", "boolean"),
        ],
    )
    obj(
        "Opportunity",
        "Opportunity",
        "006",
        [
            _f("AccountId", "reference", length=18, reference_to=["Account"], relationship_name="Account"),
            _f("ContactId", "reference", length=18, reference_to=["Contact"], relationship_name="Contact"),
            _f("Name", "string", length=120, nillable=False, required=True),
            _f("Description", "textarea"),
            _f(
                "StageName",
                "picklist",
                nillable=False,
                required=True,
                length=255,
                picklist=[
                    "Prospecting",
                    "Qualification",
                    "Needs Analysis",
                    "Value Proposition",
                    "Id. Decision Makers",
                    "Perception Analysis",
                    "Proposal/Price Quote",
                    "Negotiation/Review",
                    "Pledged",
                    "Posted",
                    "Closed Won",
                    "Closed Lost",
                ],
            ),
            _f("Amount", "currency", precision=18, scale=2),
            _f("Probability", "percent", precision=3, scale=0),
            _f("CloseDate", "date", nillable=False, required=True),
            _f("Type", "picklist", picklist=["New Customer", "Existing Customer - Upgrade", "Donation", "Grant"]),
            _f("LeadSource", "picklist", length=40, picklist=lead_sources),
            _f("IsClosed", "boolean", createable=False, updateable=False, calculated=True),
            _f("IsWon", "boolean", createable=False, updateable=False, calculated=True),
            _f(
                "ForecastCategoryName",
                "picklist",
                length=40,
                picklist=["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
            ),
        ],
    )
    obj(
        "OpportunityContactRole",
        "Opportunity Contact Role",
        "00K",
        [
            _f(
                "OpportunityId",
                "reference",
                length=18,
                reference_to=["Opportunity"],
                relationship_name="Opportunity",
                nillable=False,
                required=True,
                updateable=False,
            ),
            _f(
                "ContactId",
                "reference",
                length=18,
                reference_to=["Contact"],
                relationship_name="Contact",
                nillable=False,
                required=True,
            ),
            _f("Role", "picklist", length=40, picklist=["Business User", "Decision Maker", "Donor", "Other"]),
            _f("IsPrimary", "boolean"),
        ],
        owner=False,
    )
    obj(
        "User",
        "User",
        "005",
        [
            _f("Username", "string", length=80, nillable=False, required=True, unique=True),
            _f("FirstName", "string", length=40),
            _f("LastName", "string", length=80, nillable=False, required=True),
            _f("Name", "string", length=121, createable=False, updateable=False, calculated=True),
            _f("Email", "email", length=128, nillable=False, required=True),
            _f("Alias", "string", length=8, nillable=False),
            _f("IsActive", "boolean", default=True),
            _f("UserType", "picklist", length=40, default="Standard", picklist=["Standard", "AutomatedProcess"]),
            _f(
                "TimeZoneSidKey",
                "picklist",
                length=40,
                default="America/Los_Angeles",
                picklist=["America/Los_Angeles", "America/New_York", "GMT"],
            ),
        ],
        owner=False,
    )
    return objs


# --- the package loader ---------------------------------------------------------------------------------

_TYPE_MAP = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "EncryptedText": "encryptedstring",
    "Checkbox": "boolean",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "AutoNumber": "string",
    "MetadataRelationship": "string",
}


def _text(el: Any, tag: str, default: str | None = None) -> str | None:
    child = el.find(_NS + tag)
    if child is None or child.text is None:
        return default
    return str(child.text).strip()


def _bool(el: Any, tag: str) -> bool:
    return (_text(el, tag) or "").lower() == "true"


def parse_field(path: Path) -> FieldDef:
    """One `*.field-meta.xml` as a FieldDef."""
    root = ElementTree.parse(path).getroot()
    name = _text(root, "fullName") or path.name.split(".")[0]
    sf_type = _text(root, "type") or "Text"
    formula = _text(root, "formula")
    ftype = _TYPE_MAP.get(sf_type, "string")
    if sf_type == "Number" and (_text(root, "scale") or "0") == "0" and formula is None:
        ftype = "double"
    length = int(_text(root, "length") or 0)
    if ftype == "email":
        length = 80
    elif ftype == "phone":
        length = 40
    elif ftype in {"url", "picklist"}:
        length = 255
    elif ftype == "reference":
        length = 18
    elif sf_type == "AutoNumber":
        length = 30
    default_text = _text(root, "defaultValue")
    default: Any = None
    if ftype == "boolean":
        default = (default_text or "false").lower() == "true"
    elif default_text and default_text.startswith('"') and default_text.endswith('"'):
        default = default_text[1:-1]
    picklist: list[str] = []
    restricted = False
    value_set = root.find(_NS + "valueSet")
    if value_set is not None:
        restricted = _bool(value_set, "restricted")
        definition = value_set.find(_NS + "valueSetDefinition")
        if definition is not None:
            for value in definition.findall(_NS + "value"):
                full = _text(value, "fullName")
                if full:
                    picklist.append(full)
                    if _bool(value, "default"):
                        default = full
    required = _bool(root, "required") or sf_type == "MasterDetail"
    relationship = _text(root, "relationshipName")
    reference_to = _text(root, "referenceTo")
    calculated = formula is not None or sf_type == "AutoNumber"
    return FieldDef(
        name=name,
        type=ftype,
        label=_text(root, "label") or name,
        length=length,
        precision=int(_text(root, "precision") or 0),
        scale=int(_text(root, "scale") or 0),
        nillable=not required and ftype != "boolean",
        required=required and default is None,
        createable=not calculated,
        updateable=(not calculated and sf_type != "MasterDetail")
        or (sf_type == "MasterDetail" and _bool(root, "reparentableMasterDetail")),
        calculated=calculated,
        external_id=_bool(root, "externalId"),
        unique=_bool(root, "unique"),
        case_sensitive=_bool(root, "caseSensitive"),
        reference_to=[reference_to] if reference_to else [],
        relationship_name=(relationship + "__r") if relationship else None,
        default=default,
        picklist=picklist,
        restricted=restricted,
        custom=True,
        auto_number_format=_text(root, "displayFormat") if sf_type == "AutoNumber" else None,
        formula=formula,
    )


def _custom_prefix(kind: str, index: int) -> str:
    first = {"custom": "a", "mdt": "m", "event": "e"}[kind]
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return first + alphabet[index // 36 % 36] + alphabet[index % 36]


def _metadata_fields(kind: str, root: Any, label: str) -> list[FieldDef]:
    ro = {"createable": False, "updateable": False}
    if kind == "mdt":
        return [
            _f("Id", "id", length=18, nillable=False, **ro),
            _f("DeveloperName", "string", length=40, nillable=False, **ro),
            _f("MasterLabel", "string", length=40, nillable=False, **ro),
            _f("Label", "string", length=40, nillable=False, **ro),
            _f("Language", "picklist", length=40, **ro),
            _f("NamespacePrefix", "string", length=15, **ro),
            _f("QualifiedApiName", "string", length=70, nillable=False, **ro),
            _f("SystemModstamp", "datetime", nillable=False, **ro),
        ]
    if kind == "event":
        return [
            _f("ReplayId", "string", **ro),
            _f("EventUuid", "string", length=36, **ro),
            _f("CreatedDate", "datetime", nillable=False, **ro),
            _f("CreatedById", "reference", length=18, reference_to=["User"], relationship_name="CreatedBy", **ro),
        ]
    name_field = root.find(_NS + "nameField")
    name_def: FieldDef
    if name_field is not None and _text(name_field, "type") == "AutoNumber":
        name_def = _f(
            "Name",
            "string",
            length=80,
            label=_text(name_field, "label") or label + " Name",
            createable=False,
            updateable=False,
            calculated=False,
            nillable=False,
            auto_number_format=_text(name_field, "displayFormat") or "{0}",
        )
    else:
        name_def = _f("Name", "string", length=80, label=label + " Name")
    return [*_system_fields(owner=True), name_def]


def _record_value(value_el: Any) -> Any:
    raw = value_el.text
    kind = (value_el.get(_XSI_TYPE) or "").split(":")[-1]
    if value_el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true" or raw is None:
        return None
    if kind == "boolean":
        return raw.strip().lower() == "true"
    if kind in ("double", "int", "decimal"):
        return float(raw)
    return raw


def load_package(package_dir: Path, objects: dict[str, SObjectDef]) -> dict[str, SObjectDef]:
    """Add every object, field and custom-metadata record found under `package_dir` to `objects`.

    Walks all `objects/<Obj>/` folders (any package directory layout) so the loader keeps working whatever
    the package's folder structure; a missing package directory adds nothing.
    """
    if not package_dir.is_dir():
        return objects
    object_dirs = sorted(
        {p.parent for p in package_dir.rglob("*.object-meta.xml")}
        | {p.parent.parent for p in package_dir.rglob("fields/*.field-meta.xml")}
    )
    counters = {"custom": 0, "mdt": 0, "event": 0}
    for odir in object_dirs:
        name = odir.name
        meta = odir / f"{name}.object-meta.xml"
        root = ElementTree.parse(meta).getroot() if meta.exists() else None
        obj = objects.get(name.lower())
        if obj is None:
            kind = "mdt" if name.endswith("__mdt") else "event" if name.endswith("__e") else "custom"
            label = (_text(root, "label") if root is not None else None) or name
            obj = SObjectDef(
                name=name,
                label=label,
                key_prefix=_custom_prefix(kind, counters[kind]),
                kind=kind,
                custom_setting=root is not None and _text(root, "customSettingsType") is not None,
            )
            counters[kind] += 1
            for f in _metadata_fields(kind, root, label):
                obj.add(f)
            objects[name.lower()] = obj
        for fpath in sorted((odir / "fields").glob("*.field-meta.xml")):
            fdef = parse_field(fpath)
            if obj.kind == "mdt":
                fdef.createable = fdef.updateable = False
            obj.add(fdef)
    for rpath in sorted(package_dir.rglob("customMetadata/*.md-meta.xml")):
        type_name, _, rest = rpath.name.partition(".")
        developer_name = rest.removesuffix(".md-meta.xml")
        obj = objects.get((type_name + "__mdt").lower())
        if obj is None:
            continue
        root = ElementTree.parse(rpath).getroot()
        label = _text(root, "label") or developer_name
        record: dict[str, Any] = {
            "DeveloperName": developer_name,
            "MasterLabel": label,
            "Label": label,
            "QualifiedApiName": developer_name,
            "Language": "en_US",
            "NamespacePrefix": None,
        }
        for values in root.findall(_NS + "values"):
            fname = _text(values, "field")
            value_el = values.find(_NS + "value")
            if fname and value_el is not None and obj.field(fname) is not None:
                record[obj.fields[fname.lower()].name] = _record_value(value_el)
        obj.records.append(record)
    return objects


def build_schema(package_dir: Path | None) -> dict[str, SObjectDef]:
    """The full schema: standard objects plus the package's definitions (lower-case name -> object)."""
    objects = standard_objects()
    if package_dir is not None:
        load_package(package_dir, objects)
    return objects
