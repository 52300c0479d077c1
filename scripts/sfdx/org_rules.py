"""Platform rules a Salesforce org enforces at deploy or at run time, checked on the package's metadata offline.

Each rule is a function named after the documented behaviour it encodes, with the documentation's title in its
comment; the facts and their sources are in docs/salesforce-org-rules.md. Every rule has a bad example under
scripts/sfdx/tests/bad-metadata/<rule name>/ that the gate-selftest gate proves it fires on.
Usage: org_rules.py PACKAGE_DIR [--project-root DIR]. Exits 1 with one line per problem
(``path:line: [rule] message``), 0 when the package keeps every rule.
``org_rules.py --selftest BAD_EXAMPLES_DIR`` checks that each rule fires on its bad example, and only it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

MD_NS = "http://soap.sforce.com/2006/04/metadata"
NS = {"md": MD_NS}
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
EXTERNAL_CREDENTIAL = "Messaging_Gateway_Auth"

# The parts of the standard address compound fields (Object Reference, "Address Compound Fields") and of a
# custom address or geolocation field, which Salesforce exposes as <name>__<Part>__s.
ADDRESS_PARTS = "Street|City|State|PostalCode|Country|StateCode|CountryCode|Latitude|Longitude|GeocodeAccuracy"
STANDARD_ADDRESS_PREFIXES = (
    "",
    "Mailing",
    "Other",
    "Billing",
    "Shipping",
    "QuoteTo",
    "AdditionalTo",
    "BillTo",
    "ShipTo",
)
STANDARD_ADDRESS_PART = re.compile(rf"^(?P<prefix>{'|'.join(STANDARD_ADDRESS_PREFIXES)})(?P<part>{ADDRESS_PARTS})$")
CUSTOM_COMPOUND_PART = re.compile(rf"^(?P<base>\w+?)__(?P<part>{ADDRESS_PARTS})__s$", re.IGNORECASE)
# Description of a PermissionSet: a 255-character field in the Object Reference (see the rule's comment).
PERMISSION_SET_DESCRIPTION_MAX = 255
SHARED_OBJECT_MODELS = {"Private", "ControlledByParent"}
# Apex source: comments and string literals are removed before looking for calls.
APEX_COMMENT_OR_STRING = re.compile(r"/\*.*?\*/|//[^\n]*|'(?:\\.|[^'\\])*'", re.DOTALL)
PLATFORM_EVENT_TRIGGER = re.compile(r"\btrigger\s+\w+\s+on\s+(?P<event>\w+__e)\s*\(", re.IGNORECASE)
ENQUEUES_WORK = re.compile(r"\b(?:System\s*\.\s*enqueueJob|Database\s*\.\s*executeBatch)\s*\(", re.IGNORECASE)
SETS_RESUME_CHECKPOINT = re.compile(r"\.\s*setResumeCheckpoint\s*\(", re.IGNORECASE)
CALLED_CLASS = re.compile(r"\b(?P<name>[A-Za-z]\w*)\s*\.\s*\w+\s*\(")
# A tab style as the Metadata API writes it (CustomTab.motif, e.g. "Custom70: Handsaw"). Salesforce's documentation
# gives the form but no table of numbers and names; the standard styles are numbered 1 to 100 (third-party lists).
TAB_MOTIF = re.compile(r"^Custom(?P<number>\d+): (?P<name>\S.*)$")
TAB_MOTIF_NUMBERS = range(1, 101)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Package:
    """The package's metadata files, parsed once."""

    root: Path
    project_root: Path

    def files(self, pattern: str) -> Iterator[tuple[Path, etree._Element]]:
        for path in sorted(self.root.rglob(pattern)):
            if "__tests__" not in path.parts:
                yield path, etree.parse(str(path), SAFE_PARSER).getroot()

    def custom_fields(self) -> dict[str, etree._Element]:
        """``Object.Field__c`` -> the field's root element, for every field the package defines."""
        fields = {}
        for path, root in self.files("objects/*/fields/*.field-meta.xml"):
            fields[f"{path.parent.parent.name}.{path.name.removesuffix('.field-meta.xml')}"] = root
        return fields

    def field_permissions(self) -> Iterator[tuple[Path, etree._Element, str, bool]]:
        for path, root in self.files("*.permissionset-meta.xml"):
            for permission in root.iterfind("md:fieldPermissions", NS):
                field = permission.findtext("md:field", "", NS).strip()
                yield path, permission, field, permission.findtext("md:editable", "", NS).strip() == "true"


