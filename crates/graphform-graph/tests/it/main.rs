//! Integration tests of the Graph client against `graphform-emulator` over
//! real HTTP on 127.0.0.1, compiled as one binary with a module per topic.

mod batch;
mod endpoints;
mod errors;
mod gateway;
mod network;
mod pagination;
mod retries;
mod support;
mod throttling;
