//! The OpenAPI 3.1 document, generated from the route table ([`ROUTES`]) and the canonical
//! model's types, and the reference page for people rendered from it.
//!
//! Nothing here is written per route: a route's path, method, access, parameters, body and answer
//! come from its table entry, so a route cannot be served without being documented (the router
//! and this document are built from the same table; `every_route_is_documented` checks it).

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Response},
};
use concord_model::access::Access;
use serde_json::{Map, Value, json};

use crate::access::{ROUTES, RouteSpec};

/// The document, built once per process (it depends on nothing but the code).
pub fn document() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let item = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| json!({}));
        item[spec.method.as_str().to_ascii_lowercase()] = operation(spec);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Concord API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The integration hub that knows contract prices. Every route is under /v1; \
                a route on its way out is marked deprecated and answers with Deprecation, Sunset and \
                Link: rel=\"successor-version\" headers at least six months before it is removed \
                (docs/api-versioning.md). Errors are RFC 9457 problem JSON.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (ck_<id>_<secret>) or, when the hub is configured for it, a JWT from the identity provider."
                }
            },
            "schemas": schemas()
        }
    })
}

fn operation(spec: &RouteSpec) -> Value {
    let mut parameters: Vec<Value> = path_params(spec.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    parameters.extend(spec.query.iter().map(|p| {
        json!({"name": p.name, "in": "query", "required": p.required,
               "description": p.description, "schema": {"type": "string"}})
    }));
    let (status, schema) = spec.answer;
    let mut responses = Map::new();
    // `/metrics` answers Prometheus text, not JSON.
    let content = if schema == crate::access::PROMETHEUS_TEXT {
        json!({"text/plain; version=0.0.4": {"schema": {"type": "string"}}})
    } else {
        json!({"application/json": {"schema": schema_ref(schema)}})
    };
    responses.insert(
        status.to_string(),
        json!({"description": "Success", "content": content}),
    );
    let open = spec.access == Access::Open;
    let problems: [(u16, bool, &str); 9] = [
        (
            400,
            spec.body.is_some() || !spec.query.is_empty() || spec.path.contains('{'),
            "The request is malformed or invalid",
        ),
        (401, !open, "No credential, or one the hub does not accept"),
        (403, !open, "The credential's role may not do this"),
        (404, spec.path.contains('{'), "No such resource"),
        (413, spec.body.is_some(), "The body is over the size limit"),
        (415, spec.body.is_some(), "The body is not JSON"),
        (
            422,
            spec.body.is_some(),
            "The body is JSON but breaks a rule",
        ),
        (429, !open, "Over the rate limit; retry after Retry-After"),
        (503, !open, "No answer within the request timeout"),
    ];
    for (code, applies, description) in problems {
        if applies {
            responses.insert(
                code.to_string(),
                json!({"description": description,
                       "content": {"application/problem+json": {"schema": schema_ref("Problem")}}}),
            );
        }
    }
    let mut op = json!({
        "operationId": operation_id(spec),
        "summary": spec.summary,
        "parameters": parameters,
        "responses": responses,
        "x-concord-access": access_text(spec.access),
    });
    if open {
        op["security"] = json!([]);
    } else {
        op["security"] = json!([{"bearer": []}]);
    }
    if let Some(body) = spec.body {
        op["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": schema_ref(body)}}});
    }
    if spec.deprecation.is_some() {
        op["deprecated"] = json!(true);
    }
    op
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

fn operation_id(spec: &RouteSpec) -> String {
    let path: String = spec
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut id = format!("{}{path}", spec.method.as_str().to_ascii_lowercase());
    while id.contains("__") {
        id = id.replace("__", "_");
    }
    id.trim_end_matches('_').to_string()
}

