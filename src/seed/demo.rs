//! `seed demo`: sample projects, milestones, grants and payments on top of
//! the reference data, so a newcomer sees a living dashboard.
//!
//! Everything is made through the service's own router, in process, with a
//! short-lived admin token that is revoked at the end: every rule, audit
//! event and ledger entry is exactly what real use would write. Every
//! sample is marked: project and grant codes start with `sample-`, texts
//! and references say "Sample data". REFERENCE.md gives no money figures,
//! so every amount here is invented.
//!
//! Dates are relative to the day the seed runs (milestones due "in 30
//! days", paid "200 days ago"), so the dashboard shows overdue and upcoming
//! work whenever it is loaded.
//!
//! Idempotent: a contribution whose reference exists, or a project whose
//! code exists, is skipped with everything built on it. Each project is
//! built in one go; a run cut short inside a project leaves that project
//! as far as it got (its parts are still valid, audited records).

use super::ACTOR;
use crate::app::{self, Actor, AppError, Change, UnitOfWork};
use crate::domain::kinds::Role;
use crate::entities::{alliance, contribution, fund, institution, project, token};
use crate::http::{AppState, ops, router};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{Days, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::collections::HashMap;
use tower::ServiceExt;
use uuid::Uuid;

/// The code prefix that marks every sample.
pub const SAMPLE_PREFIX: &str = "sample-";
const FUND: &str = "liaocheng-climate-fund";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("reference record `{0}` is missing")]
    MissingReference(String),
    #[error("{method} {path} answered {status}: {body}")]
    Refused {
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
    #[error("{0}")]
    Internal(String),
}

type DemoResult<T> = Result<T, DemoError>;

/// What one run added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Added {
    pub reference: usize,
    pub contributions: usize,
    pub projects: usize,
    /// The seed's own token was the only admin: nobody can sign in until one is made.
    pub no_live_admin: bool,
}

/// Loads the reference data, then every sample that is not there yet.
pub async fn demo(db: &DatabaseConnection) -> DemoResult<Added> {
    let mut added = Added {
        reference: super::reference(db).await?,
        ..Added::default()
    };
    let refs = References::load(db).await?;
    let todo_contributions = missing_contributions(db, &refs).await?;
    let todo_projects = missing_projects(db).await?;
    if todo_contributions.is_empty() && todo_projects.is_empty() {
        return Ok(added);
    }

    let new = app::tokens::New {
        name: "seed demo (revoked after use)".into(),
        role: Role::Admin,
        institution_id: None,
    };
    let token = app::tokens::create_as_system(db, ACTOR, new).await?;
    let api = Api {
        router: router(AppState {
            db: db.clone(),
            metrics: ops::metrics_handle(),
            security: Default::default(),
        }),
        token: token.secret,
    };
    let built = build(&api, &refs, &todo_contributions, &todo_projects, &mut added).await;
    // Revoked whatever happened above: the secret never leaves this function.
    let revoked = revoke(db, &api, token.token.id).await;
    built?;
    added.no_live_admin = !revoked?;
    Ok(added)
}

