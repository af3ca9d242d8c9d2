//! Reminders (SPEC §8): `milestone.due_soon` and `milestone.overdue`,
//! judged in the project's zone, sent once per milestone and due date
//! however many schedulers run, as events and as e-mail to a real SMTP
//! sink on this machine.

use crate::common::{TestApp, each_backend, local_webhooks};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use climate_tracker::app::clock::Clock;
use climate_tracker::config::Jobs;
use climate_tracker::jobs::mail::Mailer;
use climate_tracker::jobs::reminders::Scheduler;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

/// A project led by `country`'s institution (contact `email`), with a milestone due on `due_on`.
async fn milestone(app: &TestApp, code: &str, country: &str, email: &str, due_on: &str) -> (String, String) {
    let inst = app
        .post(
            "/api/v1/institutions",
            json!({"code": format!("{code}-lead"), "name": {"en": format!("{code} lead"), "zh": "牵头单位"},
                   "kind": "university", "country": country, "contact_email": email}),
        )
        .await;
    assert_eq!(inst.status, StatusCode::CREATED, "{}", inst.body);
    let project = app.project(code, &[country]).await;
    app.participate(&project, &inst.id(), "lead").await;
    let m = app
        .post(
            &format!("/api/v1/projects/{project}/milestones"),
            json!({"title": {"en": "Solar panels installed", "zh": "太阳能板安装完成"}, "due_on": due_on}),
        )
        .await;
    assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
    (project, m.id())
}

fn settings(smtp: Option<String>) -> Jobs {
    Jobs {
        smtp_url: smtp,
        smtp_from: "climate-tracker <reminders@example.org>".into(),
        ..local_webhooks()
    }
}

async fn sweep(app: &TestApp, now: &str) -> usize {
    Scheduler::new(app.db.clone(), &settings(None), Clock::fixed(at(now)))
        .sweep()
        .await
        .unwrap()
}

