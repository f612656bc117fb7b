//! The REST stand-in itself (tests/standin): it pages, answers unknown accounts, busy
//! codes and a wrong key the way docs/protocol.md section 7 says Tencent does, through the
//! production REST client. Needs no local service.

use oa_webhook::tencent::rest::{
    RestClient, RestError, RestSettings, TencentConfig, GET_SUBSCRIBERS, NO_SUCH_ACCOUNT,
    PLACE_RECALLED,
};
use oa_webhook::tencent::usersig::SecretKey;
use serde_json::json;
use std::time::Duration;
use tencent_standin::{Standin, StandinAccount, StandinConfig, Truth};

const APP: u64 = 1_400_000_001;

fn truth() -> Truth {
    let mut oa = StandinAccount {
        name: Some("News".into()),
        owner_account: Some("owner1".into()),
        create_time: 1_700_000_000,
        ..StandinAccount::default()
    };
    for i in 0..450 {
        oa.subscribers
            .insert(format!("user{i:04}"), 1_700_000_100 + i);
    }
    for i in 0..45 {
        oa.send(
            1_700_001_000 + i,
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("m{i}")}}]),
        );
    }
    oa.recall("3_1_1700001002");
    let mut t = Truth::default();
    t.accounts.insert("@TOA#_news".into(), oa);
    t
}

async fn setup(client_key: &str) -> (Standin, RestClient) {
    let standin = Standin::start(
        "127.0.0.1:0",
        StandinConfig::new(APP, "admin", SecretKey::new("the-key")),
        truth(),
    )
    .await
    .expect("listen");
    let config = TencentConfig {
        base_url: standin.url(),
        admin: "admin".into(),
        key: SecretKey::new(client_key),
    };
    let settings = RestSettings {
        backoff_base: Duration::from_millis(5),
        ..RestSettings::default()
    };
    (standin, RestClient::new(&config, APP, settings))
}

#[tokio::test]
async fn pages_profiles_and_unknown_accounts() {
    let (standin, client) = setup("the-key").await;
    let infos = client
        .get_official_account_info(&["@TOA#_news".into(), "@TOA#_nope".into()])
        .await
        .expect("info");
    assert_eq!(infos[0].name.as_deref(), Some("News"));
    assert_eq!(infos[0].subscriber_num, Some(450));
    assert_eq!(infos[1].error_code, NO_SUCH_ACCOUNT);

    let (mut next, mut all) = (String::new(), Vec::new());
    loop {
        let page = client
            .get_subscriber_info("@TOA#_news", &next, 200)
            .await
            .expect("page");
        all.extend(page.subscriber_list);
        next = page.next;
        if next.is_empty() {
            break;
        }
    }
    assert_eq!(all.len(), 450);
    assert_eq!(standin.calls(GET_SUBSCRIBERS), 3);

    let (mut last, mut msgs) = (None::<String>, Vec::new());
    loop {
        let page = client
            .official_account_msg_get_simple("@TOA#_news", last.as_deref())
            .await
            .expect("messages");
        assert!(page.rsp_msg_list.len() <= 20);
        msgs.extend(page.rsp_msg_list);
        if page.is_finished != 0 {
            break;
        }
        last = Some(page.last_msg_key);
    }
    assert_eq!(msgs.len(), 45);
    assert_eq!(msgs[0].msg_seq, 45, "newest first");
    let recalled: Vec<_> = msgs
        .iter()
        .filter(|m| m.is_place_msg == PLACE_RECALLED)
        .collect();
    assert_eq!(recalled.len(), 1);
    assert_eq!(recalled[0].msg_key, "3_1_1700001002");

    assert!(matches!(
        client.get_subscriber_info("@TOA#_nope", "", 200).await,
        Err(RestError::NoSuchAccount)
    ));
}

