//! `/ServiceProviderConfig` and `/ResourceTypes`: exactly what roster supports.

use serde_json::{Value, json};

use super::schema::{AGENT, ENTERPRISE_USER_SCHEMA, GROUP, ROSTER_GROUP_SCHEMA, ROSTER_USER_SCHEMA, USER};

pub struct Capabilities {
    pub max_bulk_operations: usize,
    pub max_payload_bytes: usize,
    pub max_results: i64,
    pub default_page_size: i64,
}

pub fn service_provider_config(base_url: &str, c: &Capabilities) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": c.max_bulk_operations, "maxPayloadSize": c.max_payload_bytes},
        "filter": {"supported": true, "maxResults": c.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": c.default_page_size,
            "maxPageSize": c.max_results,
            "cursorTimeout": 86400
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A roster token with the scim scope, in the Authorization header.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base_url}/ServiceProviderConfig")}
    })
}

pub fn resource_types(base_url: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": USER.endpoint,
            "description": "A member of the organization",
            "schema": USER.core,
            "schemaExtensions": [
                {"schema": ENTERPRISE_USER_SCHEMA, "required": false},
                {"schema": ROSTER_USER_SCHEMA, "required": false}
            ],
            "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/User")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": GROUP.endpoint,
            "description": "A group of members, optionally bound to a role",
            "schema": GROUP.core,
            "schemaExtensions": [{"schema": ROSTER_GROUP_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Group")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Agent",
            "name": "Agent",
            "endpoint": AGENT.endpoint,
            "description": "An AI agent: a member of its own kind, with owners, a role and tokens",
            "schema": AGENT.core,
            "schemaExtensions": [{"schema": ROSTER_USER_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Agent")}
        }),
    ]
}
