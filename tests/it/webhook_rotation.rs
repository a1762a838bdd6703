//! Secret rotation: while `previous_secrets` lists the old secret, each request carries
//! both signatures, so receivers still on the old secret and those already on the new
//! one both verify it; a receiver on neither does not.

use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::notify::deliver::settings::WebhookConfig;
use driftwatch::notify::deliver::webhook::WebhookSender;
use driftwatch::types::Secret;

const NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=";
const UNRELATED: &str = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw=";

async fn signature_verified_by(receiver_secret: &str, previous: &[&str]) -> bool {
    let receiver = Receiver::start(Some(receiver_secret), 0, false)
        .await
        .unwrap();
    let sender = WebhookSender::new(
        WebhookConfig {
            url: receiver.url().parse().unwrap(),
            secret: Some(Secret::new(NEW)),
            previous_secrets: previous.iter().map(|s| Secret::new(*s)).collect(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
            allow_private: true,
            disable_after: None,
            body: Default::default(),
        },
        &[],
    )
    .unwrap();
    sender.send("msg_rotation", "{}").await.unwrap();
    let got = receiver.deliveries();
    assert_eq!(got.len(), 1);
    got[0].signature_ok
}

#[tokio::test]
async fn both_secrets_sign_during_the_overlap() {
    assert!(
        signature_verified_by(OLD, &[OLD]).await,
        "old receivers verify"
    );
    assert!(
        signature_verified_by(NEW, &[OLD]).await,
        "new receivers verify"
    );
    assert!(!signature_verified_by(UNRELATED, &[OLD]).await);
    assert!(
        !signature_verified_by(OLD, &[]).await,
        "once the old secret is dropped, it no longer signs"
    );
}

#[test]
fn previous_secrets_are_validated_and_need_a_current_one() {
    let path = std::path::Path::new("driftwatch.toml");
    let hook = "[receivers.ops]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n";
    let with =
        |extra: &str| driftwatch::config::parse_service_config(path, &format!("{hook}{extra}"));
    let ok = with(&format!(
        "secret = \"{NEW}\"\nprevious_secrets = [\"{OLD}\"]\n"
    ))
    .unwrap();
    let driftwatch::notify::deliver::settings::ReceiverConfig::Webhook(w) = &ok.receivers["ops"]
    else {
        panic!("ops is a webhook")
    };
    assert_eq!(w.previous_secrets.len(), 1);
    let alone = with(&format!("previous_secrets = [\"{OLD}\"]\n")).unwrap_err();
    assert!(
        alone
            .to_string()
            .contains("previous_secrets needs `secret`"),
        "{alone}"
    );
    let bad = with(&format!(
        "secret = \"{NEW}\"\nprevious_secrets = [\"whsec_!!\"]\n"
    ))
    .unwrap_err();
    assert!(
        bad.to_string()
            .contains("signing secret is not whsec_<base64>"),
        "{bad}"
    );
}
