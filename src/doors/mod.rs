//! The entry points: each door turns what arrives (an API Gateway event, an SQS batch, a
//! schedule, a command line) into calls on the core ([`crate::app::App`],
//! [`crate::store`]) and its outcome into what the caller expects.
//!
//! One binary serves every door. On Lambda the function's `Handler` setting (`_HANDLER`)
//! names the door, so one build deploys as several functions (`template.yaml`); from a
//! shell, the first argument names a command.

pub mod cli;
pub mod http;
pub mod queue;
pub mod sync;

/// Which door this process opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// The webhook: API Gateway / function URL events (the default).
    Http,
    /// The hand-off queue's consumer: SQS events (`Handler: queue`).
    Queue,
    /// The scheduled sync from Tencent's REST API (`Handler: sync`; [`sync`]).
    Sync,
    /// An operator command from a shell: the arguments after the program name.
    Cli(Vec<String>),
}

impl Door {
    /// Arguments win (a shell); else the Lambda `Handler` (`_HANDLER`); else the webhook.
    pub fn select(args: Vec<String>, handler: Option<&str>) -> Door {
        if !args.is_empty() {
            return Door::Cli(args);
        }
        // `bootstrap`, the binary's name, empty or absent (cargo lambda's and SAM's
        // defaults for a function that names no door): the webhook.
        match handler {
            Some("queue") => Door::Queue,
            Some("sync") => Door::Sync,
            _ => Door::Http,
        }
    }
}

/// The usage text of the command-line door.
pub const USAGE: &str = "usage: oa-webhook            (as a Lambda: serves the door its Handler names: `queue`, the hand-off queue's consumer; default: the webhook)
       oa-webhook replay [--dry-run] [--max N]
                             takes the dead-letter queue's events back through the store, deletes each one stored
       oa-webhook sync [--account ID]... [--app ID] [--max-secs N] [--restart]
                             brings the table to what Tencent's REST API holds (docs/sync.md; as a Lambda: Handler `sync`)
       oa-webhook help";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_selection() {
        assert_eq!(Door::select(vec![], None), Door::Http);
        assert_eq!(Door::select(vec![], Some("bootstrap")), Door::Http);
        assert_eq!(Door::select(vec![], Some("queue")), Door::Queue);
        assert_eq!(Door::select(vec![], Some("sync")), Door::Sync);
        assert_eq!(
            Door::select(vec!["help".into()], Some("http")),
            Door::Cli(vec!["help".into()])
        );
    }
}
