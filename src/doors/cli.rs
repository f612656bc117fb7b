//! The command-line door: one parser (clap) for `replay`, `sync` and `help`.
//!
//! - `oa-webhook replay [--dry-run] [--max N]`: takes events from the dead-letter queue
//!   back through the store ([`App::redeliver`], the queue consumer's code), deletes each
//!   one stored, and prints what it did: one line per message (its id, command and
//!   outcome, never its body) and the counts. Messages it does not delete are made
//!   visible again when it ends. With `--dry-run` it only lists them.
//! - `oa-webhook sync ...`: [`super::sync`].

use crate::app::App;
use crate::events::CommandKind;
use crate::handoff::{Envelope, QueueError, QueueName, Received};
use crate::outcome::Outcome;
use crate::protocol::Seen;
use crate::store::Budget;
use clap::builder::RangedU64ValueParser;
use std::io::Write;
use std::time::Duration;

/// `oa-webhook`'s command line. Without arguments (as on Lambda) the binary serves the
/// Lambda door instead (`main`).
#[derive(Debug, clap::Parser)]
#[command(
    name = "oa-webhook",
    about = "Tencent Cloud Chat Official Account webhooks into DynamoDB. Without arguments, \
             as a Lambda: the door each event's shape asks for (webhook, hand-off queue \
             consumer, scheduled sync)."
)]
pub struct CommandLine {
    #[command(subcommand)]
    pub command: Command,
}

/// A command.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Takes the dead-letter queue's events back through the store, deletes each one
    /// stored
    Replay(ReplayArgs),
    /// Brings the table to what Tencent's REST API holds (docs/sync.md; as a Lambda:
    /// Handler `sync`)
    Sync(super::sync::SyncArgs),
}

/// What `replay` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ReplayArgs {
    /// List the messages only
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many messages
    #[arg(long, default_value_t = REPLAY_DEFAULT_MAX, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max: usize,
}

pub(crate) const REPLAY_DEFAULT_MAX: usize = 1000;

