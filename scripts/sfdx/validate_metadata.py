"""Validate every ``*-meta.xml`` of the Salesforce package against the Metadata API schema.

Guarantees: each file is well-formed XML (parsed with lxml, no entity expansion or network access),
its root element is a Metadata API type in the ``http://soap.sforce.com/2006/04/metadata`` namespace,
and its content is valid for that type: known elements only, enumerations respected, types right.
The schema is the one inside simple-salesforce's ``metadata.wsdl``; element order is not checked
(each ``sequence`` becomes an XSD 1.1 ``all`` group), because the Metadata API itself does not care.
It then checks what the schema cannot: custom fields named by permission sets and custom metadata
records exist in the package, and every Apex class has its -meta.xml and a test class.
Exits 1 with one line per problem (``path:line: message``), 0 when every file is valid.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import simple_salesforce
import xmlschema
from lxml import etree

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL = Path(simple_salesforce.__file__).with_name("metadata.wsdl")
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


def _metadata_schema_document() -> etree._Element:
    """Return the Metadata API XSD from the WSDL, relaxed to XSD 1.1 ``all`` groups, with root elements."""
    wsdl = etree.parse(str(WSDL), SAFE_PARSER)
    schema = next(s for s in wsdl.iter(f"{{{XSD_NS}}}schema") if s.get("targetNamespace") == MD_NS)
    relaxed = etree.Element(schema.tag, attrib=dict(schema.attrib), nsmap={"xsd": XSD_NS, "tns": MD_NS})
    relaxed.extend(copy.deepcopy(child) for child in schema)
    schema = relaxed
    _drop_redeclared_elements(schema)
    _open_free_form_elements(schema)
    for seq in list(schema.iter(f"{{{XSD_NS}}}sequence")):
        seq.tag = f"{{{XSD_NS}}}all"
    existing = {e.get("name") for e in schema.findall(f"{{{XSD_NS}}}element")}
    for ctype in schema.findall(f"{{{XSD_NS}}}complexType"):
        name = ctype.get("name")
        if name and name not in existing:
            etree.SubElement(schema, f"{{{XSD_NS}}}element", name=name, type=f"tns:{name}")
    return schema


def _drop_redeclared_elements(schema: etree._Element) -> None:
    """Remove from derived types the elements their base already declares (a few Flow types do).

    In a sequence that is legal; in an ``all`` group it is a Unique Particle Attribution error.
    """
    own: dict[str, tuple[str | None, etree._Element | None]] = {}
    for ctype in schema.findall(f"{{{XSD_NS}}}complexType"):
        ext = ctype.find(f"{{{XSD_NS}}}complexContent/{{{XSD_NS}}}extension")
        group = (ext if ext is not None else ctype).find(f"{{{XSD_NS}}}sequence")
        base = ext.get("base", "").removeprefix("tns:") if ext is not None else None
        own[ctype.get("name", "")] = (base, group)

    def names(type_name: str | None) -> set[str]:
        found: set[str] = set()
        while type_name and type_name in own:
            base, group = own[type_name]
            if group is not None:
                found |= {e.get("name", "") for e in group.findall(f"{{{XSD_NS}}}element")}
            type_name = base
        return found

    for base, group in own.values():
        if base is None or group is None:
            continue
        inherited = names(base)
        for element in group.findall(f"{{{XSD_NS}}}element"):
            if element.get("name") in inherited:
                group.remove(element)


# Elements the WSDL types as base64 because they hold free-form XML; checked by _check_target_configs instead.
FREE_FORM = {("LightningComponentBundle", "targetConfigs")}
PROPERTY_TYPES = {"Boolean", "Integer", "String", "Color", "Date", "DateTime", "Picklist", "ContentReference"}


def _open_free_form_elements(schema: etree._Element) -> None:
    for ctype in schema.findall(f"{{{XSD_NS}}}complexType"):
        for element in ctype.iter(f"{{{XSD_NS}}}element"):
            if (ctype.get("name"), element.get("name")) in FREE_FORM:
                element.set("type", "xsd:anyType")


def _check_target_configs(path: Path, root: etree._Element) -> list[str]:
    """A component's design-time configuration: only declared targets, properties with a name and a known type."""
    problems: list[str] = []
    targets = {t.text for t in root.iter(f"{{{MD_NS}}}target")}
    for config in root.iter(f"{{{MD_NS}}}targetConfig"):
        for target in (config.get("targets") or "").split(","):
            if target.strip() not in targets:
                problems.append(f"{path}:{config.sourceline}: targetConfig for '{target}', which is not in <targets>")
        for prop in config.iter(f"{{{MD_NS}}}property"):
            if not prop.get("name"):
                problems.append(f"{path}:{prop.sourceline}: <property> without a name")
            if prop.get("type") not in PROPERTY_TYPES:
                allowed = ", ".join(sorted(PROPERTY_TYPES))
                problems.append(
                    f"{path}:{prop.sourceline}: <property> type {prop.get('type')!r} is not one of {allowed}"
                )
    return problems


