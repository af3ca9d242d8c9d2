//! `seed demo`: sample projects, milestones, grants and payments on top of
//! the reference data, so a newcomer sees a living dashboard.
//!
//! Every sample is made by calling the use cases in `crate::app` as the
//! system (`system:seed`), exactly as a request would after parsing: the
//! same rules, audit events, outbox events and ledger entries. Every sample
//! is marked: project and grant codes start with `sample-`, texts and
//! references say "Sample data". REFERENCE.md gives no money figures, so
//! every amount here is invented.
//!
//! Dates are relative to the day the seed runs (milestones due "in 30
//! days", paid "200 days ago"), so the dashboard shows overdue and upcoming
//! work whenever it is loaded.
//!
//! Idempotent: a contribution whose reference exists, or a project whose
//! code exists, is skipped with everything built on it. The contributions
//! are one unit of work; each project is another, so a run cut short leaves
//! whole projects. The one progress report follows its project in units of
//! work of its own (see [`post_report`]).

use super::ACTOR;
use crate::app::milestones::{NewReport, Percent};
use crate::app::{self, Actor, AppError, UnitOfWork};
use crate::domain::kinds::{ParticipantRole, RioMarkers, RioScore, Role, Sector};
use crate::domain::money::{ExchangeRate, PositiveMoney};
use crate::domain::results::{Measure, ResultType, UpdateStatus, Value};
use crate::domain::status::{GrantStatus, MilestoneStatus, ProjectStatus};
use crate::domain::text::Plain;
use crate::domain::{Code, CountryCode, Currency, LocalizedText, Money};
use crate::entities::{alliance, contribution, fund, institution, project, standard_indicator};
use chrono::{Datelike, Days, NaiveDate, Utc};
use futures::future::BoxFuture;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The code prefix that marks every sample.
pub const SAMPLE_PREFIX: &str = "sample-";
const FUND: &str = "liaocheng-climate-fund";
/// The note every sample status move carries.
const NOTE: &str = "Sample data";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] DbErr),
    /// A use case refused a sample, or the database failed under it.
    #[error("{}", explain(.0))]
    App(#[from] AppError),
    #[error("reference record `{0}` is missing")]
    MissingReference(String),
    /// A value written in this file does not parse as its domain type.
    #[error("the sample {what} {value:?} does not parse: {message}")]
    Literal {
        what: &'static str,
        value: String,
        message: String,
    },
}

/// An `AppError` with what it refused: the fields of `Invalid`, the code of `Conflict`.
fn explain(e: &AppError) -> String {
    match e {
        AppError::Invalid(fields) => {
            let fields: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            format!("invalid sample: {}", fields.join("; "))
        }
        AppError::Conflict { code, detail } => format!("refused ({code}): {detail}"),
        other => other.to_string(),
    }
}

type DemoResult<T> = Result<T, DemoError>;

/// What one run added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Added {
    pub reference: usize,
    pub contributions: usize,
    pub projects: usize,
}

/// Loads the reference data, then every sample that is not there yet.
pub async fn demo(db: &DatabaseConnection) -> DemoResult<Added> {
    let mut added = Added {
        reference: super::reference(db).await?,
        ..Added::default()
    };
    let refs = References::load(db).await?;
    added.contributions = contribute(db, &refs).await?;
    for sample in missing_projects(db).await? {
        build_project(db, &refs, sample).await?;
        added.projects += 1;
    }
    Ok(added)
}

/// The missing contributions, in one unit of work; returns how many.
async fn contribute(db: &DatabaseConnection, refs: &References) -> DemoResult<usize> {
    let missing = missing_contributions(db, refs).await?;
    if missing.is_empty() {
        return Ok(0);
    }
    let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
    for c in &missing {
        let new = app::ledger::NewContribution {
            contributor_institution_id: refs.institution(c.contributor)?,
            amount: cny(c.amount)?,
            received_on: day(c.received_days_ago),
            reference: Some(plain(c.reference)?),
        };
        app::ledger::contribute(&mut uow, refs.fund, new).await?;
    }
    uow.commit().await?;
    Ok(missing.len())
}