/// Revokes the seed's token through the API; returns whether a live admin
/// token remains. On a fresh database the seed's token is the only admin,
/// which the API refuses to revoke (it would lock everyone out); its secret
/// is gone anyway, so it is revoked here, audited, and the caller tells the
/// operator how to get in.
async fn revoke(db: &DatabaseConnection, api: &Api, id: Uuid) -> DemoResult<bool> {
    match api.send(Method::DELETE, &format!("/api/v1/tokens/{id}"), None).await {
        Ok(_) => Ok(true),
        Err(DemoError::Refused {
            status: StatusCode::CONFLICT,
            ..
        }) => {
            let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
            let row = token::Entity::find_by_id(id)
                .one(uow.db())
                .await?
                .ok_or_else(|| DemoError::Internal(format!("token {id} vanished")))?;
            let before = json!({"id": row.id, "name": row.name, "role": row.role, "revoked_at": row.revoked_at});
            let mut active: token::ActiveModel = row.into();
            active.revoked_at = Set(Some(Utc::now()));
            let row = active.update(uow.db()).await?;
            let after = json!({"id": row.id, "name": row.name, "role": row.role, "revoked_at": row.revoked_at});
            uow.record(Change::named("revoke", "revoked", "token", id, &before, &after));
            uow.commit().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

async fn build(
    api: &Api,
    refs: &References,
    contributions: &[&Contribution],
    projects: &[&Sample],
    added: &mut Added,
) -> DemoResult<()> {
    for c in contributions {
        api.post(
            &format!("/api/v1/funds/{}/contributions", refs.fund),
            json!({
                "contributor_institution_id": refs.institution(c.contributor)?,
                "amount": cny(c.amount),
                "received_on": day(c.received_days_ago),
                "reference": c.reference,
            }),
        )
        .await?;
        added.contributions += 1;
    }
    for p in projects {
        (p.build)(api, refs).await?;
        added.projects += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------- the API, in process

struct Api {
    router: axum::Router,
    token: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> DemoResult<Value> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        let request = match &body {
            Some(b) => {
                request = request.header("content-type", "application/json");
                request.body(Body::from(b.to_string()))
            }
            None => request.body(Body::empty()),
        }
        .map_err(|e| DemoError::Internal(format!("request {path}: {e}")))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| DemoError::Internal(format!("{path}: {e}")))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| DemoError::Internal(format!("{path}: {e}")))?;
        if !status.is_success() {
            return Err(DemoError::Refused {
                method,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| DemoError::Internal(format!("{path}: {e}")))
    }

    async fn post(&self, path: &str, body: Value) -> DemoResult<Value> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POSTs and returns the new resource's id.
    async fn create(&self, path: &str, body: Value) -> DemoResult<String> {
        let created = self.post(path, body).await?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DemoError::Internal(format!("{path} answered without an id")))
    }

    async fn project_to(&self, project: &str, to: &str) -> DemoResult<()> {
        self.post(
            &format!("/api/v1/projects/{project}/transitions"),
            json!({"to": to, "note": "Sample data"}),
        )
        .await
        .map(drop)
    }

    async fn grant_to(&self, grant: &str, to: &str) -> DemoResult<()> {
        self.post(
            &format!("/api/v1/grants/{grant}/transitions"),
            json!({"to": to, "note": "Sample data"}),
        )
        .await
        .map(drop)
    }

    async fn milestone_to(&self, milestone: &str, to: &str) -> DemoResult<()> {
        self.post(
            &format!("/api/v1/milestones/{milestone}/transitions"),
            json!({"to": to, "note": "Sample data"}),
        )
        .await
        .map(drop)
    }

    async fn achieve(&self, milestone: &str, days_ago: i64, evidence: &str) -> DemoResult<()> {
        self.post(
            &format!("/api/v1/milestones/{milestone}/achieve"),
            json!({"achieved_on": day(days_ago), "evidence": format!("Sample data: {evidence}")}),
        )
        .await
        .map(drop)
    }

    async fn participant(&self, project: &str, institution: Uuid, role: &str) -> DemoResult<()> {
        self.post(
            &format!("/api/v1/projects/{project}/participants"),
            json!({"institution_id": institution, "role": role}),
        )
        .await
        .map(drop)
    }

    async fn milestone(&self, project: &str, en: &str, zh: &str, due_days_ago: i64) -> DemoResult<String> {
        self.create(
            &format!("/api/v1/projects/{project}/milestones"),
            json!({"title": {"en": en, "zh": zh}, "due_on": day(due_days_ago)}),
        )
        .await
    }

    /// A draft grant.
    async fn grant(&self, g: GrantSpec<'_>) -> DemoResult<String> {
        self.create(
            "/api/v1/grants",
            json!({
                "code": g.code,
                "fund_id": g.refs.fund,
                "project_id": g.project,
                "recipient_institution_id": g.refs.institution(g.recipient)?,
                "title": {"en": g.en, "zh": g.zh},
                "purpose": {"en": format!("Sample data: {}", g.purpose), "zh": "示例数据"},
                "amount": cny(g.amount),
            }),
        )
        .await
    }

    async fn approve(&self, grant: &str) -> DemoResult<()> {
        self.grant_to(grant, "submitted").await?;
        self.grant_to(grant, "approved").await
    }

    async fn tranche(&self, grant: &str, amount: &str, due_days_ago: i64, milestone: &str) -> DemoResult<String> {
        self.create(
            &format!("/api/v1/grants/{grant}/tranches"),
            json!({"amount": cny(amount), "due_on": day(due_days_ago), "milestone_id": milestone}),
        )
        .await
    }

    async fn pay(&self, grant: &str, payment: Value) -> DemoResult<String> {
        self.create(&format!("/api/v1/grants/{grant}/disbursements"), payment)
            .await
    }
}

struct GrantSpec<'a> {
    refs: &'a References,
    code: &'a str,
    project: &'a str,
    recipient: &'a str,
    en: &'a str,
    zh: &'a str,
    purpose: &'a str,
    amount: &'a str,
}

// ---------------------------------------------------------------- reference ids

struct References {
    fund: Uuid,
    institutions: HashMap<String, Uuid>,
    alliances: HashMap<String, Uuid>,
}

impl References {
    async fn load(db: &DatabaseConnection) -> DemoResult<References> {
        let fund = fund::Entity::find()
            .filter(fund::Column::Code.eq(FUND))
            .one(db)
            .await?
            .ok_or_else(|| DemoError::MissingReference(FUND.into()))?;
        let institutions = institution::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .filter_map(|i| Some((i.code?, i.id)))
            .collect();
        let alliances = alliance::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.code, a.id))
            .collect();
        Ok(References {
            fund: fund.id,
            institutions,
            alliances,
        })
    }

    fn institution(&self, code: &str) -> DemoResult<Uuid> {
        self.institutions
            .get(code)
            .copied()
            .ok_or_else(|| DemoError::MissingReference(code.into()))
    }

    fn alliance(&self, code: &str) -> DemoResult<Uuid> {
        self.alliances
            .get(code)
            .copied()
            .ok_or_else(|| DemoError::MissingReference(code.into()))
    }
}