def _line_of(error: xmlschema.XMLSchemaValidationError) -> str:
    elem = getattr(error, "elem", None)
    line = getattr(elem, "sourceline", None)
    return str(line) if line else "?"


def validate(root_dir: Path) -> list[str]:
    """Return the problems found in the ``*-meta.xml`` files under ``root_dir`` (empty when all valid)."""
    files = sorted(p for p in root_dir.rglob("*-meta.xml") if "__tests__" not in p.parts)
    if not files:
        return [f"{root_dir}: no -meta.xml files found"]
    schema = xmlschema.XMLSchema11(etree.tostring(_metadata_schema_document()).decode())
    problems: list[str] = []
    for path in files:
        try:
            doc = etree.parse(str(path), SAFE_PARSER)
        except etree.XMLSyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: not well-formed XML: {exc.msg}")
            continue
        root = doc.getroot()
        qname = etree.QName(root)
        if qname.namespace != MD_NS:
            problems.append(f"{path}:1: root <{root.tag}> is not in the Metadata API namespace {MD_NS}")
            continue
        if qname.localname not in schema.elements:
            problems.append(f"{path}:1: <{qname.localname}> is not a Metadata API type")
            continue
        if qname.localname == "LightningComponentBundle":
            problems.extend(_check_target_configs(path, root))
        for error in schema.iter_errors(doc):
            reason = (error.reason or str(error)).splitlines()[0]
            problems.append(f"{path}:{_line_of(error)}: {error.path}: {reason}")
    return problems


def check_consistency(root_dir: Path) -> list[str]:
    """Cross-file rules the schema cannot express, each a deploy failure in a real org.

    - every custom field named by a permission set or a custom metadata record is defined in the package;
    - every custom metadata record names a type the package defines;
    - every Apex class and trigger has its -meta.xml, and every non-test class has a ``<Name>Test`` class.
    """
    problems: list[str] = []
    defined: set[str] = set()
    for field in root_dir.rglob("objects/*/fields/*.field-meta.xml"):
        defined.add(f"{field.parent.parent.name}.{field.name.removesuffix('.field-meta.xml')}")
    for permset in root_dir.rglob("*.permissionset-meta.xml"):
        root = etree.parse(str(permset), SAFE_PARSER).getroot()
        for element in root.iter(f"{{{MD_NS}}}field"):
            name = element.text or ""
            if name.endswith("__c") and name not in defined:
                problems.append(f"{permset}:{element.sourceline}: field {name} is not defined in the package")
    for record in root_dir.rglob("customMetadata/*.md-meta.xml"):
        type_name = record.name.split(".", 1)[0] + "__mdt"
        if not any(d.startswith(type_name + ".") for d in defined):
            problems.append(f"{record}:1: custom metadata type {type_name} is not defined in the package")
            continue
        root = etree.parse(str(record), SAFE_PARSER).getroot()
        for element in root.iter(f"{{{MD_NS}}}field"):
            if f"{type_name}.{element.text}" not in defined:
                problems.append(f"{record}:{element.sourceline}: {type_name} has no field {element.text}")
    sources = [*root_dir.rglob("*.cls"), *root_dir.rglob("*.trigger")]
    class_names = {p.stem for p in sources if p.suffix == ".cls"}
    for source in sources:
        if not source.with_name(source.name + "-meta.xml").exists():
            problems.append(f"{source}:1: {source.name}-meta.xml is missing")
        text = source.read_text(encoding="utf-8")
        is_test = "@istest" in text.lower()
        if source.suffix == ".cls" and not is_test and f"{source.stem}Test" not in class_names:
            problems.append(f"{source}:1: no test class {source.stem}Test")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder to scan, e.g. sfdx-package")
    args = parser.parse_args(argv)
    problems = validate(args.root) + check_consistency(args.root)
    for line in problems:
        print(line)
    count = len(list(args.root.rglob("*-meta.xml")))
    print(f"metadata: {count} files checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