/// One sample project with everything on it, in one unit of work; then its
/// progress report, if it has one.
async fn build_project(db: &DatabaseConnection, refs: &References, sample: &'static Sample) -> DemoResult<()> {
    let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
    let project = app::projects::create(&mut uow, sample.new_project(refs)?).await?.id;
    let builder = Builder {
        uow: &mut uow,
        refs,
        project,
    };
    let report = (sample.build)(builder).await?;
    uow.commit().await?;
    match report {
        Some(report) => post_report(db, refs, report).await,
        None => Ok(()),
    }
}

// ---------------------------------------------------------------- the progress report

/// A progress report a partner of the project posts on one of its milestones.
struct Report {
    milestone: Uuid,
    /// The reporting institution's code.
    by: &'static str,
    note: &'static str,
    percent: i64,
}

/// Posts the report as its partner, with a token made for it and revoked
/// right after.
///
/// A progress report names the token that posted it
/// (`progress_reports.token_id` is NOT NULL and the API shows it as
/// `reported_by`), and the system has no token, so `app::milestones::report`
/// refuses it. The partner gets a token of its own for this one report,
/// made and revoked by the system (both audited); its secret is dropped
/// unread, and it is revoked whether or not the report went in. A unit of
/// work has one actor, so this takes three, after the project's commit: a
/// run cut short here leaves the project without its report.
async fn post_report(db: &DatabaseConnection, refs: &References, report: Report) -> DemoResult<()> {
    let institution = refs.institution(report.by)?;
    let new = NewReport {
        note: plain(report.note)?,
        progress_percent: Some(percent(report.percent)?),
        reported_on: None,
    };
    let token = app::tokens::New {
        name: "sample partner (Sample data)".into(),
        role: Role::Partner,
        institution_id: Some(institution),
    };
    let app::tokens::Created { token, secret: _ } = app::tokens::create_as_system(db, ACTOR, token).await?;

    let partner = Actor::token(token.id, token.name, Role::Partner, Some(institution));
    let posted = async {
        let mut uow = UnitOfWork::begin(db, partner).await?;
        app::milestones::report(&mut uow, report.milestone, new).await?;
        uow.commit().await
    }
    .await;
    let revoked = async {
        let mut uow = UnitOfWork::begin(db, Actor::system(ACTOR)).await?;
        app::tokens::revoke(&mut uow, token.id).await?;
        uow.commit().await
    }
    .await;
    posted?;
    revoked?;
    Ok(())
}

// ---------------------------------------------------------------- building one project

/// A sample project being built: the use cases, bound to its unit of work,
/// its reference ids and the project.
struct Builder<'a> {
    uow: &'a mut UnitOfWork,
    refs: &'a References,
    project: Uuid,
}

/// A grant of the project, in the fund's currency (CNY).
struct GrantSpec<'a> {
    code: &'a str,
    recipient: &'a str,
    en: &'a str,
    zh: &'a str,
    purpose: &'a str,
    amount: &'a str,
}

/// A result of the project measured by one standard indicator over the
/// last year: its baseline, its target and one approved figure.
struct Measured<'a> {
    en: &'a str,
    zh: &'a str,
    standard: &'a str,
    unit: &'a str,
    baseline: &'a str,
    target: &'a str,
    actual: &'a str,
    narrative: &'a str,
}

/// A payment on a grant.
struct Payment {
    amount: &'static str,
    paid_days_ago: i64,
    reference: &'static str,
    tranche: Option<Uuid>,
    /// Paid in another currency: (amount, currency, units of it per CNY).
    local: Option<(&'static str, &'static str, &'static str)>,
}

impl Payment {
    fn new(amount: &'static str, paid_days_ago: i64, reference: &'static str) -> Payment {
        Payment {
            amount,
            paid_days_ago,
            reference,
            tranche: None,
            local: None,
        }
    }

