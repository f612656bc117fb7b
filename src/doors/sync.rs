//! The sync's doors (contract section 6): `oa-webhook sync [--account ID]...` from a
//! shell, and the same sync as a scheduled Lambda (an EventBridge Scheduler target).
//! Both call [`crate::sync::run_sync`] for each configured app. Environment: docs/sync.md,
//! "Run it" (the secret key belongs to one app: with several, choose one with `--app`).

use crate::config::{Config, ConfigError, Env};
use crate::store::Store;
use crate::sync::{run_sync, SyncOptions, SyncReport};
use crate::tencent::rest::{RestClient, RestSettings, TencentConfig, TencentSettings};
use clap::builder::NonEmptyStringValueParser;
use std::time::Duration;
use tokio::time::Instant;

/// What `oa-webhook sync` was asked.
#[derive(Debug, Clone, PartialEq, Eq, Default, clap::Args)]
pub struct SyncArgs {
    /// Sync this Official Account (repeat for more); none: every account the table holds
    #[arg(long = "account", value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub accounts: Vec<String>,
    /// The app to sync (one of SDKAPPID; default: every configured app)
    #[arg(long, value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub app: Option<String>,
    /// Stop cleanly after N seconds (default 3600); a rerun continues
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_secs: Option<u64>,
    /// Ignore checkpoints: start a fresh run
    #[arg(long)]
    pub restart: bool,
}

/// A store and one REST client per app to sync.
pub struct SyncDoor {
    pub store: Store,
    pub clients: Vec<(String, RestClient)>,
    pub options: SyncOptions,
}

impl SyncDoor {
    /// From the function's configuration and the sync's variables; `app` narrows
    /// `SDKAPPID` to one app.
    pub fn new(
        config: &Config,
        tencent: &TencentConfig,
        store: Store,
        app: Option<&str>,
    ) -> Result<SyncDoor, ConfigError> {
        if app.is_some_and(|a| !config.is_configured_app(a)) {
            let problem = "does not list the app given with --app";
            return Err(ConfigError::new("SDKAPPID", problem));
        }
        let digits = |_| ConfigError::new("SDKAPPID", "must be digits");
        let settings = RestSettings::default();
        let clients = config
            .sdk_app_ids
            .iter()
            .filter(|a| app.is_none_or(|x| x == a.as_str()))
            .map(|a| {
                let id = a.parse().map_err(digits)?;
                Ok((a.clone(), RestClient::new(tencent, id, settings.clone())))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(SyncDoor {
            store: Store::new(
                crate::clients::sync_dynamodb(store.client()),
                store.table().to_owned(),
            ),
            clients,
            options: SyncOptions {
                skew: Duration::from_secs(config.max_skew_secs),
                ..SyncOptions::default()
            },
        })
    }

    /// Syncs every app, in turn, until `deadline`.
    pub async fn run(&self, accounts: &[String], deadline: Instant) -> Vec<SyncReport> {
        let mut out = Vec::new();
        for (app, client) in &self.clients {
            out.push(run_sync(&self.store, client, app, accounts, deadline, &self.options).await);
        }
        out
    }
}

/// The door from the environment: the sync's variables, the key (from Secrets Manager
/// when given as an ARN), one client per app.
pub async fn from_env(
    config: &Config,
    sdk: &aws_config::SdkConfig,
    store: Store,
    app: Option<&str>,
) -> Result<SyncDoor, ConfigError> {
    let tencent = TencentSettings::read(&Env::process())?.load(sdk).await?;
    SyncDoor::new(config, &tencent, store, app)
}

/// `oa-webhook sync ...`: prints one JSON report per app on stdout. Exit status 0 when
/// every run completed, 1 when one stopped or failed (run it again: it continues), 2 for
/// a configuration it cannot run with.
pub async fn cli(
    parsed: &SyncArgs,
    config: &Config,
    sdk: &aws_config::SdkConfig,
    store: Store,
) -> i32 {
    let mut door = match from_env(config, sdk, store, parsed.app.as_deref()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            return 2;
        }
    };
    door.options.checkpoints = !parsed.restart;
    let deadline = Instant::now() + Duration::from_secs(parsed.max_secs.unwrap_or(3600));
    let reports = door.run(&parsed.accounts, deadline).await;
    let mut ok = true;
    for r in &reports {
        ok &= r.complete && r.error.is_none();
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    }
    i32::from(!ok)
}

/// Time kept free before the Lambda deadline: the report, the checkpoint, the reply.
pub(crate) const LAMBDA_MARGIN: Duration = Duration::from_secs(20);

/// The scheduled Lambda: any event (EventBridge Scheduler sends its `Input`, e.g. `{}` or
/// `{"accounts": ["@TOA#_x"]}`), a sync until 20 s before the invocation's deadline, the
/// reports as the result. A run cut short continues at the next invocation.
pub async fn scheduled(
    door: &SyncDoor,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<Vec<SyncReport>, lambda_runtime::Error> {
    // Indexing a JSON value never panics: anything but an object's array reads as none.
    let accounts: Vec<String> = event.payload["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let left = crate::clock::Clock::system()
        .left_before(event.context.deadline, LAMBDA_MARGIN)
        .unwrap_or_default();
    let deadline = Instant::now() + left;
    Ok(door.run(&accounts, deadline).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::doors::cli::{Command, CommandLine};
    use clap::Parser;

    fn parse(a: &[&str]) -> Result<SyncArgs, clap::Error> {
        let line = CommandLine::try_parse_from(["oa-webhook", "sync"].iter().chain(a))?;
        match line.command {
            Command::Sync(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_accounts_app_and_limits() {
        assert_eq!(parse(&[]).ok(), Some(SyncArgs::default()));
        let p = parse(&[
            "--account",
            "@TOA#_a",
            "--account",
            "@TOA#_b",
            "--app",
            "1400000001",
            "--max-secs",
            "600",
            "--restart",
        ])
        .expect("valid");
        assert_eq!(p.accounts, vec!["@TOA#_a", "@TOA#_b"]);
        assert_eq!(p.app.as_deref(), Some("1400000001"));
        assert_eq!(p.max_secs, Some(600));
        assert!(p.restart);
        assert!(parse(&["--account"]).is_err());
        assert!(parse(&["--account", ""]).is_err());
        assert!(parse(&["--max-secs", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
