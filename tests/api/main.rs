//! roster's one integration-test binary. Every test here runs twice, on SQLite and on PostgreSQL
//! (see `both_backends!`); the PostgreSQL runs need ROSTER_TEST_DATABASE_URL.

#[macro_use]
mod helpers;

mod agents;
mod auth;
mod cli;
mod console;
mod events;
mod fuzz;
mod health;
mod interop;
mod invitations;
mod mapping;
mod organizations;
mod safety;
mod scim;
mod smtp;
mod storage;
mod team;