// ---------------------------------------------------------------- helpers

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// The day `days_ago` days before today (UTC); negative is in the future.
fn day(days_ago: i64) -> NaiveDate {
    let today = Utc::now().date_naive();
    let shifted = if days_ago >= 0 {
        today.checked_sub_days(Days::new(days_ago.unsigned_abs()))
    } else {
        today.checked_add_days(Days::new(days_ago.unsigned_abs()))
    };
    shifted.unwrap_or(today)
}

fn project_body(s: &Sample, refs: &References, extra: Value) -> DemoResult<Value> {
    let mut body = json!({
        "code": s.code,
        "title": {"en": format!("{} (sample)", s.en), "zh": format!("{}（示例）", s.zh)},
        "summary": {"en": format!("Sample data. {}", s.summary), "zh": "示例数据。"},
        "sector": s.sector,
        "countries": s.countries,
        "rio_markers": {"mitigation": s.rio.0, "adaptation": s.rio.1},
        "planned_start": day(s.start_days_ago),
        "planned_end": day(s.end_days_ago),
    });
    if let Some(a) = s.alliance {
        body["alliance_id"] = json!(refs.alliance(a)?);
    }
    if let (Some(target), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    Ok(body)
}

// ---------------------------------------------------------------- the samples

struct Contribution {
    contributor: &'static str,
    amount: &'static str,
    received_days_ago: i64,
    reference: &'static str,
}

const CONTRIBUTIONS: [Contribution; 2] = [
    Contribution {
        contributor: "xinfa-group-foundation",
        amount: "5000000.00",
        received_days_ago: 390,
        reference: "sample-xinfa-foundation-2024 (Sample data)",
    },
    Contribution {
        contributor: "liaocheng-municipal-government",
        amount: "1500000.00",
        received_days_ago: 300,
        reference: "sample-liaocheng-municipal-2025 (Sample data)",
    },
];

async fn missing_contributions(db: &DatabaseConnection, refs: &References) -> DemoResult<Vec<&'static Contribution>> {
    let mut missing = Vec::new();
    for c in &CONTRIBUTIONS {
        let exists = contribution::Entity::find()
            .filter(contribution::Column::FundId.eq(refs.fund))
            .filter(contribution::Column::Reference.eq(c.reference))
            .one(db)
            .await?
            .is_some();
        if !exists {
            missing.push(c);
        }
    }
    Ok(missing)
}

