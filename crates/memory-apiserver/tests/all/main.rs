//! memory-apiserver's tests, compiled as one test binary (one link of the kube tree, not four).

mod common;

mod admission;
mod api;
mod controller;
mod crd_rules;
mod discovery;
mod event_apis;
mod field_managers;
mod gc;
mod http;
mod kubectl;
mod kubectl_replay;
mod kubectl_writes;
mod namespaces;
mod tables;
mod watch;
