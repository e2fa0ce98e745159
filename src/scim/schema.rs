//! The attribute registry: every attribute roster serves, with its RFC 7643 characteristics. It is
//! the one source for `/Schemas`, filter and path resolution (case-insensitive, qualified or not),
//! projection (`returned`) and PATCH checks (`mutability`).

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The Agent resource of the SCIM agent drafts (draft-wzdk-scim-agent-resource and
/// draft-abbey-scim-agent-extension use the same URN).
pub const AGENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// roster's own extension: the native member's fields.
pub const ROSTER_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:User";
pub const ROSTER_GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:Group";
/// Sent by Entra ID in some Group requests; accepted as the core Group schema.
pub const ENTRA_GROUP_SCHEMA: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
    Integer,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

const fn multi(mut a: AttrDef) -> AttrDef {
    a.multi_valued = true;
    a
}

const fn read_only(mut a: AttrDef) -> AttrDef {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn case_exact(mut a: AttrDef) -> AttrDef {
    a.case_exact = true;
    a
}

const fn complex(name: &'static str, description: &'static str, sub: &'static [AttrDef]) -> AttrDef {
    let mut a = attr(name, AttrType::Complex, description);
    a.sub_attributes = sub;
    a
}

const fn canonical(mut a: AttrDef, values: &'static [&'static str]) -> AttrDef {
    a.canonical_values = values;
    a
}

const fn immutable(mut a: AttrDef) -> AttrDef {
    a.mutability = Mutability::Immutable;
    a
}

/// The sub-attributes of a typed multi-valued attribute (value, display, type, primary).
const fn typed_sub(types: &'static [&'static str]) -> [AttrDef; 4] {
    [
        string("value", "The value."),
        string("display", "A human-readable name."),
        canonical(string("type", "A label indicating the attribute's function."), types),
        attr("primary", AttrType::Boolean, "The primary value; at most one is true."),
    ]
}

const EMAIL_SUB: [AttrDef; 4] = typed_sub(&["work", "home", "other"]);
const PHONE_SUB: [AttrDef; 4] = typed_sub(&["work", "home", "mobile", "fax", "pager", "other"]);
const IMS_SUB: [AttrDef; 4] = typed_sub(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]);
const PHOTO_SUB: [AttrDef; 4] = typed_sub(&["photo", "thumbnail"]);
const PLAIN_SUB: [AttrDef; 4] = typed_sub(&[]);

const ADDRESS_SUB: &[AttrDef] = &[
    string("formatted", "The full mailing address."),
    string("streetAddress", "The full street address."),
    string("locality", "The city or locality."),
    string("region", "The state or region."),
    string("postalCode", "The zip or postal code."),
    string("country", "The country (ISO 3166-1 alpha-2)."),
    canonical(string("type", "work, home or other."), &["work", "home", "other"]),
    attr("primary", AttrType::Boolean, "The primary address."),
];