type Build = for<'a> fn(&'a Api, &'a References) -> futures::future::BoxFuture<'a, DemoResult<()>>;

struct Sample {
    code: &'static str,
    en: &'static str,
    zh: &'static str,
    summary: &'static str,
    sector: &'static str,
    countries: &'static [&'static str],
    alliance: Option<&'static str>,
    /// Rio markers (mitigation, adaptation).
    rio: (u8, u8),
    start_days_ago: i64,
    end_days_ago: i64,
    build: Build,
}

const SAMPLES: [Sample; 5] = [
    Sample {
        code: "sample-low-carbon-demonstration-zone",
        en: "Low-carbon demonstration zone, Nauru",
        zh: "瑙鲁低碳示范区",
        summary: "A low-carbon demonstration zone built with partner agencies and research institutes: \
            rooftop solar, efficient lighting and a year of monitoring.",
        sector: "low_carbon_demonstration",
        countries: &["NR"],
        alliance: Some("green-development-alliance"),
        rio: (2, 1),
        start_days_ago: 300,
        end_days_ago: -400,
        build: |api, refs| Box::pin(low_carbon_zone(api, refs)),
    },
    Sample {
        code: "sample-kiribati-youth-ambassadors-camp",
        en: "Kiribati Youth Ambassadors Cultural Exchange Camp",
        zh: "基里巴斯青年大使文化交流营",
        summary: "Young ambassadors from Kiribati spend two weeks in Liaocheng: climate science, \
            culture and friendship.",
        sector: "culture_exchange",
        countries: &["KI", "CN"],
        alliance: None,
        rio: (0, 1),
        start_days_ago: 380,
        end_days_ago: 330,
        build: |api, refs| Box::pin(youth_camp(api, refs)),
    },
    Sample {
        code: "sample-livelihood-supplies-vavau-betio",
        en: "Livelihood supplies for Vava'u and Betio",
        zh: "向瓦瓦乌群岛和比休岛市捐赠生活物资",
        summary: "Donated livelihood supplies for the sister cities Vava'u (Tonga) and Betio (Kiribati).",
        sector: "humanitarian_supplies",
        countries: &["TO", "KI"],
        alliance: None,
        rio: (0, 2),
        start_days_ago: 200,
        end_days_ago: -60,
        build: |api, refs| Box::pin(livelihood_supplies(api, refs)),
    },
    Sample {
        code: "sample-vocational-training",
        en: "Vocational training for Pacific island technicians",
        zh: "太平洋岛国技术人员职业培训",
        summary: "Short courses in solar installation and maintenance for technicians from Kiribati, \
            Tonga and Nauru, run by the Vocational Education Alliance.",
        sector: "education_training",
        countries: &["KI", "TO", "NR"],
        alliance: Some("vocational-education-alliance"),
        rio: (1, 1),
        start_days_ago: -60,
        end_days_ago: -425,
        build: |api, refs| Box::pin(vocational_training(api, refs)),
    },
    Sample {
        code: "sample-climate-dialogue-think-tank",
        en: "China–Pacific climate think tank and dialogue",
        zh: "中国—太平洋岛国气候智库与对话",
        summary: "A think tank and a yearly dialogue on climate change between China and the Pacific island countries.",
        sector: "academic_exchange",
        countries: &["CN", "TO", "KI", "NR"],
        alliance: Some("green-development-alliance"),
        rio: (1, 1),
        start_days_ago: 250,
        end_days_ago: -480,
        build: |api, refs| Box::pin(think_tank(api, refs)),
    },
];

