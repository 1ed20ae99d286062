//! Benchmarks that print figures (never asserted in tests): `dsmaster bench <name>`.
//! Each records the command that produced it in BENCHMARKS.md.

// Benchmarks measure wall-clock time of real processes.
#![allow(clippy::disallowed_types)]

pub mod chain;
pub mod failover;
