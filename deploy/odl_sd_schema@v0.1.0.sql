-- Frozen by tools/srcguard rework: odl_sd_schema as released in @v0.1.0.
-- Deploy odl-db:odl_sd_schema to pg
-- requires: documents_api

begin;

-- schemas/odl-sd-4.1.schema.json as released in @v0.1.0
call odl.register_json_schema('4.1', $odl_source${
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://odl-sd.org/schemas/v4.1/document.json",
  "title": "ODL-SD v4.1 document",
  "description": "odl-db's contract for one energy project described in ODL-SD v4.1. Objects whose members the format lists completely are closed (unevaluatedProperties: false): the document itself, connection ends and voltage ranges. Every other object stays open, so vendor data validates. Rules that need the whole document (unique instance ids, connection ends naming existing instances, supported schema_version) are checked beside the schema, in odl_db.validation.integrity_errors.",
  "type": "object",
  "required": ["$schema", "schema_version", "meta", "hierarchy"],
  "properties": {
    "$schema": {
      "description": "The schema the document claims to follow.",
      "type": "string",
      "format": "uri"
    },
    "schema_version": { "const": "4.1" },
    "meta": { "$ref": "#/$defs/meta" },
    "hierarchy": { "$ref": "#/$defs/hierarchy_node" },
    "requirements": { "$ref": "#/$defs/section" },
    "libraries": { "$ref": "#/$defs/libraries" },
    "instances": {
      "type": "array",
      "items": { "$ref": "#/$defs/instance" }
    },
    "connections": {
      "type": "array",
      "items": { "$ref": "#/$defs/connection" }
    },
    "structures": { "$ref": "#/$defs/section" },
    "physical": { "$ref": "#/$defs/section" },
    "analysis": { "$ref": "#/$defs/record_list" },
    "compliance": { "$ref": "#/$defs/section" },
    "finance": { "$ref": "#/$defs/section" },
    "operations": { "$ref": "#/$defs/section" },
    "esg": { "$ref": "#/$defs/section" },
    "governance": { "$ref": "#/$defs/section" },
    "external_models": { "$ref": "#/$defs/section" },
    "audit": { "$ref": "#/$defs/record_list" },
    "data_management": { "$ref": "#/$defs/data_management" }
  },
  "unevaluatedProperties": false,

  "$defs": {
    "id": {
      "description": "An identifier, unique within its collection.",
      "type": "string",
      "minLength": 1
    },
    "sha256": {
      "description": "A content hash: \"sha256:\" and 64 lower-case hex digits.",
      "type": "string",
      "pattern": "^sha256:[0-9a-f]{64}$"
    },
    "timestamp": {
      "type": "string",
      "format": "date-time"
    },
    "section": {
      "description": "A section whose members the format leaves open.",
      "type": "object"
    },
    "record_list": {
      "description": "A list section: one object per entry.",
      "type": "array",
      "items": { "type": "object" }
    },

    "meta": {
      "type": "object",
      "properties": {
        "project": { "type": "string", "minLength": 1 },
        "portfolio_id": { "$ref": "#/$defs/id" },
        "domain": { "enum": ["PV", "BESS", "HYBRID", "GRID", "MICROGRID"] },
        "scale": {
          "enum": ["RESIDENTIAL", "COMMERCIAL", "INDUSTRIAL", "UTILITY", "HYPERSCALE"]
        },
        "units": { "type": "object" },
        "timestamps": {
          "description": "Named moments of the document's life, e.g. created_at.",
          "type": "object",
          "additionalProperties": { "$ref": "#/$defs/timestamp" }
        },
        "versioning": { "$ref": "#/$defs/versioning" }
      }
    },
    "versioning": {
      "type": "object",
      "properties": {
        "document_version": {
          "description": "major.minor.patch, e.g. \"4.1.0\".",
          "type": "string",
          "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$"
        },
        "content_hash": { "$ref": "#/$defs/sha256" },
        "previous_hash": {
          "description": "The hash of the version this one replaced; null for the first.",
          "anyOf": [{ "$ref": "#/$defs/sha256" }, { "type": "null" }]
        }
      }
    },

    "hierarchy_level": {
      "description": "Levels of the project tree, top down.",
      "enum": ["PORTFOLIO", "SITE", "PLANT", "BLOCK", "ARRAY", "STRING", "DEVICE"]
    },
    "hierarchy_node": {
      "description": "A node of the project tree; the document's hierarchy is its root.",
      "type": "object",
      "required": ["id", "level"],
      "properties": {
        "id": { "$ref": "#/$defs/id" },
        "level": { "$ref": "#/$defs/hierarchy_level" },
        "name": { "type": "string" },
        "children": {
          "type": "array",
          "items": { "$ref": "#/$defs/hierarchy_node" }
        }
      }
    },

    "component_id": {
      "description": "CMP:<Brand>:<Part>:<RatingW>:<Rev>.",
      "type": "string",
      "pattern": "^CMP:[^:]+:[^:]+:[0-9]+(\\.[0-9]+)?:[^:]+$"
    },
    "component_status": {
      "enum": [
        "draft", "parsed", "enriched", "dedupe_pending", "compliance_pending", "approved",
        "available", "sourcing", "rfq_open", "rfq_awarded", "purchasing", "ordered",
        "shipped", "received", "installed", "commissioned", "operational",
        "warranty_active", "maintenance", "quarantine", "returned", "retired",
        "recycling", "archived", "cancelled"
      ]
    },
    "libraries": {
      "type": "object",
      "properties": {
        "components": {
          "type": "array",
          "items": { "$ref": "#/$defs/component" }
        }
      }
    },
    "component": {
      "type": "object",
      "required": ["id"],
      "properties": {
        "id": { "$ref": "#/$defs/component_id" },
        "status": { "$ref": "#/$defs/component_status" },
        "rating_w": { "type": "number", "minimum": 0 },
        "ports": {
          "type": "array",
          "items": { "$ref": "#/$defs/port" }
        }
      }
    },

    "instance": {
      "description": "One physical or logical thing of the project, built from a library type.",
      "type": "object",
      "required": ["id", "type_ref"],
      "properties": {
        "id": { "$ref": "#/$defs/id" },
        "type_ref": { "$ref": "#/$defs/id" },
        "parent_ref": { "$ref": "#/$defs/id" },
        "location": { "$ref": "#/$defs/location" },
        "lifecycle_status": {
          "enum": [
            "planned", "procured", "installed", "commissioned", "operational",
            "maintenance", "decommissioned"
          ]
        },
        "digital_twin": { "$ref": "#/$defs/digital_twin" },
        "ports": {
          "type": "array",
          "items": { "$ref": "#/$defs/port" }
        }
      }
    },
    "location": {
      "type": "object",
      "properties": {
        "lat": { "type": "number", "minimum": -90, "maximum": 90 },
        "lon": { "type": "number", "minimum": -180, "maximum": 180 },
        "elevation_m": { "type": "number" }
      }
    },
    "digital_twin": {
      "type": "object",
      "properties": {
        "model_url": { "type": "string", "format": "uri" },
        "last_sync": { "$ref": "#/$defs/timestamp" },
        "sync_frequency_hours": { "type": "integer", "minimum": 1 }
      }
    },
    "port_id": {
      "type": "string",
      "pattern": "^[a-zA-Z][a-zA-Z0-9_]*$"
    },
    "port": {
      "type": "object",
      "required": ["id", "signal"],
      "properties": {
        "id": { "$ref": "#/$defs/port_id" },
        "direction": { "enum": ["input", "output", "bidirectional"] },
        "signal": {
          "type": "object",
          "required": ["kind"],
          "properties": {
            "kind": {
              "enum": ["dc", "ac", "data", "control", "thermal", "measurement"]
            },
            "voltage": { "$ref": "#/$defs/voltage_range" }
          }
        }
      }
    },
    "voltage_range": {
      "description": "Volts.",
      "type": "object",
      "properties": {
        "nominal": { "type": "number" },
        "min": { "type": "number" },
        "max": { "type": "number" }
      },
      "unevaluatedProperties": false
    },

    "connection": {
      "description": "A link from one instance's port to another's.",
      "type": "object",
      "required": ["id", "from", "to"],
      "properties": {
        "id": { "$ref": "#/$defs/id" },
        "from": { "$ref": "#/$defs/connection_end" },
        "to": { "$ref": "#/$defs/connection_end" },
        "kind": {
          "enum": [
            "dc_power", "ac_power", "data_modbus", "data_can", "data_ethernet",
            "control_digital", "control_analog", "thermal_liquid", "thermal_air"
          ]
        }
      }
    },
    "connection_end": {
      "type": "object",
      "required": ["instance_id", "port_id"],
      "properties": {
        "instance_id": { "$ref": "#/$defs/id" },
        "port_id": { "$ref": "#/$defs/port_id" }
      },
      "unevaluatedProperties": false
    },

    "data_management": {
      "description": "When a document should be split, and the sub-trees kept outside it.",
      "type": "object",
      "properties": {
        "thresholds": {
          "type": "object",
          "properties": {
            "max_instances": { "type": "integer", "minimum": 1, "default": 10000 },
            "max_connections": { "type": "integer", "minimum": 1, "default": 50000 },
            "partition_size_mb": { "type": "integer", "minimum": 1, "default": 100 }
          }
        },
        "external_refs": {
          "type": "array",
          "items": { "$ref": "#/$defs/external_ref" }
        }
      }
    },
    "external_ref": {
      "description": "A sub-tree stored outside the document.",
      "type": "object",
      "required": ["pointer", "uri"],
      "properties": {
        "pointer": { "type": "string", "format": "json-pointer" },
        "uri": { "type": "string", "format": "uri-reference" },
        "content_hash": { "$ref": "#/$defs/sha256" }
      }
    }
  }
}
$odl_source$);

commit;