async fn missing_projects(db: &DatabaseConnection) -> DemoResult<Vec<&'static Sample>> {
    let existing: Vec<String> = project::Entity::find()
        .filter(project::Column::Code.starts_with(SAMPLE_PREFIX))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.code)
        .collect();
    Ok(SAMPLES
        .iter()
        .filter(|s| !existing.iter().any(|c| c == s.code))
        .collect())
}

fn sample(code: &str) -> DemoResult<&'static Sample> {
    SAMPLES
        .iter()
        .find(|s| s.code == code)
        .ok_or_else(|| DemoError::Internal(format!("no sample {code}")))
}

/// Active, on track: tranches tied to milestones, a payment reversed and paid again.
async fn low_carbon_zone(api: &Api, refs: &References) -> DemoResult<()> {
    let s = sample("sample-low-carbon-demonstration-zone")?;
    let p = api
        .create("/api/v1/projects", project_body(s, refs, json!({}))?)
        .await?;
    api.participant(&p, refs.institution("cpic-climate-cooperation-center")?, "lead")
        .await?;
    api.participant(&p, refs.institution("liaocheng-university")?, "implementing")
        .await?;
    api.participant(&p, refs.institution("nauru-ministry-climate-change")?, "beneficiary")
        .await?;
    api.project_to(&p, "active").await?;

    let survey = api
        .milestone(
            &p,
            "Site survey and baseline emissions report",
            "现场勘察与基准排放报告",
            240,
        )
        .await?;
    api.achieve(&survey, 245, "survey report filed with the Ministry, ref. NR-LCZ-01")
        .await?;
    let install = api
        .milestone(
            &p,
            "Rooftop solar and LED lighting installed",
            "屋顶光伏与 LED 照明安装完成",
            -45,
        )
        .await?;
    api.milestone_to(&install, "in_progress").await?;
    api.post(
        &format!("/api/v1/milestones/{install}/reports"),
        json!({"note": "Sample data: panels delivered to the site, roofs of two schools done", "progress_percent": 60}),
    )
    .await?;
    let monitoring = api
        .milestone(&p, "First year of monitoring data published", "发布首年监测数据", -330)
        .await?;

    let g = api
        .grant(GrantSpec {
            refs,
            code: "sample-grant-low-carbon-zone",
            project: &p,
            recipient: "cpic-climate-cooperation-center",
            en: "Low-carbon demonstration zone: equipment and installation",
            zh: "低碳示范区：设备与安装",
            purpose: "solar panels, LED lighting and their installation in the zone.",
            amount: "1200000.00",
        })
        .await?;
    api.approve(&g).await?;
    let first = api.tranche(&g, "400000.00", 230, &survey).await?;
    api.tranche(&g, "500000.00", -50, &install).await?;
    api.tranche(&g, "300000.00", -335, &monitoring).await?;
    api.pay(
        &g,
        json!({"amount": cny("400000.00"), "paid_on": day(220), "tranche_id": first,
            "reference": "sample-payment-lcz-001 (Sample data)"}),
    )
    .await?;
    let wrong = api
        .pay(
            &g,
            json!({"amount": cny("150000.00"), "paid_on": day(200),
                "reference": "sample-payment-lcz-002 (Sample data)"}),
        )
        .await?;
    api.post(
        &format!("/api/v1/disbursements/{wrong}/reversal"),
        json!({"reason": "Sample data: paid to the wrong account; paid again the next week"}),
    )
    .await?;
    api.pay(
        &g,
        json!({"amount": cny("150000.00"), "paid_on": day(193),
            "reference": "sample-payment-lcz-003 (Sample data)"}),
    )
    .await?;

    let monitoring_grant = api
        .grant(GrantSpec {
            refs,
            code: "sample-grant-low-carbon-monitoring",
            project: &p,
            recipient: "liaocheng-university",
            en: "Low-carbon demonstration zone: monitoring and evaluation",
            zh: "低碳示范区：监测与评估",
            purpose: "a year of energy and emissions monitoring by Liaocheng University.",
            amount: "300000.00",
        })
        .await?;
    api.approve(&monitoring_grant).await
}