Rule = Callable[[Package], Iterator[Problem]]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    RULES.append(function)
    return function


def _problem(path: Path, element: etree._Element | None, function: Callable[..., object], message: str) -> Problem:
    line = element.sourceline if element is not None and element.sourceline else 1
    return Problem(path, line, function.__name__, message)


@rule
def compound_field_parts_take_no_field_permissions(package: Package) -> Iterator[Problem]:
    """Object Reference, "Compound Field Considerations and Limitations" and "Address Compound Fields"; Object
    Reference, "FieldPermissions" (Field is a restricted picklist of permissionable fields). Field access to an
    address or geolocation is granted on the compound field (Contact.MailingAddress, Lead.Address); a permission
    on one of its parts fails the deploy ("bad value for restricted picklist field")."""
    for path, permission, field, _ in package.field_permissions():
        sobject, _, name = field.partition(".")
        standard = STANDARD_ADDRESS_PART.match(name) if not name.endswith(("__c", "__s")) else None
        custom = CUSTOM_COMPOUND_PART.match(name)
        if standard:
            compound = f"{sobject}.{standard['prefix']}Address"
        elif custom:
            compound = f"{sobject}.{custom['base']}__c"
        else:
            continue
        yield _problem(
            path,
            permission,
            compound_field_parts_take_no_field_permissions,
            f"field permission on {field}, a part of the compound field {compound}: grant {compound} instead",
        )


@rule
def required_fields_take_no_field_permissions(package: Package) -> Iterator[Problem]:
    """Salesforce Help, "Field-Level Security": a required field is always visible and editable, so it has no
    field-level security to grant, and a permission set that names it fails the deploy. Master-detail fields are
    required on the detail object."""
    fields = package.custom_fields()
    for path, permission, field, _ in package.field_permissions():
        definition = fields.get(field)
        if definition is None:
            continue
        required = definition.findtext("md:required", "", NS).strip() == "true"
        if required or definition.findtext("md:type", "", NS).strip() == "MasterDetail":
            yield _problem(
                path,
                permission,
                required_fields_take_no_field_permissions,
                f"field permission on {field}, a required field: remove it (required fields are always accessible)",
            )


@rule
def calculated_fields_are_never_editable(package: Package) -> Iterator[Problem]:
    """Salesforce Help, "Formula Field" and "Custom Field Types" (Auto Number, Roll-Up Summary): these fields are
    read-only, so an editable field permission on one fails the deploy."""
    fields = package.custom_fields()
    for path, permission, field, editable in package.field_permissions():
        definition = fields.get(field)
        if definition is None or not editable:
            continue
        kind = definition.findtext("md:type", "", NS).strip()
        if definition.find("md:formula", NS) is not None or kind in ("AutoNumber", "Summary"):
            yield _problem(
                path,
                permission,
                calculated_fields_are_never_editable,
                f"editable field permission on {field}, a calculated field: make it read-only",
            )


def _principal_grants(root: etree._Element) -> list[etree._Element]:
    return [
        access
        for access in root.iterfind("md:externalCredentialPrincipalAccesses", NS)
        if access.findtext("md:enabled", "", NS).strip() == "true"
    ]