    fn on_tranche(self, tranche: Uuid) -> Payment {
        Payment {
            tranche: Some(tranche),
            ..self
        }
    }

    fn in_local(self, amount: &'static str, currency: &'static str, rate: &'static str) -> Payment {
        Payment {
            local: Some((amount, currency, rate)),
            ..self
        }
    }
}

impl Builder<'_> {
    async fn participant(&mut self, institution: &str, role: ParticipantRole) -> DemoResult<()> {
        let institution = self.refs.institution(institution)?;
        app::projects::add_participant(self.uow, self.project, institution, role).await?;
        Ok(())
    }

    async fn project_to(&mut self, to: ProjectStatus) -> DemoResult<()> {
        app::projects::transition(self.uow, self.project, to, Some(plain(NOTE)?)).await?;
        Ok(())
    }

    async fn milestone(&mut self, en: &str, zh: &str, due_days_ago: i64) -> DemoResult<Uuid> {
        let new = app::milestones::New {
            title: text(en, zh)?,
            description: None,
            due_on: day(due_days_ago),
        };
        Ok(app::milestones::create(self.uow, self.project, new).await?.id)
    }

    async fn milestone_to(&mut self, milestone: Uuid, to: MilestoneStatus) -> DemoResult<()> {
        app::milestones::transition(self.uow, milestone, to, Some(plain(NOTE)?)).await?;
        Ok(())
    }

    async fn achieve(&mut self, milestone: Uuid, days_ago: i64, evidence: &str) -> DemoResult<()> {
        let evidence = plain(&format!("Sample data: {evidence}"))?;
        app::milestones::achieve(self.uow, milestone, day(days_ago), evidence).await?;
        Ok(())
    }

    /// A draft grant.
    async fn measured(&mut self, m: Measured<'_>) -> DemoResult<()> {
        use app::results::{self as r, Baseline, Target};
        let value = |v: &str| parsed("indicator value", v, Value::try_from(v.to_owned()));
        let new = r::NewResult {
            result_type: ResultType::Outcome,
            title: text(m.en, m.zh)?,
            description: None,
        };
        let result = r::create_result(self.uow, self.project, new).await?.id;
        let new = r::NewIndicator {
            title: text(m.en, m.zh)?,
            description: None,
            measure: Measure::Unit,
            unit: Some(plain(m.unit)?),
            ascending: true,
            cumulative: false,
            standard_indicator_id: Some(self.refs.standard_indicator(m.standard)?),
            baseline: Some(Baseline {
                year: day(365).year(),
                value: Some(value(m.baseline)?),
                comment: None,
            }),
            dimensions: Vec::new(),
        };
        let indicator = r::create_indicator(self.uow, result, new).await?.id;
        let new = r::NewPeriod {
            period_start: day(365),
            period_end: day(1),
            target: Some(Target {
                value: Some(value(m.target)?),
                comment: None,
            }),
        };
        let period = r::create_period(self.uow, indicator, new).await?.id;
        let new = r::NewUpdate {
            value: Some(value(m.actual)?),
            numerator: None,
            denominator: None,
            narrative: Some(plain(m.narrative)?),
            reported_on: day(20),
            disaggregations: Vec::new(),
        };
        let update = r::create_update(self.uow, period, new).await?.id;
        for to in [UpdateStatus::Submitted, UpdateStatus::Approved] {
            r::transition_update(self.uow, update, to, None).await?;
        }
        Ok(())
    }

    async fn grant(&mut self, g: GrantSpec<'_>) -> DemoResult<Uuid> {
        let new = app::grants::New {
            code: Some(code(g.code)?),
            fund_id: self.refs.fund,
            project_id: self.project,
            recipient_institution_id: self.refs.institution(g.recipient)?,
            title: text(g.en, g.zh)?,
            purpose: Some(text(&format!("Sample data: {}", g.purpose), "示例数据")?),
            amount: cny(g.amount)?,
        };
        Ok(app::grants::create(self.uow, new).await?.id)
    }