pub const USER_ATTRIBUTES: &[AttrDef] = &[
    {
        let mut a = string(
            "userName",
            "Unique identifier for the User, used to sign in; unique within the organization, case-insensitive.",
        );
        a.required = true;
        a.uniqueness = Uniqueness::Server;
        a
    },
    complex(
        "name",
        "The components of the user's real name.",
        &[
            string("formatted", "The full name."),
            string("familyName", "The family name (the member's last_name)."),
            string("givenName", "The given name (the member's first_name)."),
            string("middleName", "The middle name(s)."),
            string("honorificPrefix", "Honorific prefix, e.g. Ms."),
            string("honorificSuffix", "Honorific suffix, e.g. III."),
        ],
    ),
    string("displayName", "The name displayed to end users."),
    string("nickName", "The casual name."),
    attr("profileUrl", AttrType::Reference, "A URI to the user's online profile."),
    string("title", "The user's title."),
    string("userType", "The relationship between the organization and the user."),
    string("preferredLanguage", "The preferred written or spoken language."),
    string("locale", "The default location, for localisation."),
    string("timezone", "The time zone, in IANA format."),
    attr(
        "active",
        AttrType::Boolean,
        "Whether the user may use the service: true while invited or active.",
    ),
    {
        let mut a = string("password", "Write-only: accepted and never returned nor stored.");
        a.mutability = Mutability::WriteOnly;
        a.returned = Returned::Never;
        a
    },
    multi(complex(
        "emails",
        "E-mail addresses; the primary (or work) one is the member's e-mail.",
        &EMAIL_SUB,
    )),
    multi(complex(
        "phoneNumbers",
        "Phone numbers; the primary (or mobile, or work) one becomes the member's phone in E.164 when it parses.",
        &PHONE_SUB,
    )),
    multi(complex("ims", "Instant messaging addresses.", &IMS_SUB)),
    multi(complex("photos", "URLs of photos of the user.", &PHOTO_SUB)),
    multi(complex("addresses", "Physical mailing addresses.", ADDRESS_SUB)),
    read_only(multi(complex(
        "groups",
        "The groups the user belongs to (read-only; change memberships through Groups).",
        &[
            read_only(string("value", "The group's id.")),
            read_only(attr("$ref", AttrType::Reference, "The group's URI.")),
            read_only(string("display", "The group's displayName.")),
            read_only(canonical(
                string("type", "direct or indirect."),
                &["direct", "indirect"],
            )),
        ],
    ))),
    multi(complex("entitlements", "Entitlements.", &PLAIN_SUB)),
    multi(complex(
        "roles",
        "Roles; a value naming a roster role sets the member's role.",
        &PLAIN_SUB,
    )),
    multi(complex("x509Certificates", "Certificates.", &PLAIN_SUB)),
];

/// An AI agent. `agentUserName` (draft-wzdk) and `name` (draft-abbey) both name it; owners are
/// Users who answer for it.
pub const AGENT_ATTRIBUTES: &[AttrDef] = &[
    string(
        "agentUserName",
        "The agent's unique name in the organization (draft-wzdk).",
    ),
    string(
        "name",
        "The agent's unique name (draft-abbey's name for agentUserName).",
    ),
    string("displayName", "A human-readable name."),
    string("description", "What the agent does."),
    string("agentType", "The kind of agent, as the provider names it."),
    attr(
        "active",
        AttrType::Boolean,
        "false suspends the agent and revokes its tokens.",
    ),
    multi(complex(
        "owners",
        "The members who answer for the agent (Users of this organization).",
        &[
            case_exact(string("value", "The owner's User id.")),
            attr("$ref", AttrType::Reference, "The owner's URI."),
            read_only(string("display", "The owner's name.")),
            string("type", "The kind of owner (User)."),
        ],
    )),
    read_only(multi(complex(
        "groups",
        "The groups the agent belongs to (read-only; change memberships through Groups).",
        &[
            read_only(string("value", "The group's id.")),
            read_only(attr("$ref", AttrType::Reference, "The group's URI.")),
            read_only(string("display", "The group's displayName.")),
            read_only(string("type", "direct or indirect.")),
        ],
    ))),
    multi(complex("entitlements", "Entitlements, kept as sent.", &PLAIN_SUB)),
    multi(complex(
        "roles",
        "Roles; a value naming a roster role (or a role alias) sets the agent's role.",
        &PLAIN_SUB,
    )),
];

pub const ENTERPRISE_USER_ATTRIBUTES: &[AttrDef] = &[
    string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    string("costCenter", "Name of a cost center."),
    string("organization", "Name of an organization."),
    string("division", "Name of a division."),
    string("department", "Name of a department."),
    complex(
        "manager",
        "The user's manager.",
        &[
            string("value", "The id of the manager's User."),
            attr("$ref", AttrType::Reference, "The URI of the manager's User."),
            read_only(string("displayName", "The manager's displayName.")),
        ],
    ),
];

