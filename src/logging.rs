//! Log set-up for every door: JSON lines on stdout, as Lambda's advanced logging
//! controls expect.

use crate::config::Env;

/// JSON log lines on stdout. Level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// INFO; `AWS_LAMBDA_LOG_FORMAT=Text` switches to plain text (read through `env`,
/// [`Env::process`] in `main`). See [`log_filter`].
pub fn init_tracing<L: Fn(&str) -> Option<String>>(env: &Env<L>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(
        env.raw("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env.raw("RUST_LOG").as_deref(),
    );
    // No colour codes: CloudWatch shows them as text. (The `ansi` feature is compiled in:
    // metrique-writer asks for tracing-subscriber's defaults.)
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .without_time();
    let text = env
        .get("AWS_LAMBDA_LOG_FORMAT")
        .is_some_and(|f| f.eq_ignore_ascii_case("text"));
    let registry = tracing_subscriber::registry().with(filter);
    if text {
        registry.with(fmt).init();
    } else {
        registry.with(fmt.json().flatten_event(true)).init();
    }
}

/// The log filter: `RUST_LOG` as `target=level` directives (`info,aws_smithy_runtime=debug`;
/// an invalid value is ignored), its default level replaced by `AWS_LAMBDA_LOG_LEVEL`
/// when that is a valid level, INFO when neither gives one.
///
/// A [`Targets`](tracing_subscriber::filter::Targets) filter, not an `EnvFilter`: the same
/// directives except span and field filters, without the regex engine an `EnvFilter`
/// brings into the binary.
pub(crate) fn log_filter(
    lambda_level: Option<&str>,
    rust_log: Option<&str>,
) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let targets = rust_log
        .and_then(|s| s.trim().parse::<Targets>().ok())
        .unwrap_or_default();
    let lambda = lambda_level.and_then(|l| l.trim().parse::<LevelFilter>().ok());
    match (lambda, targets.default_level()) {
        (Some(level), _) => targets.with_default(level),
        (None, Some(_)) => targets,
        (None, None) => targets.with_default(LevelFilter::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_filter_levels_and_directives() {
        let on = |f: &tracing_subscriber::filter::Targets, target: &str, level: Level| {
            f.would_enable(target, &level)
        };
        // Nothing set: INFO everywhere.
        let f = log_filter(None, None);
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
        // AWS_LAMBDA_LOG_LEVEL, case as Lambda writes it.
        let f = log_filter(Some("WARN"), None);
        assert!(on(&f, "oa_webhook", Level::WARN) && !on(&f, "oa_webhook", Level::INFO));
        // RUST_LOG directives: a default and per-target levels.
        let f = log_filter(None, Some("warn,aws_smithy_runtime=debug"));
        assert!(on(&f, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(!on(&f, "oa_webhook", Level::INFO));
        // A per-target directive alone keeps INFO for the rest.
        let f = log_filter(None, Some("aws_smithy_runtime=trace"));
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
        assert!(on(&f, "aws_smithy_runtime", Level::TRACE));
        // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG's default, keeps its targets.
        let f = log_filter(Some("error"), Some("debug,hyper=trace"));
        assert!(!on(&f, "oa_webhook", Level::WARN) && on(&f, "hyper", Level::TRACE));
        // Invalid values are ignored, not fatal.
        let f = log_filter(Some("loud"), Some("debug,hyper=loud"));
        assert!(on(&f, "oa_webhook", Level::INFO) && !on(&f, "oa_webhook", Level::DEBUG));
    }
}
