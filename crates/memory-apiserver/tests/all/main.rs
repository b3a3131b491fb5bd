//! memory-apiserver's tests, compiled as one test binary (one link of the kube tree, not four).

mod common;

mod admission;
mod api;
mod controller;
mod crd_rules;
mod field_managers;
mod gc;
mod http;
mod namespaces;
mod watch;
