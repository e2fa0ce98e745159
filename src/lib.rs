//! roster: a SCIM 2.0 provisioning connector and native team API over one membership model.
//!
//! Layers, dependencies pointing down: `api` (HTTP doors) → `service` (use cases, one transaction
//! each) → `domain` (types and rules) and `storage` (diesel over SQLite and PostgreSQL); `scim` is
//! the pure protocol; `auth` verifies tokens; `cli`, `config`, `startup` and `telemetry` run it.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod mail;
pub mod mapping;
pub mod metrics;
pub mod scim;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
