//! `GET /api/v1/reference`: the native API's reference, rendered on the server from its OpenAPI
//! document (no script, nothing fetched), readable without a token.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use serde_json::Value;

struct Param {
    name: String,
    location: String,
    required: bool,
    kind: String,
    description: String,
}

struct Answer {
    status: String,
    description: String,
    schema: String,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    needs_token: bool,
    params: Vec<Param>,
    body: String,
    /// The body's schema, for the link to it.
    body_anchor: String,
    answers: Vec<Answer>,
}

struct Section {
    name: String,
    description: String,
    operations: Vec<Operation>,
}

struct Schema {
    name: String,
    json: String,
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage {
    title: String,
    description: String,
    sections: Vec<Section>,
    schemas: Vec<Schema>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The schema a body or answer refers to, by name (`[Member]` for an array of them).
fn schema_name(content: &Value) -> String {
    let Some(schema) = content
        .as_object()
        .and_then(|c| c.values().next())
        .map(|c| &c["schema"])
    else {
        return String::new();
    };
    let name = |r: &Value| {
        r.as_str()
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(r) = schema.get("$ref") {
        name(r)
    } else if let Some(r) = schema.get("items").and_then(|i| i.get("$ref")) {
        format!("[{}]", name(r))
    } else {
        schema.get("type").map(text).unwrap_or_default()
    }
}

fn build(document: &Value) -> ReferencePage {
    let mut sections: Vec<Section> = document["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Section {
            name: text(&t["name"]),
            description: text(&t["description"]),
            operations: Vec::new(),
        })
        .collect();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let body = schema_name(&op["requestBody"]["content"]);
            let operation = Operation {
                body_anchor: body.trim_matches(['[', ']']).to_owned(),
                anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                needs_token: op
                    .get("security")
                    .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty())),
                params: op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| Param {
                        name: text(&p["name"]),
                        location: text(&p["in"]),
                        required: p["required"].as_bool().unwrap_or(false),
                        kind: p["schema"]["type"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| p["schema"]["type"].as_array().and_then(|a| a.first()).map(text))
                            .unwrap_or_default(),
                        description: text(&p["description"]),
                    })
                    .collect(),
                body,
                answers: op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| Answer {
                        status: status.clone(),
                        description: text(&r["description"]),
                        schema: schema_name(&r["content"]),
                    })
                    .collect(),
            };
            match sections.iter_mut().find(|s| s.name == tag) {
                Some(s) => s.operations.push(operation),
                None => sections.push(Section {
                    name: tag,
                    description: String::new(),
                    operations: vec![operation],
                }),
            }
        }
    }
    let schemas = document["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| Schema {
            name: name.clone(),
            json: serde_json::to_string_pretty(s).unwrap_or_default(),
        })
        .collect();
    ReferencePage {
        title: text(&document["info"]["title"]),
        description: text(&document["info"]["description"]),
        sections,
        schemas,
    }
}

pub async fn reference() -> HttpResponse {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| {
        let document: Value = serde_json::from_str(super::native::openapi::document()).unwrap_or_default();
        build(&document)
            .render()
            .unwrap_or_else(|e| format!("the reference could not be rendered: {e}"))
    });
    HttpResponse::build(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(page.clone())
}