/// Completed: every milestone closed, the grant completed with money left (released).
async fn youth_camp(api: &Api, refs: &References) -> DemoResult<()> {
    let s = sample("sample-kiribati-youth-ambassadors-camp")?;
    let extra = json!({"actual_start": day(378), "actual_end": day(332)});
    let p = api.create("/api/v1/projects", project_body(s, refs, extra)?).await?;
    api.participant(&p, refs.institution("liaocheng-university")?, "lead")
        .await?;
    api.participant(&p, refs.institution("betio")?, "beneficiary").await?;
    api.project_to(&p, "active").await?;
    let selected = api
        .milestone(&p, "Youth ambassadors selected", "青年大使选拔完成", 370)
        .await?;
    api.achieve(&selected, 372, "list of 24 ambassadors agreed with the Betio council")
        .await?;
    let camp = api
        .milestone(&p, "Camp held in Liaocheng", "在聊城举办交流营", 335)
        .await?;
    api.achieve(&camp, 333, "camp report and photographs").await?;
    let visit = api.milestone(&p, "Return visit to Betio", "回访比休岛市", 300).await?;
    api.milestone_to(&visit, "cancelled").await?;

    let g = api
        .grant(GrantSpec {
            refs,
            code: "sample-grant-youth-camp",
            project: &p,
            recipient: "liaocheng-university",
            en: "Youth ambassadors camp: travel and hosting",
            zh: "青年大使交流营：差旅与接待",
            purpose: "flights, board and programme of the camp.",
            amount: "180000.00",
        })
        .await?;
    api.approve(&g).await?;
    api.pay(
        &g,
        json!({"amount": cny("100000.00"), "paid_on": day(360), "reference": "sample-payment-camp-001 (Sample data)"}),
    )
    .await?;
    api.pay(
        &g,
        json!({"amount": cny("50000.00"), "paid_on": day(330), "reference": "sample-payment-camp-002 (Sample data)"}),
    )
    .await?;
    api.grant_to(&g, "completed").await?;
    api.project_to(&p, "completed").await
}

/// Active and delayed: a delivery missed; one grant paid in local currency, one cancelled.
async fn livelihood_supplies(api: &Api, refs: &References) -> DemoResult<()> {
    let s = sample("sample-livelihood-supplies-vavau-betio")?;
    let p = api
        .create("/api/v1/projects", project_body(s, refs, json!({}))?)
        .await?;
    api.participant(&p, refs.institution("liaocheng-municipal-government")?, "lead")
        .await?;
    api.participant(&p, refs.institution("xinfa-group")?, "funding").await?;
    api.participant(&p, refs.institution("vavau")?, "beneficiary").await?;
    api.participant(&p, refs.institution("betio")?, "beneficiary").await?;
    api.project_to(&p, "active").await?;
    let shipped = api
        .milestone(&p, "Supplies shipped to Vava'u", "物资运抵瓦瓦乌群岛", 150)
        .await?;
    api.achieve(&shipped, 152, "bill of lading and receipt signed in Neiafu")
        .await?;
    let betio = api
        .milestone(&p, "Supplies delivered to Betio", "物资运抵比休岛市", 90)
        .await?;
    api.milestone_to(&betio, "missed").await?;
    let report = api
        .milestone(&p, "Distribution report from Vava'u", "瓦瓦乌群岛分发报告", 40)
        .await?;
    api.milestone_to(&report, "in_progress").await?;
    api.milestone(&p, "Second shipment to Betio", "第二批物资运抵比休岛市", -20)
        .await?;

    let vavau = api
        .grant(GrantSpec {
            refs,
            code: "sample-grant-supplies-vavau",
            project: &p,
            recipient: "vavau",
            en: "Livelihood supplies for Vava'u",
            zh: "瓦瓦乌群岛生活物资",
            purpose: "water tanks, solar lanterns and tools for Vava'u.",
            amount: "250000.00",
        })
        .await?;
    api.approve(&vavau).await?;
    api.pay(
        &vavau,
        json!({"amount": cny("120000.00"), "paid_on": day(148), "reference": "sample-payment-vavau-001 (Sample data)",
            "local_amount": {"amount": "39720.00", "currency": "TOP"}, "exchange_rate": "0.3310"}),
    )
    .await?;
    let betio_grant = api
        .grant(GrantSpec {
            refs,
            code: "sample-grant-supplies-betio",
            project: &p,
            recipient: "betio",
            en: "Livelihood supplies for Betio",
            zh: "比休岛市生活物资",
            purpose: "water tanks and solar lanterns for Betio; cancelled when the shipping route closed.",
            amount: "200000.00",
        })
        .await?;
    api.approve(&betio_grant).await?;
    api.grant_to(&betio_grant, "cancelled").await
}

