"""The JSON of table definitions (EntityMetadata, AttributeMetadata, EntityKeyMetadata,
OneToManyRelationshipMetadata, OptionSetMetadata) built from a ``TableInfo``, with the
property names and shapes of ``webapi/query-metadata-web-api.md`` and
``retrieve-metadata-name-metadataid.md`` (``AttributeTypeName: {"Value": "StringType"}``,
``DateTimeBehavior: {"Value": "UserLocal"}``, ``ChangeTrackingEnabled`` a plain bool).
"""

from __future__ import annotations

import uuid
from typing import Any

from emulators.dataverse.schema import Column
from emulators.dataverse.tableinfo import LOOKUP_TYPES, OPTION_TYPES, TableInfo, nav_properties

_NAMESPACE = uuid.UUID("6f1c54a2-3f0e-4d6b-9f55-2a8c2c3f9b10")
_TYPE_NAMES = {
    "Uniqueidentifier": "UniqueIdentifier",
    "MultiSelectPicklist": "MultiSelectPicklist",
    "BigInt": "BigInt",
    "DateTime": "DateTime",
}
_SYSTEM = {"createdon", "modifiedon", "versionnumber", "createdby", "modifiedby"}


def metadata_id(*names: str) -> str:
    """A stable MetadataId for a named definition."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(names)))


def schema_name(logical_name: str) -> str:
    prefix, _, rest = logical_name.rpartition("_")
    return f"{prefix}_{rest[:1].upper()}{rest[1:]}" if prefix else logical_name.capitalize()


def label(text: str) -> dict[str, Any]:
    localized = {"Label": text, "LanguageCode": 1033, "IsManaged": True, "HasChanged": None}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def _managed(value: Any, name: str) -> dict[str, Any]:
    return {"Value": value, "CanBeChanged": True, "ManagedPropertyLogicalName": name}


def entity(info: TableInfo) -> dict[str, Any]:
    """EntityMetadata of a table (without its expandable collections)."""
    table = info.table
    return {
        "MetadataId": metadata_id(table.logical_name),
        "LogicalName": table.logical_name,
        "SchemaName": schema_name(table.logical_name),
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ChangeTrackingEnabled": table.change_tracking,
        "CanChangeTrackingBeEnabled": _managed(True, "canchangetrackingbeenabled"),
        "IsCustomEntity": "_" in table.logical_name,
        "IsOptimisticConcurrencyEnabled": True,
        "IsActivity": False,
        "OwnershipType": "UserOwned",
        "DisplayName": label(table.logical_name),
        "DisplayCollectionName": label(table.entity_set),
    }


def metadata_type(column: Column) -> str:
    kind = "Lookup" if column.type in LOOKUP_TYPES else column.type
    return f"#Microsoft.Dynamics.CRM.{_TYPE_NAMES.get(kind, kind)}AttributeMetadata"


def attribute(info: TableInfo, column: Column) -> dict[str, Any]:
    """AttributeMetadata of a column, with the properties of its derived type."""
    name = column.logical_name
    primary = name == info.primary_id
    system = name in _SYSTEM
    virtual = column.type == "MultiSelectPicklist"
    found: dict[str, Any] = {
        "@odata.type": metadata_type(column),
        "MetadataId": metadata_id(info.logical_name, name),
        "LogicalName": name,
        "SchemaName": schema_name(name),
        "EntityLogicalName": info.logical_name,
        "AttributeType": "Virtual" if virtual else column.type,
        "AttributeTypeName": {"Value": f"{column.type}Type"},
        "AttributeOf": None,
        "IsPrimaryId": primary,
        "IsPrimaryName": name == info.table.primary_name,
        "IsLogical": False,
        "IsCustomAttribute": "_" in name and not primary,
        "IsValidForCreate": not (system or column.read_only or column.type == "State"),
        "IsValidForUpdate": not (system or column.read_only or primary),
        "IsValidForRead": True,
        "RequiredLevel": _managed(_required(column, primary), "canmodifyrequirementlevelsettings"),
        "DisplayName": label(name),
    }
    found.update(_specific(column))
    return found


def _required(column: Column, primary: bool) -> str:
    if primary:
        return "SystemRequired"
    return "ApplicationRequired" if column.required else "None"


def _specific(column: Column) -> dict[str, Any]:
    kind = column.type
    if kind in ("String", "Memo"):
        text = "Text" if kind == "String" else "TextArea"
        return {
            "MaxLength": column.max_length or (100 if kind == "String" else 2000),
            "Format": text,
            "FormatName": {"Value": text},
        }
    if kind in ("Integer", "BigInt", "Decimal", "Double", "Money"):
        return _numeric(column)
    if kind == "DateTime":
        return {
            "Format": column.date_format,
            "DateTimeBehavior": {"Value": column.date_behavior},
            "CanChangeDateTimeBehavior": _managed(False, "canchangedatetimebehavior"),
        }
    if kind in LOOKUP_TYPES:
        return {"Targets": list(column.targets), "Format": "None"}
    if kind in OPTION_TYPES:
        return {"DefaultFormValue": -1 if kind == "Picklist" else None}
    return {}


def _numeric(column: Column) -> dict[str, Any]:
    from emulators.dataverse.values import DEFAULT_PRECISION, DEFAULT_RANGE

    low, high = DEFAULT_RANGE[column.type]
    found: dict[str, Any] = {
        "MinValue": column.min_value if column.min_value is not None else low,
        "MaxValue": column.max_value if column.max_value is not None else high,
    }
    if column.type in DEFAULT_PRECISION:
        precision = (
            column.precision if column.precision is not None else DEFAULT_PRECISION[column.type]
        )
        found["Precision"] = precision
    if column.type == "Money":
        found["PrecisionSource"] = 2
    if column.type == "Integer":
        found["Format"] = "None"
    return found


def option_set(info: TableInfo, column: Column) -> dict[str, Any]:
    """OptionSetMetadata of a choice column (``$expand=OptionSet``)."""
    kind = {"MultiSelectPicklist": "Picklist"}.get(column.type, column.type)
    options = []
    for value, text in column.options.items():
        option: dict[str, Any] = {"Value": value, "Label": label(text), "Color": None}
        if column.type == "State":
            option["DefaultStatus"] = value + 1
        if column.type == "Status":
            option["State"] = max(0, value - 1)
        options.append(option)
    name = f"{info.logical_name}_{column.logical_name}"
    return {
        "MetadataId": metadata_id(name, "options"),
        "Name": name,
        "IsGlobal": False,
        "OptionSetType": kind,
        "Options": options,
    }


def key(info: TableInfo, logical_name: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """EntityKeyMetadata of an alternate key."""
    return {
        "MetadataId": metadata_id(info.logical_name, "key", logical_name),
        "LogicalName": logical_name,
        "SchemaName": schema_name(logical_name),
        "EntityLogicalName": info.logical_name,
        "KeyAttributes": list(columns),
        "EntityKeyIndexStatus": "Active",
        "DisplayName": label(logical_name),
    }


def many_to_one(info: TableInfo, primary_ids: dict[str, str]) -> list[dict[str, Any]]:
    """OneToManyRelationshipMetadata of every lookup of the table (one per target)."""
    found = []
    for column in info.columns.values():
        if column.type not in LOOKUP_TYPES:
            continue
        for nav, target in nav_properties(column).items():
            name = f"{target}_{info.logical_name}_{column.logical_name}"
            found.append(
                {
                    "MetadataId": metadata_id(name, "relationship"),
                    "SchemaName": name,
                    "RelationshipType": "OneToManyRelationship",
                    "ReferencedEntity": target,
                    "ReferencedAttribute": primary_ids.get(target, f"{target}id"),
                    "ReferencingEntity": info.logical_name,
                    "ReferencingAttribute": column.logical_name,
                    "ReferencingEntityNavigationPropertyName": nav,
                    "ReferencedEntityNavigationPropertyName": name,
                    "IsCustomRelationship": "_" in column.logical_name,
                }
            )
    return found
