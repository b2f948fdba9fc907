//! Integration tests of `domain-core`, through its public API only, in one binary so that
//! linking stays cheap.

mod rfc7208;
mod spf_real_world;
mod spf_suite;