/// Planned, at risk: a milestone already overdue; grants in the early and refused states.
async fn vocational_training(api: &Api, refs: &References) -> DemoResult<()> {
    let s = sample("sample-vocational-training")?;
    let p = api
        .create("/api/v1/projects", project_body(s, refs, json!({}))?)
        .await?;
    api.participant(&p, refs.institution("liaocheng-vocational-technical-college")?, "lead")
        .await?;
    api.participant(&p, refs.institution("betio")?, "beneficiary").await?;
    api.milestone(&p, "Curriculum agreed with partner colleges", "与合作院校商定课程", 12)
        .await?;
    api.milestone(&p, "First cohort of 30 trainees enrolled", "首批 30 名学员入学", -90)
        .await?;

    let college = "liaocheng-vocational-technical-college";
    let spec = |code, en, zh, amount| GrantSpec {
        refs,
        code,
        project: &p,
        recipient: college,
        en,
        zh,
        purpose: "vocational training of Pacific island technicians.",
        amount,
    };
    api.grant(spec(
        "sample-grant-training-courses",
        "Training courses",
        "培训课程",
        "400000.00",
    ))
    .await?;
    let submitted = api
        .grant(spec(
            "sample-grant-training-equipment",
            "Training equipment",
            "培训设备",
            "350000.00",
        ))
        .await?;
    api.grant_to(&submitted, "submitted").await?;
    let rejected = api
        .grant(spec(
            "sample-grant-training-study-tour",
            "Study tour",
            "考察学习",
            "90000.00",
        ))
        .await?;
    api.grant_to(&rejected, "submitted").await?;
    api.grant_to(&rejected, "rejected").await?;
    let withdrawn = api
        .grant(spec(
            "sample-grant-training-translation",
            "Course translation",
            "课程翻译",
            "60000.00",
        ))
        .await?;
    api.grant_to(&withdrawn, "withdrawn").await
}

/// On hold, no money yet.
async fn think_tank(api: &Api, refs: &References) -> DemoResult<()> {
    let s = sample("sample-climate-dialogue-think-tank")?;
    let p = api
        .create("/api/v1/projects", project_body(s, refs, json!({}))?)
        .await?;
    api.participant(&p, refs.institution("cpic-climate-cooperation-center")?, "lead")
        .await?;
    api.participant(&p, refs.institution("nauru-ministry-climate-change")?, "implementing")
        .await?;
    api.project_to(&p, "active").await?;
    let charter = api
        .milestone(&p, "Dialogue charter drafted", "对话机制章程起草完成", 200)
        .await?;
    api.achieve(&charter, 205, "charter draft circulated to partners")
        .await?;
    api.milestone(
        &p,
        "Second China–Pacific climate dialogue",
        "第二届中国—太平洋岛国气候对话",
        -150,
    )
    .await?;
    api.project_to(&p, "on_hold").await
}