pub const ROSTER_USER_ATTRIBUTES: &[AttrDef] = &[
    read_only(case_exact(string("memberId", "The native member_id."))),
    read_only(case_exact(string(
        "userId",
        "The native user_id, once the person has registered.",
    ))),
    canonical(
        string(
            "role",
            "The native role (set from role-bound groups or the roles attribute).",
        ),
        &[
            "VIEWER",
            "MARKET",
            "CHECKER",
            "NON_TRANSACTIONAL_ADMIN",
            "ADMINISTRATOR",
        ],
    ),
    read_only(canonical(
        string("status", "The native status."),
        &["PENDING", "ACTIVE", "INACTIVE", "SUSPENDED", "BLOCKED"],
    )),
    read_only(canonical(
        string("invitationStatus", "The latest invitation's state."),
        &["QUEUED", "SENT", "EXPIRED", "ACCEPTED", "CANCELLED", "DELIVERY_FAILED"],
    )),
    read_only(attr(
        "lastLogin",
        AttrType::DateTime,
        "The last time the member used roster.",
    )),
    read_only(attr(
        "deactivatedDate",
        AttrType::DateTime,
        "When the member was deactivated.",
    )),
];

pub const GROUP_ATTRIBUTES: &[AttrDef] = &[
    {
        let mut a = string("displayName", "A human-readable name for the Group.");
        a.required = true;
        a
    },
    multi(complex(
        "members",
        "The members of the Group.",
        &[
            immutable(case_exact(string("value", "The member's User id."))),
            immutable(attr("$ref", AttrType::Reference, "The member's URI.")),
            read_only(string("display", "The member's displayName.")),
            immutable(canonical(string("type", "User."), &["User"])),
        ],
    )),
];

pub const ROSTER_GROUP_ATTRIBUTES: &[AttrDef] = &[
    canonical(
        string(
            "role",
            "The roster role this group gives its members (the highest-ranked role-bound group wins).",
        ),
        &[
            "VIEWER",
            "MARKET",
            "CHECKER",
            "NON_TRANSACTIONAL_ADMIN",
            "ADMINISTRATOR",
        ],
    ),
    read_only(case_exact(multi(string(
        "ignoredMembers",
        "In the answer to a write: member values of the request that name no User of the organization, \
         left out of the group (and recorded in the audit event).",
    )))),
];

/// Attributes every resource has (RFC 7643 §3.1).
pub const COMMON_ATTRIBUTES: &[AttrDef] = &[
    {
        let mut a = read_only(case_exact(string("id", "Unique identifier of the resource.")));
        a.returned = Returned::Always;
        a.uniqueness = Uniqueness::Server;
        a
    },
    case_exact(string(
        "externalId",
        "Identifier of the resource in the provisioning client.",
    )),
    read_only(complex(
        "meta",
        "Resource metadata.",
        &[
            read_only(case_exact(string("resourceType", "User or Group."))),
            read_only(attr("created", AttrType::DateTime, "When the resource was created.")),
            read_only(attr(
                "lastModified",
                AttrType::DateTime,
                "When the resource last changed.",
            )),
            read_only(attr("location", AttrType::Reference, "The resource's URI.")),
            read_only(case_exact(string("version", "The resource's ETag."))),
        ],
    )),
];

/// A resource type and its schemas.
#[derive(Debug)]
pub struct ResourceSchema {
    pub resource_type: &'static str,
    pub endpoint: &'static str,
    pub core: &'static str,
    pub core_attributes: &'static [AttrDef],
    pub extensions: &'static [(&'static str, &'static [AttrDef])],
}

pub const USER: ResourceSchema = ResourceSchema {
    resource_type: "User",
    endpoint: "/Users",
    core: USER_SCHEMA,
    core_attributes: USER_ATTRIBUTES,
    extensions: &[
        (ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER_ATTRIBUTES),
        (ROSTER_USER_SCHEMA, ROSTER_USER_ATTRIBUTES),
    ],
};

pub const AGENT: ResourceSchema = ResourceSchema {
    resource_type: "Agent",
    endpoint: "/Agents",
    core: AGENT_SCHEMA,
    core_attributes: AGENT_ATTRIBUTES,
    extensions: &[(ROSTER_USER_SCHEMA, ROSTER_USER_ATTRIBUTES)],
};