@rule
def named_principal_callouts_need_user_external_credential_access(package: Package) -> Iterator[Problem]:
    """Salesforce Help, "Permission Concepts for User External Credentials": a user making a callout through an
    OAuth named principal needs Modify All Records on the User External Credential object (which brings Read,
    Edit, Delete and View All). Without it the callout fails with "We couldn't access the credential(s)"."""
    needed = ("allowRead", "allowEdit", "allowDelete", "viewAllRecords", "modifyAllRecords")
    for path, root in package.files("*.permissionset-meta.xml"):
        grants = _principal_grants(root)
        if not grants:
            continue
        access = next(
            (
                permission
                for permission in root.iterfind("md:objectPermissions", NS)
                if permission.findtext("md:object", "", NS).strip() == "UserExternalCredential"
            ),
            None,
        )
        missing = [] if access is None else [n for n in needed if access.findtext(f"md:{n}", "", NS).strip() != "true"]
        if access is None or missing:
            what = (
                f"{', '.join(missing)} false"
                if access is not None
                else "no objectPermissions for UserExternalCredential"
            )
            yield _problem(
                path,
                grants[0],
                named_principal_callouts_need_user_external_credential_access,
                f"grants an External Credential principal but {what}: give UserExternalCredential Modify All Records",
            )


def _object_permissions(root: etree._Element) -> dict[str, etree._Element]:
    return {
        permission.findtext("md:object", "", NS).strip(): permission
        for permission in root.iterfind("md:objectPermissions", NS)
    }


def _granted(permission: etree._Element | None, *names: str) -> bool:
    return permission is not None and any(permission.findtext(f"md:{n}", "", NS).strip() == "true" for n in names)


@rule
def contact_access_needs_account_access(package: Package) -> Iterator[Problem]:
    """Object Reference, "ObjectPermissions" and Tooling API, "PermissionDependency" (object permissions depend on
    other objects' permissions, and a permission set that lacks the required one fails to save: "Permission Read
    Contracts depends on permission(s): Read Accounts", as reproduced by admins and vendors). Contact is Account's
    child in sharing like Contract, so a permission set that grants Contact access grants Read on Account, and
    View All on Account with View All on Contact. That Contact's own dependency reads exactly so is not stated in
    the pages we read: granting the Account side is harmless under every reading."""
    for path, root in package.files("*.permissionset-meta.xml"):
        permissions = _object_permissions(root)
        contact = permissions.get("Contact")
        account = permissions.get("Account")
        crud = ("allowRead", "allowCreate", "allowEdit", "allowDelete", "viewAllRecords", "modifyAllRecords")
        if not _granted(contact, *crud):
            continue
        if not _granted(account, "allowRead"):
            yield _problem(
                path,
                contact,
                contact_access_needs_account_access,
                "grants access to Contact but not Read on Account: add Account with allowRead",
            )
        elif _granted(contact, "viewAllRecords", "modifyAllRecords") and not _granted(account, "viewAllRecords"):
            yield _problem(
                path,
                contact,
                contact_access_needs_account_access,
                "grants View All on Contact but not on Account: add viewAllRecords on Account",
            )


@rule
def the_credential_diagnosis_knows_every_permission_set_granting_the_principal(package: Package) -> Iterator[Problem]:
    """MessagingCredentialAccess.PACKAGE_PERMISSION_SETS must name exactly the package's permission sets that grant
    a Messaging_Gateway_Auth principal (and, by the rule above, User External Credentials): the relay and the Setup
    section judge a user's access by it."""
    granting = set()
    for path, root in package.files("*.permissionset-meta.xml"):
        for access in _principal_grants(root):
            if access.findtext("md:externalCredentialPrincipal", "", NS).startswith(f"{EXTERNAL_CREDENTIAL}-"):
                granting.add(path.name.removesuffix(".permissionset-meta.xml"))
    source = next(package.root.rglob("MessagingCredentialAccess.cls"), None)
    if source is None:
        return
    text = source.read_text(encoding="utf-8")
    found = re.search(r"PACKAGE_PERMISSION_SETS\s*=\s*new Set<String>\s*\{(?P<names>[^}]*)\}", text)
    listed = set(re.findall(r"'([^']+)'", found["names"])) if found else set()
    if listed != granting:
        line = text[: found.start()].count("\n") + 1 if found else 1
        yield Problem(
            source,
            line,
            "the_credential_diagnosis_knows_every_permission_set_granting_the_principal",
            f"PACKAGE_PERMISSION_SETS lists {sorted(listed)}, but the permission sets granting a {EXTERNAL_CREDENTIAL}"
            f" principal are {sorted(granting)}",
        )