#[tokio::test]
async fn busy_answers_are_retried() {
    let (standin, client) = setup("the-key").await;
    standin.inject_busy(GET_SUBSCRIBERS, 3);
    let page = client
        .get_subscriber_info("@TOA#_news", "", 10)
        .await
        .expect("retried until served");
    assert_eq!(page.subscriber_list.len(), 10);
    assert_eq!(standin.calls(GET_SUBSCRIBERS), 4);
    assert_eq!(standin.busy_answers(GET_SUBSCRIBERS), 3);
    assert_eq!(
        client
            .stats
            .retries
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused() {
    let (_standin, client) = setup("not-the-key").await;
    match client.get_subscriber_info("@TOA#_news", "", 10).await {
        Err(RestError::Auth { code: 70009, .. }) => {}
        other => panic!("expected 70009, got {other:?}"),
    }
}

#[tokio::test]
async fn over_200_calls_a_second_are_answered_busy() {
    let (standin, _client) = setup("the-key").await;
    // A client without the limiter (and without retries) sending 650 calls at once:
    // however they fall across (at most three) seconds, one second gets over 200.
    let config = TencentConfig {
        base_url: standin.url(),
        admin: "admin".into(),
        key: SecretKey::new("the-key"),
    };
    let unlimited = RestClient::new(
        &config,
        APP,
        RestSettings {
            calls_per_second: 1_000_000,
            max_attempts: 1,
            ..RestSettings::default()
        },
    );
    let calls = (0..650).map(|_| unlimited.get_subscriber_info("@TOA#_news", "", 1));
    let results = futures_util::future::join_all(calls).await;
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(RestError::Busy { code: 60018, .. })))
        .count();
    assert!(busy >= 1, "some calls over the limit");
    assert_eq!(standin.busy_answers(GET_SUBSCRIBERS), busy as u64);
}

/// The stand-in's UserSig check refuses what Tencent refuses, and passes Tencent's own
/// (its Node library, tls-sig-api-v2 1.0.2; src/tencent/usersig.rs's vector).
#[test]
fn the_usersig_check_refuses_what_tencent_refuses() {
    use oa_webhook::tencent::usersig::gen_usersig;
    use tencent_standin::usersig::{verify, SigError};
    let key = || SecretKey::new("5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e");
    let node = "eJw9ytEKgjAYBeB3*W8L2bRRDLrToMibZlLdWZvyJ7OxjVFE7x456dyd75w3VHuRBGWBQ5oQmI8dpRo8tjhyIzUO6Lxt-MNOByf7xhiUwOmCxNC4eNQKOF1OSqKqp0H7c8ZY*leHHXB4*dP5kJuu3yldrW7XEOqtFrOsyNJcXFq2Ke91USpi5XENny9IVTSv";
    let doc = verify(node, &key(), "administrator", APP, 1_700_000_010).expect("valid");
    assert_eq!(doc.sig, "ytXYRDpgkJemT8cbvvVImS+3E32DSZf5FMjVEMe0rdU=");
    let sig = gen_usersig(&key(), "admin", 1_400_000_001, 1000, 100);
    assert!(verify(&sig, &key(), "admin", 1_400_000_001, 1050).is_ok());
    let wrong = SecretKey::new("another key");
    assert_eq!(
        verify(&sig, &wrong, "admin", 1_400_000_001, 1050),
        Err(SigError::BadSignature)
    );
    assert_eq!(
        verify(&sig, &key(), "admin", 1_400_000_001, 1101),
        Err(SigError::Expired)
    );
    assert_eq!(
        verify(&sig, &key(), "other", 1_400_000_001, 1050),
        Err(SigError::WrongIdentifier)
    );
    assert_eq!(
        verify(&sig, &key(), "admin", 1_400_000_009, 1050),
        Err(SigError::WrongApp)
    );
    assert_eq!(
        verify("not-a-sig", &key(), "admin", 1_400_000_001, 1050),
        Err(SigError::Unparsable)
    );
    assert_eq!(SigError::BadSignature.code(), 70009);
}