fn access_text(access: Access) -> String {
    match access {
        Access::Open => "open".into(),
        Access::OwnInbound => {
            "the integration credential of the system in the path, or admin".into()
        }
        Access::ClinicalInbound => {
            "the integration credential of the clinical system ([clinical] system), or admin".into()
        }
        Access::Scope(scope) => format!("scope {}", scope.as_str()),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The canonical model's schemas (their `$defs` hoisted into the components) and the API's own.
fn schemas() -> Map<String, Value> {
    let mut all = Map::new();
    for (name, mut schema) in concord_model::schema::canonical_schemas() {
        if let Some(defs) = schema.as_object_mut().and_then(|o| o.remove("$defs"))
            && let Value::Object(defs) = defs
        {
            for (def, mut sub) in defs {
                rebase_refs(&mut sub);
                all.insert(def, sub);
            }
        }
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        rebase_refs(&mut schema);
        all.insert(name.to_string(), schema);
    }
    let own = json!({
        "Problem": {
            "description": "RFC 9457 problem details.",
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object",
                    "required": ["path", "rule", "message"],
                    "properties": {"path": {"type": "string"}, "rule": {"type": "string"},
                                   "message": {"type": "string"}}}}
            }
        },
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string"}}},
        "Receipt": {
            "description": "What the hub did with an accepted message.",
            "type": "object",
            "required": ["receipt_id", "correlation_id"],
            "properties": {"receipt_id": {"type": "string"}, "correlation_id": {"type": "string"},
                           "outcome": {"type": "string"}, "subject": {"type": "string"}}
        },
        "NativeMessage": {
            "description": "A system's own JSON, mapped by the configured inbound mapping. Send Idempotency-Key (or configure message_id_path) so a resend is recognised.",
            "type": "object"
        },
        "NewKey": {
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "role": {"enum": concord_model::access::Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>()},
                "system": {"type": "string", "description": "Integration keys only: the system it speaks for"},
                "user": {"type": "string", "description": "The person the key belongs to; approvals are made in their name"},
                "expires_at": {"type": "string", "format": "date-time"},
                "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650}
            }
        },
        "CreatedKey": {
            "type": "object",
            "required": ["key", "id", "role"],
            "properties": {"key": {"type": "string", "description": "Shown once; only its hash is stored"},
                           "id": {"type": "string"}, "role": {"type": "string"}}
        },
        "ApprovalComment": {
            "type": "object",
            "properties": {"comment": {"type": "string", "maxLength": 2000}}
        },
        "RejectionReason": {
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}
        },
        "BankChangeRequest": {
            "type": "object",
            "required": ["payment", "reason"],
            "properties": {
                "payment": {"type": "object", "description": "method (ach, wire, check), bank {routing_number (ABA checksum), account_number}, remit_to {line1, city, state, zip}",
                    "required": ["method"]},
                "reason": {"type": "string", "minLength": 1}
            }
        },
        "FhirResource": {
            "type": "object",
            "required": ["resourceType"],
            "description": "A FHIR R4 resource (JSON) of the type in the path; a Bundle may carry other resource types, which are not used and not kept",
            "properties": {"resourceType": {"enum": ["SupplyDelivery", "SupplyRequest", "Procedure", "Device", "Bundle"]}}
        },
        "StockLevelInput": {
            "type": "object",
            "required": ["on_hand", "par_level", "reorder_point"],
            "properties": {
                "on_hand": {"type": "integer", "minimum": 0},
                "par_level": {"type": "integer", "minimum": 0},
                "reorder_point": {"type": "integer", "minimum": 0},
                "bill_only": {"type": "boolean", "default": false}
            }
        },
        "CrosswalkMapping": {
            "type": "object",
            "required": ["canonical_id"],
            "properties": {"canonical_id": {"type": "string", "maxLength": 64}}
        },
        "RepairRequest": {
            "type": "object",
            "properties": {
                "system": {"type": "string"},
                "entity_type": {"enum": ["supplier", "item"]},
                "keys": {"type": "array", "items": {"type": "string"}}
            }
        },
        "Object": {"type": "object"}
    });
    if let Value::Object(own) = own {
        all.extend(own);
    }
    all
}

/// `#/$defs/X` → `#/components/schemas/X`, everywhere in a schema.
fn rebase_refs(value: &mut Value) {
    match value {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v {
                    Value::String(s) if k == "$ref" => {
                        if let Some(name) = s.strip_prefix("#/$defs/") {
                            *s = format!("#/components/schemas/{name}");
                        }
                    }
                    other => rebase_refs(other),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rebase_refs),
        _ => {}
    }
}

pub(crate) async fn openapi_json() -> Json<&'static Value> {
    Json(document())
}

