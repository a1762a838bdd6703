//! Integration tests against real SQLite files, the real PostgreSQL server, a real HTTP
//! receiver on loopback and the real `driftwatch` binary. One binary keeps links short.

mod alertmanager;
mod alerts_e2e;
mod backtest_e2e;
mod baseline_e2e;
mod check_cli;
mod crash;
mod custom_query;
mod deadletters_api;
mod delivery;
mod demo;
mod deploy;
mod email;
mod external;
mod grouping;
mod helpers;
mod promql;
mod receiver_disable;
mod reload_api;
mod retry_after;
mod rule_tests;
mod scenarios_e2e;
mod schema;
mod score_nab;
mod scrape;
mod shutdown;
mod sighup;
mod silences_api;
mod simulate;
mod source_down;
mod summary_api;
mod template_cli;
mod webhook_addresses;
mod webhook_limits;
mod webhook_rotation;