pub const GROUP: ResourceSchema = ResourceSchema {
    resource_type: "Group",
    endpoint: "/Groups",
    core: GROUP_SCHEMA,
    core_attributes: GROUP_ATTRIBUTES,
    extensions: &[(ROSTER_GROUP_SCHEMA, ROSTER_GROUP_ATTRIBUTES)],
};

/// A resolved attribute: which schema it lives in and its definitions down the path.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `None` for the core schema and common attributes, else the extension URN.
    pub extension: Option<&'static str>,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl Resolved {
    /// The definition at the end of the path.
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.attr)
    }

    /// Canonical dotted name, e.g. `name.givenName`, with the extension URN prefix when there is one.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        if let Some(ext) = self.extension {
            s.push_str(ext);
            s.push(':');
        }
        s.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub.name);
        }
        s
    }
}

fn find(attrs: &'static [AttrDef], name: &str) -> Option<&'static AttrDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

impl ResourceSchema {
    pub fn schemas(&self) -> Vec<&'static str> {
        std::iter::once(self.core)
            .chain(self.extensions.iter().map(|(u, _)| *u))
            .collect()
    }

    /// Whether `path` names an attribute of an extension schema this resource does not have (an
    /// IdP's own, e.g. Entra's `urn:ietf:params:scim:schemas:extension:<app>:2.0:User:<attr>`).
    pub fn is_unknown_extension(&self, path: &str) -> bool {
        let schemas = self.schemas();
        path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
            && split_urn(path, &schemas).0.is_none()
            && !schemas.iter().any(|s| s.eq_ignore_ascii_case(path))
    }

    /// Resolves `uri`, `name`, `sub` (as a filter or path names them) case-insensitively. A URI may
    /// be the core schema, an extension, or (as some clients send) absent for extension attributes
    /// whose names do not clash with core ones.
    pub fn resolve(&self, uri: Option<&str>, name: &str, sub: Option<&str>) -> Option<Resolved> {
        let (extension, attr) = match uri {
            Some(uri)
                if uri.eq_ignore_ascii_case(self.core)
                    || (self.core == GROUP_SCHEMA && uri.eq_ignore_ascii_case(ENTRA_GROUP_SCHEMA)) =>
            {
                (
                    None,
                    find(self.core_attributes, name).or_else(|| find(COMMON_ATTRIBUTES, name))?,
                )
            }
            Some(uri) => {
                let (ext, attrs) = self.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(uri))?;
                (Some(*ext), find(attrs, name)?)
            }
            None => match find(self.core_attributes, name).or_else(|| find(COMMON_ATTRIBUTES, name)) {
                Some(a) => (None, a),
                None => {
                    let mut found = self
                        .extensions
                        .iter()
                        .filter_map(|(u, attrs)| find(attrs, name).map(|a| (Some(*u), a)));
                    let first = found.next()?;
                    if found.next().is_some() {
                        return None; // ambiguous without its URN
                    }
                    first
                }
            },
        };
        let sub = match sub {
            None => None,
            Some(s) => Some(find(attr.sub_attributes, s)?),
        };
        Some(Resolved { extension, attr, sub })
    }

    /// Splits a full path such as `urn:…:enterprise:2.0:User:manager.value` or `name.givenName`
    /// into (uri, name, sub) and resolves it. The `.` in `2.0` and the `:` before the name are
    /// handled by matching known schema URNs first.
    pub fn resolve_path(&self, path: &str) -> Option<Resolved> {
        let (uri, rest) = split_urn(path, &self.schemas());
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        self.resolve(uri, name, sub)
    }
}