@rule
def the_checkbox_rule_knows_every_checkbox_of_the_package(package: Package) -> Iterator[Problem]:
    """The PMD rule CheckboxIsTrueOrFalse (scripts/sfdx/pmd-org-rules.xml) finds null tests on the package's
    checkbox fields by name: its checkboxFields property must name exactly the Checkbox fields the package
    defines, or a new checkbox escapes the rule."""
    ruleset = package.project_root / "scripts" / "sfdx" / "pmd-org-rules.xml"
    if not ruleset.exists():
        return
    checkboxes = {
        name.split(".", 1)[1]
        for name, definition in package.custom_fields().items()
        if definition.findtext("md:type", "", NS).strip() == "Checkbox"
    }
    if not checkboxes:
        return
    root = etree.parse(str(ruleset), SAFE_PARSER).getroot()
    pmd = {"p": "http://pmd.sourceforge.net/ruleset/2.0.0"}
    prop = root.find(".//p:rule[@name='CheckboxIsTrueOrFalse']//p:property[@name='checkboxFields']", pmd)
    listed = {v.strip() for v in (prop.get("value", "") if prop is not None else "").split(",") if v.strip()}
    if listed != checkboxes:
        yield Problem(
            ruleset,
            prop.sourceline if prop is not None and prop.sourceline else 1,
            "the_checkbox_rule_knows_every_checkbox_of_the_package",
            f"checkboxFields must be exactly the package's Checkbox fields: add {sorted(checkboxes - listed)},"
            f" remove {sorted(listed - checkboxes)}",
        )


def _custom_metadata(package: Package, type_name: str) -> Iterator[tuple[Path, dict[str, str | None]]]:
    """The package's records of a custom metadata type: field -> value (None for xsi:nil)."""
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for path, root in package.files(f"customMetadata/{type_name}.*.md-meta.xml"):
        values: dict[str, str | None] = {}
        for item in root.iterfind("md:values", NS):
            value = item.find("md:value", NS)
            nil_value = value is None or value.get(nil) == "true"
            values[item.findtext("md:field", "", NS).strip()] = None if nil_value else (value.text or "").strip()
        yield path, values


def _apex_rows(text: str, constant: str) -> tuple[set[str], int]:
    found = re.search(rf"{constant}\s*=\s*new List<String>\s*\{{(?P<rows>[^}}]*)\}}", text)
    if not found:
        return set(), 1
    return set(re.findall(r"'([^']*)'", found["rows"])), text[: found.start()].count("\n") + 1


@rule
def the_tests_use_the_shipped_configuration(package: Package) -> Iterator[Problem]:
    """The Apex tests read the shipped sync configuration from MessagingTestData (SHIPPED_OBJECTS and
    SHIPPED_MAPPINGS), not from the org's custom metadata records, which admins change and an upgrade keeps
    (docs/salesforce-org-rules.md, rule 30). Those rows must be exactly the records under customMetadata/, as the
    Apex reads them, and every shipped object record must be what useShippedConfig() assumes (active, no sync
    criteria, no deletions, no send-all)."""
    source = next(package.root.rglob("MessagingTestData.cls"), None)
    if source is None:
        return
    text = source.read_text(encoding="utf-8")
    rule_name = "the_tests_use_the_shipped_configuration"
    mappings = {
        "|".join(
            [
                v.get("Object_API_Name__c") or "",
                v.get("Salesforce_Field__c") or "",
                v.get("Platform_Field__c") or "",
                v.get("Direction__c") or "",
                v.get("Fallback_Salesforce_Field__c") or "",
                "true" if v.get("Is_Matching__c") == "true" else "false",
            ]
        )
        for _, v in _custom_metadata(package, "Messaging_Field_Mapping")
    }
    objects = set()
    for path, v in _custom_metadata(package, "Messaging_Sync_Object"):
        fields = ("Opt_Out_Field__c", "Platform_Id_Field__c", "Status_Field__c")
        objects.add("|".join([v.get("Object_API_Name__c") or ""] + [v.get(f) or "" for f in fields]))
        assumed = {"Active__c": "true", "Include_Deletions__c": "false", "Send_All_Fields__c": "false"}
        if any((v.get(f) or "false") != want for f, want in assumed.items()) or v.get("Sync_Criteria_Field__c"):
            yield Problem(path, 1, rule_name, "useShippedConfig() assumes active, no criteria, deletions, send-all")
    for constant, shipped in (("SHIPPED_MAPPINGS", mappings), ("SHIPPED_OBJECTS", objects)):
        listed, line = _apex_rows(text, constant)
        if listed != shipped:
            yield Problem(
                source,
                line,
                rule_name,
                f"{constant} differs from customMetadata/: add {sorted(shipped - listed)},"
                f" remove {sorted(listed - shipped)}",
            )