    async fn grant_to(&mut self, grant: Uuid, to: GrantStatus) -> DemoResult<()> {
        app::grants::transition(self.uow, grant, to, Some(plain(NOTE)?)).await?;
        Ok(())
    }

    async fn approve(&mut self, grant: Uuid) -> DemoResult<()> {
        self.grant_to(grant, GrantStatus::Submitted).await?;
        self.grant_to(grant, GrantStatus::Approved).await
    }

    async fn tranche(&mut self, grant: Uuid, amount: &str, due_days_ago: i64, milestone: Uuid) -> DemoResult<Uuid> {
        let new = app::grants::NewTranche {
            amount: cny(amount)?,
            due_on: Some(day(due_days_ago)),
            milestone_id: Some(milestone),
        };
        Ok(app::grants::add_tranche(self.uow, grant, new).await?.id)
    }

    async fn pay(&mut self, grant: Uuid, p: Payment) -> DemoResult<Uuid> {
        let (local_amount, exchange_rate) = match p.local {
            Some((amount, currency, rate)) => (Some(money(amount, currency)?), Some(exchange_rate(rate)?)),
            None => (None, None),
        };
        let new = app::grants::NewDisbursement {
            amount: cny(p.amount)?,
            paid_on: day(p.paid_days_ago),
            tranche_id: p.tranche,
            reference: Some(plain(p.reference)?),
            local_amount,
            exchange_rate,
        };
        Ok(app::grants::disburse(self.uow, grant, new).await?.id)
    }

    async fn reverse(&mut self, disbursement: Uuid, reason: &str) -> DemoResult<()> {
        app::grants::reverse(self.uow, disbursement, plain(reason)?).await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- reference ids

struct References {
    fund: Uuid,
    institutions: HashMap<String, Uuid>,
    alliances: HashMap<String, Uuid>,
    standard_indicators: HashMap<String, Uuid>,
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
        let standard_indicators = standard_indicator::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.code, s.id))
            .collect();
        Ok(References {
            fund: fund.id,
            institutions,
            alliances,
            standard_indicators,
        })
    }

    fn institution(&self, code: &str) -> DemoResult<Uuid> {
        self.institutions
            .get(code)
            .copied()
            .ok_or_else(|| DemoError::MissingReference(code.into()))
    }

    fn standard_indicator(&self, code: &str) -> DemoResult<Uuid> {
        self.standard_indicators
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

// ---------------------------------------------------------------- literals, parsed

/// A literal of this file parsed by its domain type's constructor.
fn parsed<T>(what: &'static str, value: &str, result: Result<T, String>) -> DemoResult<T> {
    result.map_err(|message| DemoError::Literal {
        what,
        value: value.to_owned(),
        message,
    })
}

/// English and Chinese text.
fn text<const MAX: usize>(en: &str, zh: &str) -> DemoResult<LocalizedText<MAX>> {
    let map = BTreeMap::from([("en".to_owned(), en.to_owned()), ("zh".to_owned(), zh.to_owned())]);
    parsed("text", en, map.try_into())
}

/// A note, an evidence, a reason or a reference.
fn plain<const MAX: usize>(s: &str) -> DemoResult<Plain<MAX>> {
    parsed("text", s, s.to_owned().try_into())
}

fn code(s: &str) -> DemoResult<Code> {
    parsed("code", s, s.to_owned().try_into())
}

fn percent(p: i64) -> DemoResult<Percent> {
    parsed("progress percent", &p.to_string(), p.try_into())
}

/// Money that is paid, awarded or contributed: positive, as the use cases require.
fn money(amount: &str, currency: &str) -> DemoResult<PositiveMoney> {
    let currency: Currency = parsed("currency", currency, currency.parse())?;
    let money = parsed("amount", amount, Money::parse(amount, currency))?;
    parsed("amount", amount, PositiveMoney::try_from(money))
}

/// Money of the fund, in yuan.
fn cny(amount: &str) -> DemoResult<PositiveMoney> {
    money(amount, "CNY")
}

/// Units of the local currency per unit of the fund's.
fn exchange_rate(rate: &str) -> DemoResult<ExchangeRate> {
    parsed("exchange rate", rate, ExchangeRate::try_from(rate.to_owned()))
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

/// Builds on a created project; returns the progress report to post once it is committed.
type Build = for<'a> fn(Builder<'a>) -> BoxFuture<'a, DemoResult<Option<Report>>>;

struct Sample {
    code: &'static str,
    en: &'static str,
    zh: &'static str,
    summary: &'static str,
    sector: Sector,
    countries: &'static [&'static str],
    alliance: Option<&'static str>,
    /// Rio markers (mitigation, adaptation).
    rio: (u8, u8),
    start_days_ago: i64,
    end_days_ago: i64,
    /// The real start and end, for a project recorded after the fact.
    actual_days_ago: Option<(i64, i64)>,
    build: Build,
}

