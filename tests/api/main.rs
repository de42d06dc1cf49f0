//! One integration-test binary: the real app on a random port, driven over HTTP as WeChat
//! drives it, with the simulators served by the same process.

mod helpers;
mod money_helpers;

mod alerts;
mod bills;
mod binding;
mod binding_limits;
mod callback;
mod claim;
mod crash;
mod deadline;
mod dedup;
mod feedback;
mod forgery;
mod fuzz_smoke;
mod isolation;
mod labels;
mod memory;
mod money_admin;
mod money_crash;
mod notice_quota;
mod notices;
mod operator_cli;
mod payments;
mod platform;
mod push;
mod queries;
mod restart;
mod rules_reload;
mod soak;
mod tickets;
mod topup;
mod upstream_cli;