@rule
def the_relay_user_is_org_specific(package: Package) -> Iterator[Problem]:
    """Platform Events Developer Guide, "Configure the User and Batch Size for Your Platform Event Trigger" and
    Metadata API, "PlatformEventSubscriberConfig": the running user is named by username, which differs in every
    org, and a config deployed with the package would reset a running user an admin set. The package ships none;
    scripts/sfdx/set-relay-user deploys one per org."""
    for path, root in package.files("*.platformEventSubscriberConfig-meta.xml"):
        yield _problem(
            path,
            root,
            the_relay_user_is_org_specific,
            "a PlatformEventSubscriberConfig in the package: remove it (scripts/sfdx/set-relay-user sets it per org)",
        )


@rule
def permission_set_descriptions_fit_their_field(package: Package) -> Iterator[Problem]:
    """Object Reference, "PermissionSet": Description is a 255-character text field (stated in the field reference,
    not confirmed in the Metadata API page; a longer description is kept out either way)."""
    for path, root in package.files("*.permissionset-meta.xml"):
        description = root.find("md:description", NS)
        text = description.text or "" if description is not None else ""
        if len(text) > PERMISSION_SET_DESCRIPTION_MAX:
            yield _problem(
                path,
                description,
                permission_set_descriptions_fit_their_field,
                f"description of {len(text)} characters: at most {PERMISSION_SET_DESCRIPTION_MAX}",
            )


@rule
def custom_objects_share_privately(package: Package) -> Iterator[Problem]:
    """Salesforce Help, "Organization-Wide Sharing Defaults": the default decides who sees every record, and the
    package's objects (the sync log keeps request bodies with personal data) are readable only through the
    permission sets, so a custom object is Private or ControlledByParent."""
    for path, root in package.files("objects/*/*.object-meta.xml"):
        name = path.name.removesuffix(".object-meta.xml")
        if not name.endswith("__c") or root.find("md:customSettingsType", NS) is not None:
            continue
        model = root.find("md:sharingModel", NS)
        if model is None or (model.text or "").strip() not in SHARED_OBJECT_MODELS:
            yield _problem(
                path,
                model if model is not None else root,
                custom_objects_share_privately,
                f"{name} is shared as {model.text if model is not None else 'nothing declared'}: make it Private",
            )


@rule
def every_component_is_saved_at_the_project_api_version(package: Package) -> Iterator[Problem]:
    """Apex Developer Guide, "Version Settings" and LWC Developer Guide, "Component Configuration Tags" (apiVersion):
    each class, trigger and component runs with the behaviour of the API version it is saved with (what Apex
    returns and allows changes between versions), so one version, sfdx-project.json's sourceApiVersion, keeps the
    package behaving as it was tested. A component saved at another version is reported."""
    project = package.project_root / "sfdx-project.json"
    if not project.exists():
        return
    expected = str(json.loads(project.read_text(encoding="utf-8")).get("sourceApiVersion", "")).strip()
    if not expected:
        return
    for path, root in package.files("*-meta.xml"):
        version = root.find("md:apiVersion", NS)
        if version is not None and (version.text or "").strip() != expected:
            yield _problem(
                path,
                version,
                every_component_is_saved_at_the_project_api_version,
                f"apiVersion {(version.text or '').strip()}, not the project's sourceApiVersion {expected}",
            )