/// `oa-webhook replay`: prints to stdout; the exit status (0: nothing failed, still
/// refused ones kept included; 1: some failed, or the queue could not be read).
pub(crate) async fn replay_command(app: &App, args: &ReplayArgs) -> i32 {
    match replay(app, args, &mut std::io::stdout()).await {
        Ok(sum) => i32::from(sum.failed > 0),
        Err(e) => {
            eprintln!("oa-webhook replay: {e}");
            1
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    pub received: usize,
    /// Stored (or already there) and deleted from the dead-letter queue.
    pub replayed: usize,
    /// Still refused (rows 11, 12a): left in the queue.
    pub rejected: usize,
    /// The table did not take them (yet): left in the queue.
    pub failed: usize,
    /// Listed only (`--dry-run`).
    pub listed: usize,
}

/// How long a received message stays hidden while a replay runs (it is released at the
/// end when not deleted).
const HIDE: Duration = Duration::from_secs(120);
/// Receives that come back empty, in a row, before the queue counts as drained.
const EMPTY_RECEIVES: u32 = 2;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("DEAD_LETTER_QUEUE_URL is not set")]
    NoDeadLetterQueue,
    #[error("cannot read the dead-letter queue: {0}")]
    Receive(#[from] QueueError),
}

/// Runs `replay`, printing to `out`.
pub async fn replay(
    app: &App,
    args: &ReplayArgs,
    out: &mut impl Write,
) -> Result<ReplaySummary, ReplayError> {
    if !app.queues.can_dead_letter() {
        return Err(ReplayError::NoDeadLetterQueue);
    }
    let record_budget = Duration::from_millis(app.config.queue_record_budget_ms);
    let mut sum = ReplaySummary::default();
    let mut keep: Vec<String> = Vec::new();
    let mut empty = 0;
    while sum.received < args.max && empty < EMPTY_RECEIVES {
        let want = i32::try_from((args.max - sum.received).min(10)).unwrap_or(10);
        let batch = app
            .queues
            .receive(QueueName::DeadLetters, want, HIDE, Duration::from_secs(1))
            .await?;
        empty = if batch.is_empty() { empty + 1 } else { 0 };
        for m in batch {
            sum.received += 1;
            let what = summary(&m);
            if args.dry_run {
                sum.listed += 1;
                let _ = writeln!(out, "{what} -> would replay");
                keep.push(m.receipt_handle);
                continue;
            }
            let budget = Budget::until(tokio::time::Instant::now() + record_budget);
            let outcome = app.redeliver(&m.body, &budget, &mut Seen::default()).await;
            let result = match &outcome {
                Outcome::Failed(_) | Outcome::HandedOff(_) | Outcome::Rejected(_) => {
                    let (count, why) = match outcome {
                        Outcome::Rejected(_) => (&mut sum.rejected, "rejected"),
                        _ => (&mut sum.failed, "failed"),
                    };
                    *count += 1;
                    keep.push(m.receipt_handle);
                    format!("kept ({why}: {})", outcome.reason())
                }
                _ => {
                    let done = match &outcome {
                        Outcome::Stored { items_written } => {
                            format!("stored ({items_written} items)")
                        }
                        other => other.label().to_owned(),
                    };
                    let deleted = app.queues.delete(QueueName::DeadLetters, &m.receipt_handle);
                    match deleted.await {
                        Ok(()) => {
                            sum.replayed += 1;
                            format!("{done}, deleted")
                        }
                        Err(e) => {
                            sum.failed += 1;
                            format!("{done} but not deleted ({e}); a second replay is harmless")
                        }
                    }
                }
            };
            let _ = writeln!(out, "{what} -> {result}");
        }
    }
    for handle in keep {
        let deadline = tokio::time::Instant::now() + HIDE;
        let released = app
            .queues
            .hide(QueueName::DeadLetters, &handle, Duration::ZERO, deadline);
        if let Err(e) = released.await {
            let _ = writeln!(
                out,
                "note: a kept message stays hidden until its timeout ({e})"
            );
        }
    }
    let listed = match (args.dry_run, sum.listed) {
        (true, n) => format!(", {n} listed (dry run: nothing applied or deleted)"),
        (false, _) => String::new(),
    };
    let _ = writeln!(
        out,
        "replay: {} received, {} replayed, {} rejected, {} failed{listed}",
        sum.received, sum.replayed, sum.rejected, sum.failed
    );
    Ok(sum)
}

/// A message's id, command and app, and the reason it was dead-lettered: never its body.
fn summary(m: &Received) -> String {
    let (command, app) = match Envelope::parse(&m.body) {
        Ok(env) => {
            let command = match env.callback_command.as_deref().map(CommandKind::of) {
                Some(CommandKind::After(c)) => c.label(),
                Some(_) => "other",
                None => "body-command",
            };
            let app: String = env
                .sdk_app_id
                .chars()
                .take(20)
                .map(|c| if c.is_ascii_digit() { c } else { '?' })
                .collect();
            (command, app)
        }
        Err(_) => ("not-an-envelope", "-".to_owned()),
    };
    format!(
        "{} {command} app={app} reason={}",
        m.message_id,
        m.reason.as_deref().unwrap_or("redrive")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    fn args(a: &[&str]) -> Result<ReplayArgs, clap::Error> {
        let line = CommandLine::try_parse_from(["oa-webhook", "replay"].iter().chain(a))?;
        match line.command {
            Command::Replay(r) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replay_arguments() {
        for (argv, want) in [
            (&[][..], Some((false, REPLAY_DEFAULT_MAX))),
            (&["--dry-run", "--max", "5"], Some((true, 5))),
            (&["--max"], None),
            (&["--max", "0"], None),
            (&["--force"], None),
        ] {
            let got = args(argv).ok().map(|r| (r.dry_run, r.max));
            assert_eq!(got, want, "{argv:?}");
        }
    }

    #[test]
    fn help_and_unknown_commands() {
        let help = CommandLine::try_parse_from(["oa-webhook", "help"]).expect_err("help");
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let text = help.to_string();
        assert!(text.contains("replay") && text.contains("sync"), "{text}");
        assert!(CommandLine::try_parse_from(["oa-webhook", "poll-queue"]).is_err());
        assert!(
            CommandLine::try_parse_from(["oa-webhook", "sync", "--help"])
                .is_err_and(|e| e.to_string().contains("--account"))
        );
    }
}
