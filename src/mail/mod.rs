//! Outgoing mail: SMTP through lettre in production; by default each message is written as an
//! `.eml` file in the outbox folder, so that a developer or a test can follow its links. A message
//! is written under a temporary name and renamed, so whoever watches the folder never reads half
//! of one.
//! Messages are French, plain text and HTML, and never contain a long-term password.

pub mod templates;

use crate::config::MailConfig;
use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One message to one person.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// `outbox` is where messages go when no SMTP relay is configured.
    pub fn from_config(m: &MailConfig, outbox: PathBuf) -> anyhow::Result<Self> {
        let from: Mailbox = m.from.parse().context("mail.from is not an address")?;
        let transport = if m.smtp_host.is_empty() {
            let dir = outbox;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
            Transport::Outbox(dir)
        } else {
            let builder = match m.smtp_tls.as_str() {
                "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&m.smtp_host)?,
                "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&m.smtp_host)?,
                _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&m.smtp_host),
            };
            let mut builder = builder
                .port(m.smtp_port)
                .timeout(Some(Duration::from_secs(m.smtp_timeout_seconds)));
            if !m.smtp_username.is_empty() {
                builder = builder.credentials(Credentials::new(
                    m.smtp_username.clone(),
                    m.smtp_password.clone(),
                ));
            }
            Transport::Smtp(builder.build())
        };
        Ok(Self { from, transport })
    }

    /// Where messages go, for operators: the outbox folder or the SMTP relay.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
            Transport::Smtp(_) => "SMTP relay".into(),
        }
    }

    pub async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let to = Mailbox::new(
            Some(mail.to_name.clone()),
            mail.to_address.parse().context("recipient address")?,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .context("building the message")?;
        match &self.transport {
            Transport::Outbox(dir) => {
                write_to_outbox(dir, &message.formatted())
                    .await
                    .context("writing to the outbox")?;
            }
            Transport::Smtp(t) => {
                t.send(message).await.context("sending through SMTP")?;
            }
        }
        tracing::info!(subject = %mail.subject, "mail sent");
        Ok(())
    }
}

/// Writes one message as `<uuid>.eml` in `dir`: first under a name readers skip, then renamed,
/// which is atomic within one folder.
async fn write_to_outbox(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let id = uuid::Uuid::new_v4();
    let partial = dir.join(format!(".{id}.eml.part"));
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, dir.join(format!("{id}.eml"))).await
}