impl Sample {
    fn new_project(&self, refs: &References) -> DemoResult<app::projects::New> {
        let score = |v: u8| parsed("Rio marker", &v.to_string(), RioScore::try_from(v));
        let countries = self
            .countries
            .iter()
            .map(|c| parsed("country", c, c.parse::<CountryCode>()))
            .collect::<DemoResult<_>>()?;
        Ok(app::projects::New {
            code: code(self.code)?,
            title: text(&format!("{} (sample)", self.en), &format!("{}（示例）", self.zh))?,
            summary: Some(text(&format!("Sample data. {}", self.summary), "示例数据。")?),
            alliance_id: self.alliance.map(|a| refs.alliance(a)).transpose()?,
            sector: self.sector,
            countries,
            rio_markers: RioMarkers {
                mitigation: score(self.rio.0)?,
                adaptation: score(self.rio.1)?,
            },
            planned_start: day(self.start_days_ago),
            planned_end: day(self.end_days_ago),
            actual_start: self.actual_days_ago.map(|(start, _)| day(start)),
            actual_end: self.actual_days_ago.map(|(_, end)| day(end)),
        })
    }
}

const SAMPLES: [Sample; 5] = [
    Sample {
        code: "sample-low-carbon-demonstration-zone",
        en: "Low-carbon demonstration zone, Nauru",
        zh: "瑙鲁低碳示范区",
        summary: "A low-carbon demonstration zone built with partner agencies and research institutes: \
            rooftop solar, efficient lighting and a year of monitoring.",
        sector: Sector::LowCarbonDemonstration,
        countries: &["NR"],
        alliance: Some("green-development-alliance"),
        rio: (2, 1),
        start_days_ago: 300,
        end_days_ago: -400,
        actual_days_ago: None,
        build: |b| Box::pin(low_carbon_zone(b)),
    },
    Sample {
        code: "sample-kiribati-youth-ambassadors-camp",
        en: "Kiribati Youth Ambassadors Cultural Exchange Camp",
        zh: "基里巴斯青年大使文化交流营",
        summary: "Young ambassadors from Kiribati spend two weeks in Liaocheng: climate science, \
            culture and friendship.",
        sector: Sector::CultureExchange,
        countries: &["KI", "CN"],
        alliance: None,
        rio: (0, 1),
        start_days_ago: 380,
        end_days_ago: 330,
        actual_days_ago: Some((378, 332)),
        build: |b| Box::pin(youth_camp(b)),
    },
    Sample {
        code: "sample-livelihood-supplies-vavau-betio",
        en: "Livelihood supplies for Vava'u and Betio",
        zh: "向瓦瓦乌群岛和比休岛市捐赠生活物资",
        summary: "Donated livelihood supplies for the sister cities Vava'u (Tonga) and Betio (Kiribati).",
        sector: Sector::HumanitarianSupplies,
        countries: &["TO", "KI"],
        alliance: None,
        rio: (0, 2),
        start_days_ago: 200,
        end_days_ago: -60,
        actual_days_ago: None,
        build: |b| Box::pin(livelihood_supplies(b)),
    },
    Sample {
        code: "sample-vocational-training",
        en: "Vocational training for Pacific island technicians",
        zh: "太平洋岛国技术人员职业培训",
        summary: "Short courses in solar installation and maintenance for technicians from Kiribati, \
            Tonga and Nauru, run by the Vocational Education Alliance.",
        sector: Sector::EducationTraining,
        countries: &["KI", "TO", "NR"],
        alliance: Some("vocational-education-alliance"),
        rio: (1, 1),
        start_days_ago: -60,
        end_days_ago: -425,
        actual_days_ago: None,
        build: |b| Box::pin(vocational_training(b)),
    },
    Sample {
        code: "sample-climate-dialogue-think-tank",
        en: "China–Pacific climate think tank and dialogue",
        zh: "中国—太平洋岛国气候智库与对话",
        summary: "A think tank and a yearly dialogue on climate change between China and the Pacific island countries.",
        sector: Sector::AcademicExchange,
        countries: &["CN", "TO", "KI", "NR"],
        alliance: Some("green-development-alliance"),
        rio: (1, 1),
        start_days_ago: 250,
        end_days_ago: -480,
        actual_days_ago: None,
        build: |b| Box::pin(think_tank(b)),
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

/// Active, on track: tranches tied to milestones, a payment reversed and
/// paid again, and a progress report from the lead partner.
async fn low_carbon_zone(mut b: Builder<'_>) -> DemoResult<Option<Report>> {
    b.participant("cpic-climate-cooperation-center", ParticipantRole::Lead)
        .await?;
    b.participant("liaocheng-university", ParticipantRole::Implementing)
        .await?;
    b.participant("nauru-ministry-climate-change", ParticipantRole::Beneficiary)
        .await?;
    b.project_to(ProjectStatus::Active).await?;

    let survey = b
        .milestone(
            "Site survey and baseline emissions report",
            "现场勘察与基准排放报告",
            240,
        )
        .await?;
    b.achieve(survey, 245, "survey report filed with the Ministry, ref. NR-LCZ-01")
        .await?;
    let install = b
        .milestone(
            "Rooftop solar and LED lighting installed",
            "屋顶光伏与 LED 照明安装完成",
            -45,
        )
        .await?;
    b.milestone_to(install, MilestoneStatus::InProgress).await?;
    let monitoring = b
        .milestone("First year of monitoring data published", "发布首年监测数据", -330)
        .await?;

    let g = b
        .grant(GrantSpec {
            code: "sample-grant-low-carbon-zone",
            recipient: "cpic-climate-cooperation-center",
            en: "Low-carbon demonstration zone: equipment and installation",
            zh: "低碳示范区：设备与安装",
            purpose: "solar panels, LED lighting and their installation in the zone.",
            amount: "1200000.00",
        })
        .await?;
    b.approve(g).await?;
    let first = b.tranche(g, "400000.00", 230, survey).await?;
    b.tranche(g, "500000.00", -50, install).await?;
    b.tranche(g, "300000.00", -335, monitoring).await?;
    let paid = Payment::new("400000.00", 220, "sample-payment-lcz-001 (Sample data)").on_tranche(first);
    b.pay(g, paid).await?;
    let wrong = b
        .pay(
            g,
            Payment::new("150000.00", 200, "sample-payment-lcz-002 (Sample data)"),
        )
        .await?;
    b.reverse(
        wrong,
        "Sample data: paid to the wrong account; paid again the next week",
    )
    .await?;
    b.pay(
        g,
        Payment::new("150000.00", 193, "sample-payment-lcz-003 (Sample data)"),
    )
    .await?;

    let monitoring_grant = b
        .grant(GrantSpec {
            code: "sample-grant-low-carbon-monitoring",
            recipient: "liaocheng-university",
            en: "Low-carbon demonstration zone: monitoring and evaluation",
            zh: "低碳示范区：监测与评估",
            purpose: "a year of energy and emissions monitoring by Liaocheng University.",
            amount: "300000.00",
        })
        .await?;
    b.approve(monitoring_grant).await?;
    b.measured(Measured {
        en: "Emissions avoided in the zone",
        zh: "示范区减少的排放",
        standard: "ghg-emissions-reduced",
        unit: "tCO2e",
        baseline: "0",
        target: "120",
        actual: "86.5",
        narrative: "Sample data: metered output of the rooftop arrays, first ten months",
    })
    .await?;

    Ok(Some(Report {
        milestone: install,
        by: "cpic-climate-cooperation-center",
        note: "Sample data: panels delivered to the site, roofs of two schools done",
        percent: 60,
    }))
}

/// Completed: every milestone closed, the grant completed with money left (released).
async fn youth_camp(mut b: Builder<'_>) -> DemoResult<Option<Report>> {
    b.participant("liaocheng-university", ParticipantRole::Lead).await?;
    b.participant("betio", ParticipantRole::Beneficiary).await?;
    b.project_to(ProjectStatus::Active).await?;
    let selected = b
        .milestone("Youth ambassadors selected", "青年大使选拔完成", 370)
        .await?;
    b.achieve(selected, 372, "list of 24 ambassadors agreed with the Betio council")
        .await?;
    let camp = b.milestone("Camp held in Liaocheng", "在聊城举办交流营", 335).await?;
    b.achieve(camp, 333, "camp report and photographs").await?;
    let visit = b.milestone("Return visit to Betio", "回访比休岛市", 300).await?;
    b.milestone_to(visit, MilestoneStatus::Cancelled).await?;

    let g = b
        .grant(GrantSpec {
            code: "sample-grant-youth-camp",
            recipient: "liaocheng-university",
            en: "Youth ambassadors camp: travel and hosting",
            zh: "青年大使交流营：差旅与接待",
            purpose: "flights, board and programme of the camp.",
            amount: "180000.00",
        })
        .await?;
    b.approve(g).await?;
    b.pay(
        g,
        Payment::new("100000.00", 360, "sample-payment-camp-001 (Sample data)"),
    )
    .await?;
    b.pay(
        g,
        Payment::new("50000.00", 330, "sample-payment-camp-002 (Sample data)"),
    )
    .await?;
    b.grant_to(g, GrantStatus::Completed).await?;
    b.project_to(ProjectStatus::Completed).await?;
    Ok(None)
}

/// Active and delayed: a delivery missed; one grant paid in local currency, one cancelled.
async fn livelihood_supplies(mut b: Builder<'_>) -> DemoResult<Option<Report>> {
    b.participant("liaocheng-municipal-government", ParticipantRole::Lead)
        .await?;
    b.participant("xinfa-group", ParticipantRole::Funding).await?;
    b.participant("vavau", ParticipantRole::Beneficiary).await?;
    b.participant("betio", ParticipantRole::Beneficiary).await?;
    b.project_to(ProjectStatus::Active).await?;
    let shipped = b
        .milestone("Supplies shipped to Vava'u", "物资运抵瓦瓦乌群岛", 150)
        .await?;
    b.achieve(shipped, 152, "bill of lading and receipt signed in Neiafu")
        .await?;
    let betio = b
        .milestone("Supplies delivered to Betio", "物资运抵比休岛市", 90)
        .await?;
    b.milestone_to(betio, MilestoneStatus::Missed).await?;
    let report = b
        .milestone("Distribution report from Vava'u", "瓦瓦乌群岛分发报告", 40)
        .await?;
    b.milestone_to(report, MilestoneStatus::InProgress).await?;
    b.milestone("Second shipment to Betio", "第二批物资运抵比休岛市", -20)
        .await?;

    let vavau = b
        .grant(GrantSpec {
            code: "sample-grant-supplies-vavau",
            recipient: "vavau",
            en: "Livelihood supplies for Vava'u",
            zh: "瓦瓦乌群岛生活物资",
            purpose: "water tanks, solar lanterns and tools for Vava'u.",
            amount: "250000.00",
        })
        .await?;
    b.approve(vavau).await?;
    // Paid in Tongan paʻanga: what Vava'u received, and at what rate.
    let paid =
        Payment::new("120000.00", 148, "sample-payment-vavau-001 (Sample data)").in_local("39720.00", "TOP", "0.3310");
    b.pay(vavau, paid).await?;
    let betio_grant = b
        .grant(GrantSpec {
            code: "sample-grant-supplies-betio",
            recipient: "betio",
            en: "Livelihood supplies for Betio",
            zh: "比休岛市生活物资",
            purpose: "water tanks and solar lanterns for Betio; cancelled when the shipping route closed.",
            amount: "200000.00",
        })
        .await?;
    b.approve(betio_grant).await?;
    b.grant_to(betio_grant, GrantStatus::Cancelled).await?;
    Ok(None)
}

/// Planned, at risk: a milestone already overdue; grants in the early and refused states.
async fn vocational_training(mut b: Builder<'_>) -> DemoResult<Option<Report>> {
    let college = "liaocheng-vocational-technical-college";
    b.participant(college, ParticipantRole::Lead).await?;
    b.participant("betio", ParticipantRole::Beneficiary).await?;
    b.milestone("Curriculum agreed with partner colleges", "与合作院校商定课程", 12)
        .await?;
    b.milestone("First cohort of 30 trainees enrolled", "首批 30 名学员入学", -90)
        .await?;
    b.measured(Measured {
        en: "Technicians trained",
        zh: "培训的技术人员",
        standard: "people-trained",
        unit: "people",
        baseline: "0",
        target: "30",
        actual: "12",
        narrative: "Sample data: the pilot short course in Betio",
    })
    .await?;

    let spec = |code, en, zh, amount| GrantSpec {
        code,
        recipient: college,
        en,
        zh,
        purpose: "vocational training of Pacific island technicians.",
        amount,
    };
    b.grant(spec(
        "sample-grant-training-courses",
        "Training courses",
        "培训课程",
        "400000.00",
    ))
    .await?;
    let submitted = b
        .grant(spec(
            "sample-grant-training-equipment",
            "Training equipment",
            "培训设备",
            "350000.00",
        ))
        .await?;
    b.grant_to(submitted, GrantStatus::Submitted).await?;
    let rejected = b
        .grant(spec(
            "sample-grant-training-study-tour",
            "Study tour",
            "考察学习",
            "90000.00",
        ))
        .await?;
    b.grant_to(rejected, GrantStatus::Submitted).await?;
    b.grant_to(rejected, GrantStatus::Rejected).await?;
    let withdrawn = b
        .grant(spec(
            "sample-grant-training-translation",
            "Course translation",
            "课程翻译",
            "60000.00",
        ))
        .await?;
    b.grant_to(withdrawn, GrantStatus::Withdrawn).await?;
    Ok(None)
}

/// On hold, no money yet.
async fn think_tank(mut b: Builder<'_>) -> DemoResult<Option<Report>> {
    b.participant("cpic-climate-cooperation-center", ParticipantRole::Lead)
        .await?;
    b.participant("nauru-ministry-climate-change", ParticipantRole::Implementing)
        .await?;
    b.project_to(ProjectStatus::Active).await?;
    let charter = b
        .milestone("Dialogue charter drafted", "对话机制章程起草完成", 200)
        .await?;
    b.achieve(charter, 205, "charter draft circulated to partners").await?;
    b.milestone(
        "Second China–Pacific climate dialogue",
        "第二届中国—太平洋岛国气候对话",
        -150,
    )
    .await?;
    b.project_to(ProjectStatus::OnHold).await?;
    Ok(None)
}