async fn reminders(app: &TestApp) -> Vec<Value> {
    let r = app
        .get("/api/v1/events?types=milestone.due_soon,milestone.overdue&limit=200")
        .await;
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_milestone_is_reminded_of_once_before_and_once_after_its_due_date() {
    each_backend(|app| async move {
        let (_, id) = milestone(&app, "fiji-solar", "FJ", "lead@usp.example.fj", "2025-06-30").await;
        assert_eq!(
            sweep(&app, "2025-06-01T00:00:00Z").await,
            0,
            "29 days before: nothing yet"
        );
        assert_eq!(
            sweep(&app, "2025-06-24T00:00:00Z").await,
            1,
            "6 days before (Fiji): due soon"
        );
        // Another instance's scheduler, and this one again: nothing more.
        let other = climate_tracker::db::connect(&app.url).await.unwrap();
        let twin = Scheduler::new(other, &settings(None), Clock::fixed(at("2025-06-25T00:00:00Z")));
        assert_eq!(twin.sweep().await.unwrap(), 0);
        assert_eq!(sweep(&app, "2025-06-29T00:00:00Z").await, 0);
        // The first day after the due date, in Fiji (UTC+12): 1 July 00:30 there.
        assert_eq!(
            sweep(&app, "2025-06-30T10:00:00Z").await,
            0,
            "still 30 June 22:00 in Fiji"
        );
        assert_eq!(sweep(&app, "2025-06-30T12:30:00Z").await, 1);
        assert_eq!(sweep(&app, "2025-07-02T00:00:00Z").await, 0);

        let sent = reminders(&app).await;
        let types: Vec<&str> = sent.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["milestone.due_soon", "milestone.overdue"]);
        assert!(
            sent.iter()
                .all(|e| e["entity_id"] == id.as_str() && e["data"]["due_on"] == "2025-06-30")
        );
        assert_eq!(sent[1]["data"]["overdue"], true);

        // A new due date may remind again.
        let r = app
            .patch(&format!("/api/v1/milestones/{id}"), json!({"due_on": "2025-07-10"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(sweep(&app, "2025-07-05T00:00:00Z").await, 1);
        // An achieved milestone is reminded of no more.
        let done = app
            .post(
                &format!("/api/v1/milestones/{id}/achieve"),
                json!({"achieved_on": "2025-07-06", "evidence": "photos"}),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(sweep(&app, "2025-07-12T00:00:00Z").await, 0);
        assert_eq!(reminders(&app).await.len(), 3);
    })
    .await;
}

/// Two instances' schedulers sweeping at the same moment send each reminder once between them.
#[tokio::test]
async fn schedulers_sweeping_at_once_send_each_reminder_once() {
    each_backend(|app| async move {
        let mut ids = Vec::new();
        for i in 0..12 {
            let country = ["FJ", "TO", "KI"][i % 3];
            let (_, id) = milestone(&app, &format!("race-{i}"), country, "lead@example.org", "2025-06-30").await;
            ids.push(id);
        }
        let now = Clock::fixed(at("2025-06-25T00:00:00Z"));
        let one = Scheduler::new(app.db.clone(), &settings(None), now);
        let other = Scheduler::new(
            climate_tracker::db::connect(&app.url).await.unwrap(),
            &settings(None),
            now,
        );
        let (a, b) = tokio::join!(one.sweep(), other.sweep());
        assert_eq!(a.unwrap() + b.unwrap(), 12, "between them, every milestone once");

        let mut reminded: Vec<String> = reminders(&app)
            .await
            .iter()
            .map(|e| e["entity_id"].as_str().unwrap().to_owned())
            .collect();
        reminded.sort();
        ids.sort();
        assert_eq!(reminded, ids, "one milestone.due_soon each, no repeats");
    })
    .await;
}

#[tokio::test]
async fn tonga_hears_of_an_overdue_milestone_while_it_is_still_the_due_date_in_utc() {
    each_backend(|app| async move {
        let (_, tongan) = milestone(&app, "tonga-solar", "TO", "lead@tonga.example.to", "2025-03-14").await;
        let (_, utc) = {
            let p = app.project("no-lead", &["FJ"]).await;
            let m = app
                .post(
                    &format!("/api/v1/projects/{p}/milestones"),
                    json!({"title": {"en": "Report"}, "due_on": "2025-03-14"}),
                )
                .await;
            (p, m.id())
        };
        // Both were reminded as due soon earlier; now, 09:00 on the 15th in Tonga:
        sweep(&app, "2025-03-10T00:00:00Z").await;
        assert_eq!(sweep(&app, "2025-03-14T20:00:00Z").await, 1);
        let overdue: Vec<Value> = reminders(&app)
            .await
            .into_iter()
            .filter(|e| e["type"] == "milestone.overdue")
            .collect();
        assert_eq!(overdue.len(), 1);
        assert_eq!(overdue[0]["entity_id"], tongan.as_str());
        assert_eq!(
            sweep(&app, "2025-03-15T00:30:00Z").await,
            1,
            "and the UTC project once the 15th begins there"
        );
        let last = reminders(&app).await;
        assert_eq!(last.last().unwrap()["entity_id"], utc.as_str());
    })
    .await;
}

// ------------------------------------------------------------------ e-mail

/// The least SMTP server a mail client can deliver to, on 127.0.0.1,
/// keeping each message's envelope and text.
/// One message received: its `RCPT TO` lines and its text.
type Mail = (Vec<String>, String);

#[derive(Clone, Default)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Sink {
    async fn start() -> (Sink, String) {
        let sink = Sink::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let kept = sink.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move { kept.session(socket).await });
            }
        });
        (sink, url)
    }

    async fn session(self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
        let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    self.mails
                        .lock()
                        .unwrap()
                        .push((std::mem::take(&mut rcpt), std::mem::take(&mut data)));
                    let _ = write.write_all(b"250 queued\r\n").await;
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 sink\r\n",
                "RCPT" => {
                    rcpt.push(line.clone());
                    b"250 ok\r\n"
                }
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                }
                _ => b"250 ok\r\n",
            };
            let _ = write.write_all(reply).await;
        }
    }
}

#[tokio::test]
async fn a_reminder_is_mailed_to_the_lead_in_its_language() {
    each_backend(|app| async move {
        let (sink, url) = Sink::start().await;
        milestone(&app, "fiji-solar", "FJ", "lead@usp.example.fj", "2025-06-30").await;
        milestone(&app, "liaocheng-training", "CN", "lead@lcvtc.example.cn", "2025-06-28").await;
        let jobs = settings(Some(url));
        let scheduler = Scheduler::new(app.db.clone(), &jobs, Clock::fixed(at("2025-06-25T00:00:00Z")));
        assert_eq!(scheduler.sweep().await.unwrap(), 2);
        let mailer = Mailer::new(app.db.clone(), &jobs, Clock::default()).expect("an SMTP URL");
        assert_eq!(mailer.pass().await.unwrap(), 2);
        assert_eq!(mailer.pass().await.unwrap(), 0, "each sent once");

        let mails = sink.mails.lock().unwrap().clone();
        assert_eq!(mails.len(), 2);
        let to = |addr: &str| {
            mails
                .iter()
                .find(|(rcpt, _)| rcpt.iter().any(|r| r.contains(addr)))
                .map(|m| m.1.clone())
        };
        let english = to("lead@usp.example.fj").expect("the Fijian lead got one");
        assert!(
            english.contains("Subject: Milestone due on 2025-06-30: Solar panels installed"),
            "{english}"
        );
        assert!(english.contains("Pacific/Fiji"));
        let chinese = to("lead@lcvtc.example.cn").expect("the Chinese lead got one");
        // The subject is encoded (RFC 2047); the body says it in Chinese.
        assert!(chinese.contains("Subject: =?utf-8?"), "{chinese}");
        assert!(!chinese.contains("Milestone due"));
    })
    .await;
}
