//! Whole-system tests: the real router over SQLite and PostgreSQL, a real authoritative
//! DNS server on loopback, real HTTP. Nothing here touches the internet or the machine's
//! resolver.

mod api;
mod cname;
mod console;
mod dns_data;
mod errors;
mod internal;
mod limits;
mod monitor;
mod ops;
mod outage;
mod return_path;
mod speed;
mod support;
mod webhooks;
mod zone_file;
