//! climate-tracker: the REST service of the China–Pacific climate cooperation.

pub mod app;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod entities;
pub mod export;
pub mod http;
pub mod jobs;
pub mod seed;
pub mod server;
pub mod store;
pub mod synthetic;