/// The JSON Schemas of the canonical model and of every event type (built once: they depend on
/// nothing but the code).
pub(crate) async fn schemas_json() -> Json<&'static Value> {
    static SCHEMAS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(SCHEMAS.get_or_init(|| {
        let named = |list: Vec<(&'static str, Value)>| -> Map<String, Value> {
            list.into_iter().map(|(n, s)| (n.to_string(), s)).collect()
        };
        json!({
            "canonical": named(concord_model::schema::canonical_schemas()),
            "events": named(concord_model::events::event_schemas()),
        })
    }))
}

/// The reference page: rendered on the server from the document, no script at all.
pub(crate) async fn docs_page() -> Response {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| render(document()));
    let mut response = Html(page.as_str()).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(doc: &Value) -> String {
    let mut rows = String::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let params: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "<code>{}</code> ({}{})",
                        escape(p["name"].as_str().unwrap_or("")),
                        escape(p["in"].as_str().unwrap_or("")),
                        if p["required"] == true {
                            ", required"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or("—");
            let answers: Vec<&str> = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(code, _)| code.as_str())
                .collect();
            rows.push_str(&format!(
                "<tr{}><td class=m>{}</td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                if op["deprecated"] == true { " class=dep" } else { "" },
                method.to_ascii_uppercase(),
                escape(path),
                escape(op["summary"].as_str().unwrap_or("")),
                if op["deprecated"] == true { " <b>(deprecated)</b>" } else { "" },
                escape(op["x-concord-access"].as_str().unwrap_or("")),
                params.join(", "),
                escape(body),
                answers.join(" ")
            ));
        }
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Concord API {version}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}}
.m{{font-weight:bold;font-family:monospace}}.dep{{color:#888}}</style></head><body>
<h1>Concord API {version}</h1>
<p>{description}</p>
<p>The machine-readable document is <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI 3.1);
the canonical model's and the events' JSON Schemas are at <a href="/v1/schemas">/v1/schemas</a>.
Authenticate with <code>Authorization: Bearer &lt;API key or JWT&gt;</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>What it does</th><th>Who may</th><th>Parameters</th><th>Body</th><th>Answers</th></tr>
{rows}</table></body></html>"#,
        version = escape(doc["info"]["version"].as_str().unwrap_or("")),
        description = escape(doc["info"]["description"].as_str().unwrap_or("")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route in the table is in the document with its method, summary, access, path
    /// parameters, body and answers; every `$ref` resolves. A route added to the table without
    /// what the document needs fails here.
    #[test]
    fn every_route_is_documented() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        for spec in ROUTES {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is undocumented",
                spec.method,
                spec.path
            );
            assert!(
                !spec.summary.trim().is_empty(),
                "{} {} has no summary",
                spec.method,
                spec.path
            );
            let names: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, path_params(spec.path).collect::<Vec<_>>());
            assert_eq!(
                op["security"].as_array().unwrap().is_empty(),
                spec.access == Access::Open,
                "{} {}",
                spec.method,
                spec.path
            );
            // Writes take a body, except actions on a resource named by the path alone.
            let bodiless = spec.path == "/v1/deliveries/{id}/replay";
            if matches!(spec.method.as_str(), "PUT" | "POST") && !bodiless {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                    "{} {} takes a body that is undocumented",
                    spec.method,
                    spec.path
                );
            }
        }
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref to {name}"
            );
        }
        assert!(!text.contains("#/$defs/"), "a $ref was not rebased");
    }

    #[test]
    fn operation_ids_are_unique_and_readable() {
        let mut seen = std::collections::HashSet::new();
        for spec in ROUTES {
            let id = operation_id(spec);
            assert!(seen.insert(id.clone()), "{id} twice");
        }
        assert_eq!(
            operation_id(
                &ROUTES
                    .iter()
                    .find(|r| r.path == "/v1/inbound/{system}/{message_type}")
                    .unwrap()
                    .clone()
            ),
            "post_v1_inbound_system_message_type"
        );
    }

    #[test]
    fn the_page_escapes_and_lists_every_route() {
        let page = render(document());
        for spec in ROUTES {
            assert!(
                page.contains(&format!("<code>{}</code>", escape(spec.path))),
                "{}",
                spec.path
            );
        }
        assert!(!page.contains("<script"));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
