//! The binary: tracing, the command line, then [`oa_webhook::start::run`]. From a shell the
//! command line names a command ([`CommandLine`]: `replay`, `sync`, `help`); on Lambda
//! every event goes to the door its shape asks for (docs/contract.md section 9).

use clap::Parser;
use oa_webhook::config::Env;
use oa_webhook::doors::cli::CommandLine;
use oa_webhook::logging::init_tracing;

/// mimalloc (without transparent huge pages): less CPU per event than glibc's malloc at
/// the same peak RSS (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: the invocations of one process (up to `AWS_LAMBDA_MAX_CONCURRENCY`) wait
/// on DynamoDB far longer than they compute (figures: docs/performance.md, "Managed
/// instances").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing(&Env::process());
    // Help and bad arguments print and exit here (0 and 2).
    let command = (std::env::args_os().len() > 1).then(|| CommandLine::parse().command);
    oa_webhook::start::run(command).await
}
