//! The local SQS (moto, `scripts/local-service.sh sqs`) for the hand-off tests: fresh queues,
//! an app wired to them, and reading what landed there. Without `AWS_ENDPOINT_URL_SQS`
//! the tests FAIL saying so; they never skip.

use aws_sdk_sqs::Client;
use oa_webhook::app::App;
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use oa_webhook::handoff::Queues;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn sqs_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_SQS") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "AWS_ENDPOINT_URL_SQS is not set: these tests need the local SQS (moto). \
             Run them with `make test`, which starts one (scripts/local-service.sh sqs)."
        ),
    }
}

/// The SQS SDK config the function would build with SQS at `endpoint`.
pub fn sqs_sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    let vars = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL_SQS", endpoint),
    ];
    let lookup = |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    };
    match AwsSettings::from_lookup(lookup) {
        Ok(settings) => settings.sqs_sdk_config(),
        Err(e) => panic!("the test settings are invalid: {e}"),
    }
}

/// A client with the SDK's default timeouts, for the tests' own reads.
pub fn admin_client() -> Client {
    Client::new(&sqs_sdk_config_at(&sqs_endpoint()))
}

static QUEUES: AtomicU32 = AtomicU32::new(0);

/// A new, empty queue; fails loudly when the local SQS is not reachable.
pub async fn fresh_queue(what: &str) -> String {
    let name = format!(
        "{what}-{}-{}-{}",
        std::process::id(),
        QUEUES.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    match admin_client().create_queue().queue_name(&name).send().await {
        Ok(out) => out.queue_url.expect("a queue URL"),
        Err(e) => panic!(
            "cannot create a queue in the local SQS at {}: {e:?}. Is it running? (`make test` starts it)",
            sqs_endpoint()
        ),
    }
}

/// A hand-off queue and a dead-letter queue, fresh.
pub struct TestQueues {
    pub handoff: String,
    pub dead_letters: String,
}

impl TestQueues {
    pub async fn new() -> TestQueues {
        TestQueues {
            handoff: fresh_queue("handoff").await,
            dead_letters: fresh_queue("dlq").await,
        }
    }

    /// Wires `app` to these queues through SQS at `endpoint` (the function's client).
    pub fn wire_at(&self, app: &mut App, endpoint: &str) {
        let mut config = (*app.config).clone();
        config.handoff_queue_url = Some(self.handoff.clone());
        config.dead_letter_queue_url = Some(self.dead_letters.clone());
        app.queues = Queues::new(clients::webhook_sqs(&sqs_sdk_config_at(endpoint)), &config);
        app.config = std::sync::Arc::new(config);
    }

    /// Wires `app` to these queues on the local SQS.
    pub fn wire(&self, app: &mut App) {
        self.wire_at(app, &sqs_endpoint());
    }

    /// Wires `app` as `oa-webhook replay` is wired (the operator's client, long polls).
    pub fn wire_operator(&self, app: &mut App) {
        self.wire(app);
        let config = (*app.config).clone();
        app.queues = Queues::new(
            clients::operator_sqs(&sqs_sdk_config_at(&sqs_endpoint())),
            &config,
        );
    }
}

/// A message as the tests see it.
#[derive(Debug, Clone)]
pub struct Msg {
    pub id: String,
    pub body: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Its `MessageGroupId` (SQS fair queues; contract section 5, "Fairness").
    pub group: Option<String>,
}

/// Takes every message of `url` (deleting them), with its attributes and group.
pub async fn drain(url: &str) -> Vec<Msg> {
    let client = admin_client();
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive from the local SQS");
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            empty += 1;
            continue;
        }
        for m in msgs {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("delete");
            let group = m
                .attributes
                .as_ref()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned();
            out.push(Msg {
                group,
                id: m.message_id.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.string_value.unwrap_or_default()))
                    .collect(),
            });
        }
    }
    out
}

/// Sends a raw message body to `url`.
pub async fn send_raw(url: &str, body: &str) {
    admin_client()
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("send to the local SQS");
}

/// The messages as the SQS event Lambda would hand the queue door.
pub fn sqs_records(msgs: &[Msg]) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
    msgs.iter()
        .map(|m| {
            let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
            r.message_id = Some(m.id.clone());
            r.body = Some(m.body.clone());
            r
        })
        .collect()
}