def _apex_code(path: Path) -> str:
    return APEX_COMMENT_OR_STRING.sub(" ", path.read_text(encoding="utf-8"))


def _reached_classes(code: str, classes: dict[str, Path]) -> set[str]:
    """The package's classes this code calls, and the classes they call in turn."""
    reached: set[str] = set()
    pending = [code]
    while pending:
        for match in CALLED_CLASS.finditer(pending.pop()):
            name = match["name"].lower()
            if name in classes and name not in reached:
                reached.add(name)
                pending.append(_apex_code(classes[name]))
    return reached


@rule
def platform_event_triggers_that_enqueue_work_set_a_resume_checkpoint(package: Package) -> Iterator[Problem]:
    """Platform Events Developer Guide, "Resume a Platform Event Trigger After an Uncaught Exception" and "Comparing
    setResumeCheckpoint() and EventBus.RetryableException"; Trailhead, "Apply Best Practices for Writing Platform
    Event Triggers": a limit exception cannot be caught, and the platform then moves past the whole delivered batch
    (up to 2,000 events) with no retry, unless the trigger set a resume checkpoint, after which the next run starts
    after the checkpointed event. A trigger on a platform event that enqueues work (System.enqueueJob,
    Database.executeBatch), itself or through the package's classes it calls, must call setResumeCheckpoint in its
    body or in a class it calls directly."""
    classes = {path.stem.lower(): path for path in sorted(package.root.rglob("*.cls"))}
    for path in sorted(package.root.rglob("*.trigger")):
        code = _apex_code(path)
        match = PLATFORM_EVENT_TRIGGER.search(code)
        if match is None:
            continue
        direct = {match_["name"].lower() for match_ in CALLED_CLASS.finditer(code)} & classes.keys()
        reached = _reached_classes(code, classes)
        if not any(ENQUEUES_WORK.search(text) for text in [code, *(_apex_code(classes[n]) for n in reached)]):
            continue
        if SETS_RESUME_CHECKPOINT.search(code) or any(
            SETS_RESUME_CHECKPOINT.search(_apex_code(classes[name])) for name in direct
        ):
            continue
        source = path.read_text(encoding="utf-8")
        declared = PLATFORM_EVENT_TRIGGER.search(source)
        yield Problem(
            path,
            source.count("\n", 0, declared.start()) + 1 if declared else 1,
            platform_event_triggers_that_enqueue_work_set_a_resume_checkpoint.__name__,
            f"trigger on {match['event']} enqueues work without EventBus.TriggerContext.currentContext()"
            ".setResumeCheckpoint(replayId): a limit exception would drop its whole batch; checkpoint after the last"
            " event whose work is enqueued",
        )


@rule
def custom_tab_motifs_name_a_standard_tab_style(package: Package) -> Iterator[Problem]:
    """Metadata API, "CustomTab" (motif: the tab style, written like "Custom70: Handsaw"). Salesforce's documentation
    gives no table of the styles' numbers and names, so only the form is checked: "CustomNN: Name" with NN from 1 to
    100, the range of the standard styles in third-party lists (which Salesforce does not confirm)."""
    for path, root in package.files("*.tab-meta.xml"):
        motif = root.find("md:motif", NS)
        if motif is None:
            continue
        value = (motif.text or "").strip()
        match = TAB_MOTIF.match(value)
        if match is None or int(match["number"]) not in TAB_MOTIF_NUMBERS:
            yield _problem(
                path,
                motif,
                custom_tab_motifs_name_a_standard_tab_style,
                f"motif '{value}' is not a standard tab style: write 'CustomNN: Name', NN from 1 to 100",
            )


PUBLISH_CALL = re.compile(r"\bEventBus\s*\.\s*publish\s*\(", re.IGNORECASE)
NO_CALLBACK_REASON = re.compile(r"//\s*no publish callback:\s*\S", re.IGNORECASE)
IS_TEST_CLASS = re.compile(r"@IsTest\b(\([^)]*\))?\s+(\w+\s+)*class\b", re.IGNORECASE)


