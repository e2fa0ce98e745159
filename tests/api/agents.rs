//! AI agents as members: SCIM `Agent` resources (draft-wzdk-scim-agent-resource, accepting
//! draft-abbey-scim-agent-extension's `name`), with owners, roles from role-bound groups, tokens
//! minted natively that stop working when the agent is suspended or removed, and the agent as the
//! actor of what it does.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

const AGENT: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";

impl TestApp {
    async fn agent_call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("accept", "application/scim+json");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn agents_are_provisioned_like_people(backend: Backend) {
    let app = spawn_app(backend).await;
    // An owner: a person of the organization.
    let (status, owner) = app
        .agent_call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "owner@x.example", "emails": [{"value": "owner@x.example", "primary": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{owner}");
    let owner_id = owner["id"].as_str().unwrap().to_owned();

    // Discovery names the resource type and its schema.
    let (_, types) = app.agent_call(Method::GET, "/scim/v2/ResourceTypes/Agent", None).await;
    assert_eq!(types["endpoint"], "/Agents", "{types}");
    let (status, _) = app
        .agent_call(Method::GET, &format!("/scim/v2/Schemas/{AGENT}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Created through SCIM: ACTIVE at once, no invitation, owners kept.
    let (status, agent) = app
        .agent_call(
            Method::POST,
            "/scim/v2/Agents",
            Some(json!({
                "schemas": [AGENT],
                "agentUserName": "support-bot",
                "displayName": "Support bot",
                "description": "Answers tickets",
                "owners": [{"value": owner_id}, {"value": "not-a-member"}],
                "active": true
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let id = agent["id"].as_str().unwrap().to_owned();
    assert_eq!(agent["owners"][0]["value"], owner_id.as_str(), "{agent}");
    assert_eq!(
        agent["owners"].as_array().unwrap().len(),
        1,
        "a reference to nobody is left out"
    );
    assert_eq!(agent["description"], "Answers tickets");
    assert_eq!(agent["meta"]["resourceType"], "Agent");
    // draft-abbey's `name` works too.
    let (status, other) = app
        .agent_call(
            Method::POST,
            "/scim/v2/Agents",
            Some(json!({"schemas": [AGENT], "name": "triage-bot"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    // Agents are not Users, and Users are not Agents.
    let (_, users) = app.agent_call(Method::GET, "/scim/v2/Users", None).await;
    assert_eq!(users["totalResults"], 1, "{users}");
    let (status, _) = app.agent_call(Method::GET, &format!("/scim/v2/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, found) = app
        .agent_call(
            Method::GET,
            "/scim/v2/Agents?filter=agentUserName%20eq%20%22support-bot%22",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // A role-bound group gives the agent its role.
    let (status, group) = app
        .agent_call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({
                "displayName": "Bots",
                "members": [{"value": id}],
                "urn:ietf:params:scim:schemas:extension:roster:2.0:Group": {"role": "CHECKER"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let (_, agent) = app
        .agent_call(Method::GET, &format!("/scim/v2/Agents/{id}"), None)
        .await;
    assert_eq!(
        agent["urn:ietf:params:scim:schemas:extension:roster:2.0:User"]["role"], "CHECKER",
        "{agent}"
    );

    // Listed natively apart from people, with owners and tokens; tokens minted natively.
    let (status, issued) = app
        .agent_call(
            Method::POST,
            &format!("/api/v1/team/{id}/tokens/"),
            Some(json!({"name": "runner"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let agent_token = issued["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .agent_call(
            Method::POST,
            &format!("/api/v1/team/{owner_id}/tokens/"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "people do not get agent tokens");
    let (_, listed) = app.agent_call(Method::GET, "/api/v1/team/?kind=agent", None).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let bot = listed.iter().find(|m| m["member_id"] == id.as_str()).unwrap();
    assert_eq!(
        (bot["kind"].as_str(), bot["name"].as_str()),
        (Some("agent"), Some("support-bot"))
    );
    assert_eq!(bot["owners"][0]["member_id"], owner_id.as_str(), "{bot}");
    assert_eq!(bot["tokens"][0]["name"], "runner", "{bot}");
    let (_, people) = app.agent_call(Method::GET, "/api/v1/team/", None).await;
    assert!(
        people.as_array().unwrap().iter().all(|m| m["kind"] == "person"),
        "{people}"
    );

    // The agent acts with its own token: audited with the agent as actor.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/team/{id}/")))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "an agent reads its own record");
    let (_, log) = app
        .agent_call(Method::GET, &format!("/api/v1/team/members/{id}/audit-logs/"), None)
        .await;
    assert!(
        log.as_array().unwrap().iter().any(|e| e["actor"] == id.as_str()),
        "an event with the agent as actor: {log}"
    );

    // Deactivated through SCIM: SUSPENDED, and its token stops working at once.
    let (status, suspended) = app
        .agent_call(
            Method::PATCH,
            &format!("/scim/v2/Agents/{id}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["active"], false);
    let response = app
        .client
        .get(app.url("/api/v1/token/"))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the token died with the suspension"
    );
    // Reactivated: ACTIVE; a new token is needed.
    let (_, resumed) = app
        .agent_call(
            Method::PATCH,
            &format!("/scim/v2/Agents/{id}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": true}]})),
        )
        .await;
    assert_eq!(resumed["active"], true, "{resumed}");
    let (status, _) = app
        .agent_call(Method::POST, &format!("/api/v1/team/{id}/tokens/"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The owner leaves: the agent is flagged in the summary; then the agent is deleted.
    let (status, _) = app
        .agent_call(Method::DELETE, &format!("/scim/v2/Users/{owner_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, summary) = app
        .agent_call(
            Method::GET,
            &format!("/api/v1/organizations/{}/summary/", app.org),
            None,
        )
        .await;
    assert_eq!(summary["agents"]["total"], 2, "{summary}");
    assert_eq!(summary["agents"]["without_active_owner"], 2, "{summary}");
    // The owner never accepted: deleting it cancelled its invitation, so no person is left.
    assert_eq!(
        summary["members"]["total"], 0,
        "agents are not counted as people: {summary}"
    );
    let (status, _) = app
        .agent_call(Method::DELETE, &format!("/scim/v2/Agents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .agent_call(Method::GET, &format!("/scim/v2/Agents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.agent_call(Method::GET, "/api/v1/team/?kind=agent", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

both_backends!(agents_are_provisioned_like_people);
