// One schema for both backends; see migrations/{sqlite,postgres}.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        default_role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_ci -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        created_at -> Timestamp,
        verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    members (id) {
        id -> Text,
        organization_id -> Text,
        user_id -> Nullable<Text>,
        user_name -> Text,
        user_name_ci -> Text,
        external_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        email_ci -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        role -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        scim_attributes -> Text,
        scim_deleted_at -> Nullable<Timestamp>,
        removed_at -> Nullable<Timestamp>,
        version -> BigInt,
        added_date -> Timestamp,
        updated_at -> Timestamp,
        last_login -> Nullable<Timestamp>,
        deactivated_date -> Nullable<Timestamp>,
        verified_at -> Nullable<Timestamp>,
        role_from_groups -> Bool,
        ignored_roles -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    member_groups (id) {
        id -> Text,
        organization_id -> Text,
        display_name -> Text,
        display_name_ci -> Text,
        external_id -> Nullable<Text>,
        description -> Nullable<Text>,
        scim_attributes -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_memberships (group_id, member_id) {
        group_id -> Text,
        member_id -> Text,
        organization_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    group_role_bindings (group_id) {
        group_id -> Text,
        organization_id -> Text,
        role -> Text,
        source -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        organization_id -> Text,
        member_id -> Text,
        token_hash -> Text,
        email -> Text,
        status -> Text,
        invited_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        delivery_status -> Text,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Text,
        organization_id -> Text,
        invitation_id -> Nullable<Text>,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        sign_in_link_id -> Nullable<Text>,
        template -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Text,
        actor -> Text,
        actor_member_id -> Nullable<Text>,
        channel -> Text,
        event_name -> Text,
        subject_member_id -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        token_hash -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
        source -> Text,
        source_event_id -> Nullable<Text>,
    }
}

diesel::table! {
    agent_owners (agent_id, owner_id) {
        organization_id -> Text,
        agent_id -> Text,
        owner_id -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        organization_id -> Text,
        event_type -> Text,
        subject_id -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
        txid -> BigInt,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        secret -> Text,
        event_types -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        cursor_txid -> BigInt,
        cursor_id -> BigInt,
        attempts -> Integer,
        failing_since -> Nullable<Timestamp>,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        organization_id -> Text,
        endpoint_id -> Text,
        event_id -> BigInt,
        event_type -> Text,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        latency_ms -> BigInt,
        succeeded -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        scopes -> Text,
        member_id -> Nullable<Text>,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    member_emails (organization_id, member_id, value_ci) {
        member_id -> Text,
        organization_id -> Text,
        value_ci -> Text,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        organization_id -> Text,
        member_id -> Nullable<Text>,
        token_id -> Nullable<Text>,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    console_sign_in_links (id) {
        id -> Text,
        organization_id -> Text,
        member_id -> Text,
        token_hash -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    provisioning_activity (id) {
        id -> BigInt,
        organization_id -> Text,
        at -> Timestamp,
        client -> Text,
        method -> Text,
        path -> Text,
        operation -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        status -> Integer,
        succeeded -> Bool,
        scim_type -> Nullable<Text>,
        detail -> Nullable<Text>,
        duration_ms -> Integer,
    }
}

diesel::joinable!(members -> organizations (organization_id));
diesel::joinable!(group_memberships -> member_groups (group_id));
diesel::joinable!(group_memberships -> members (member_id));
diesel::joinable!(invitations -> members (member_id));
diesel::joinable!(api_tokens -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    members,
    member_groups,
    group_memberships,
    group_role_bindings,
    invitations,
    email_outbox,
    audit_events,
    api_tokens,
    events,
    agent_owners,
    webhook_endpoints,
    webhook_deliveries,
    console_sessions,
    console_sign_in_links,
    provisioning_activity,
);