def _argument_count(text: str, open_paren: int) -> int:
    """The number of top-level arguments of the call whose "(" is at `open_paren` (strings and comments aside)."""
    depth, count, seen = 0, 1, False
    code = re.sub(r"'(?:\\.|[^'\\])*'", "''", text[open_paren:])
    for char in code:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return count if seen else 0
        elif char == "," and depth == 1:
            count += 1
        elif not char.isspace() and depth >= 1:
            seen = True
    return count


@rule
def high_volume_publishes_carry_a_failure_callback(package: Package) -> Iterator[Problem]:
    """Platform Events Developer Guide, "Get the Result of Asynchronous Platform Event Publishing with Apex Publish
    Callbacks": EventBus.publish's SaveResult is only the intermediate queueing result; the final one (a publish
    that fails later, e.g. when the org's hourly allocation is used up) reaches only an Apex publish callback,
    available for high-volume events. Without one, such a change is lost with no Sync_Result__c. So in a package
    that defines a high-volume event, a one-argument EventBus.publish in production Apex is reported unless its
    class also publishes with a callback (the fallback when the callback cannot be attached) or the line before
    says `// no publish callback: <why>`."""
    high_volume = [
        path
        for path, root in package.files("objects/*__e/*.object-meta.xml")
        if (root.findtext("md:eventType", default="HighVolume", namespaces=NS) or "").strip() == "HighVolume"
    ]
    if not high_volume:
        return
    for path in sorted([*package.root.rglob("*.cls"), *package.root.rglob("*.trigger")]):
        text = path.read_text(encoding="utf-8")
        if IS_TEST_CLASS.search(text):
            continue
        calls = [(m, _argument_count(text, m.end() - 1)) for m in PUBLISH_CALL.finditer(text)]
        if any(count >= 2 for _, count in calls):
            continue
        lines = text.splitlines()
        for match, count in calls:
            line = text.count("\n", 0, match.start()) + 1
            before = lines[line - 2] if line >= 2 else ""
            if count == 1 and not NO_CALLBACK_REASON.search(before) and not NO_CALLBACK_REASON.search(lines[line - 1]):
                yield Problem(
                    path,
                    line,
                    high_volume_publishes_carry_a_failure_callback.__name__,
                    "EventBus.publish without a failure callback: a later publish failure would leave no trace;"
                    " pass an EventBus.EventPublishFailureCallback, or say why not (// no publish callback: …)",
                )


def check(package_dir: Path, project_root: Path) -> list[Problem]:
    package = Package(package_dir, project_root)
    return [problem for each in RULES for problem in each(package)]


def selftest(examples: Path, project_root: Path) -> list[str]:
    """Each rule must report its own bad example (``examples/<rule name>/``), and nothing else must fire there."""
    failures = []
    for each in RULES:
        folder = examples / each.__name__
        if not folder.is_dir():
            failures.append(f"{each.__name__}: no bad example at {folder}")
            continue
        fired = {problem.rule for problem in check(folder, project_root)}
        if fired != {each.__name__}:
            failures.append(f"{each.__name__}: its bad example made {sorted(fired) or 'no rule'} fire")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="package folder, e.g. sfdx-package (with --selftest: bad examples)")
    parser.add_argument("--project-root", type=Path, default=Path.cwd(), help="the repository (for the PMD ruleset)")
    parser.add_argument("--selftest", action="store_true", help="prove every rule fires on its bad example")
    args = parser.parse_args(argv)
    if args.selftest:
        failures = selftest(args.root, args.project_root)
        for failure in failures:
            print(failure)
        print(f"org rules selftest: {len(RULES)} rules, {len(RULES) - len(failures)} fire on their bad example")
        return 1 if failures else 0
    problems = check(args.root, args.project_root)
    for problem in problems:
        print(problem)
    print(f"org rules: {len(RULES)} rules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