/// Splits a known schema URN prefix (case-insensitive) off `path`.
pub fn split_urn<'a>(path: &'a str, schemas: &[&str]) -> (Option<&'a str>, &'a str) {
    let candidates = schemas.iter().copied().chain([ENTRA_GROUP_SCHEMA]);
    for urn in candidates {
        // `get` rather than indexing: a multi-byte character may straddle the URN's length, and
        // user input must never make a slice panic. After an ASCII `:` the rest starts on a
        // character boundary.
        if let Some(prefix) = path.get(..urn.len())
            && prefix.eq_ignore_ascii_case(urn)
            && path.as_bytes().get(urn.len()) == Some(&b':')
            && path.len() > urn.len() + 1
        {
            return (Some(prefix), &path[urn.len() + 1..]);
        }
    }
    (None, path)
}

// ---- Discovery documents ------------------------------------------------------------------

fn attr_json(a: &AttrDef) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": match a.ty {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
            AttrType::Integer => "integer",
            AttrType::Binary => "binary",
        },
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match a.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        },
        "uniqueness": match a.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        },
    });
    if !a.canonical_values.is_empty() {
        v["canonicalValues"] = json!(a.canonical_values);
    }
    if a.ty == AttrType::Reference {
        v["referenceTypes"] = json!(if a.reference_types.is_empty() {
            &["external"][..]
        } else {
            a.reference_types
        });
    }
    if !a.sub_attributes.is_empty() {
        v["subAttributes"] = Value::Array(a.sub_attributes.iter().map(attr_json).collect());
    }
    v
}

/// One `/Schemas/{id}` document.
pub fn schema_document(id: &str, name: &str, description: &str, attrs: &[AttrDef], base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{id}")},
    })
}

/// Every schema roster serves.
pub fn all_schemas(base_url: &str) -> Vec<Value> {
    vec![
        schema_document(USER_SCHEMA, "User", "User Account", USER_ATTRIBUTES, base_url),
        schema_document(GROUP_SCHEMA, "Group", "Group", GROUP_ATTRIBUTES, base_url),
        schema_document(AGENT_SCHEMA, "Agent", "AI agent", AGENT_ATTRIBUTES, base_url),
        schema_document(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_USER_ATTRIBUTES,
            base_url,
        ),
        schema_document(
            ROSTER_USER_SCHEMA,
            "RosterUser",
            "roster's native member fields",
            ROSTER_USER_ATTRIBUTES,
            base_url,
        ),
        schema_document(
            ROSTER_GROUP_SCHEMA,
            "RosterGroup",
            "roster's group-to-role binding",
            ROSTER_GROUP_ATTRIBUTES,
            base_url,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_is_case_insensitive_and_takes_urns() {
        let r = USER.resolve(None, "USERNAME", None).unwrap();
        assert_eq!(r.canonical(), "userName");
        let r = USER.resolve_path("name.FamilyName").unwrap();
        assert_eq!(r.canonical(), "name.familyName");
        let r = USER
            .resolve_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
            .unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        let r = USER
            .resolve_path("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:manager.value")
            .unwrap();
        assert_eq!(
            r.canonical(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        let r = USER
            .resolve_path("urn:ietf:params:scim:schemas:core:2.0:User:emails.value")
            .unwrap();
        assert_eq!(r.leaf().name, "value");
        // An extension attribute without its URN, when unambiguous (Entra's unqualified `manager`).
        assert_eq!(
            USER.resolve_path("manager").unwrap().extension,
            Some(ENTERPRISE_USER_SCHEMA)
        );
        assert_eq!(
            USER.resolve_path("meta.lastModified").unwrap().canonical(),
            "meta.lastModified"
        );
        assert!(USER.resolve_path("nonsense").is_none());
        assert!(USER.resolve_path("name.nonsense").is_none());
        assert!(
            GROUP
                .resolve_path("http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group:displayName")
                .is_some()
        );
    }

    #[test]
    fn schema_documents_describe_characteristics() {
        let docs = all_schemas("http://x/scim/v2");
        assert_eq!(docs.len(), 6);
        let user = &docs[0];
        let password = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        let user_name = &user["attributes"][0];
        assert_eq!(
            (user_name["uniqueness"].as_str(), user_name["required"].as_bool()),
            (Some("server"), Some(true))
        );
    }
}
