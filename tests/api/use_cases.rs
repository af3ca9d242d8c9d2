//! The money rules as use cases, with no HTTP: each test drives
//! `app::grants`, `app::ledger` and friends in units of work as the system
//! (the way seeding and jobs do) and reads what the use case answers and
//! what the fund's books hold. The HTTP suite (`money_rules`) proves the
//! same rules as a client sees them.

use crate::common::{TestApp, each_backend};
use chrono::NaiveDate;
use climate_tracker::app::{self, Actor, AppError, AppResult, UnitOfWork};
use climate_tracker::domain::kinds::{InstitutionKind, ParticipantRole, RioMarkers, Sector};
use climate_tracker::domain::status::{GrantStatus, MilestoneStatus};
use climate_tracker::domain::{Currency, ExchangeRate, Money, Note, PositiveMoney, ShortText};
use climate_tracker::store::books::Books;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

fn text(en: &str) -> ShortText {
    ShortText::try_from(std::collections::BTreeMap::from([("en".to_owned(), en.to_owned())])).unwrap()
}

fn cny(amount: &str) -> PositiveMoney {
    money(amount, "CNY")
}

fn money(amount: &str, currency: &str) -> PositiveMoney {
    let m = Money::parse(amount, currency.parse::<Currency>().unwrap()).unwrap();
    PositiveMoney::try_from(m).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn note(s: &str) -> Note {
    Note::try_from(s.to_owned()).unwrap()
}

/// Runs one use case in a unit of work of its own, committing on success.
async fn run<T>(db: &DatabaseConnection, f: impl AsyncFnOnce(&mut UnitOfWork) -> AppResult<T>) -> AppResult<T> {
    let mut uow = UnitOfWork::begin(db, Actor::system("system:test")).await?;
    let out = f(&mut uow).await?;
    uow.commit().await?;
    Ok(out)
}

/// (available, committed, disbursed) of a fund, in fen.
async fn books(db: &DatabaseConnection, fund: Uuid) -> (i64, i64, i64) {
    let uow = UnitOfWork::begin(db, Actor::system("system:test")).await.unwrap();
    let b = Books::open(uow.db(), fund).await.unwrap().balances();
    (b.available(), b.committed, b.disbursed)
}

fn conflict_code<T: std::fmt::Debug>(r: AppResult<T>) -> &'static str {
    match r {
        Err(AppError::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

struct Setup {
    fund: Uuid,
    project: Uuid,
    recipient: Uuid,
}

/// A CNY fund holding `contributed`, and a project with one lead participant.
async fn setup(db: &DatabaseConnection, contributed: &str) -> Setup {
    let institution = |code: &str, country: &str| app::institutions::New {
        code: Some(code.to_owned().try_into().unwrap()),
        name: text(code),
        kind: InstitutionKind::University,
        country: country.parse().unwrap(),
        city: None,
        website: None,
        iati_org_id: None,
        time_zone: None,
        contact_email: None,
    };
    let sponsor = run(db, async |u| {
        app::institutions::create(u, institution("sponsor", "CN")).await
    })
    .await
    .unwrap()
    .id;
    let recipient = run(db, async |u| {
        app::institutions::create(u, institution("usp-tonga", "TO")).await
    })
    .await
    .unwrap()
    .id;
    let fund = run(db, async |u| {
        let new = app::funds::New {
            code: "fund".to_owned().try_into().unwrap(),
            name: text("Fund"),
            currency: "CNY".parse().unwrap(),
            sponsor_institution_id: sponsor,
            established_on: day("2024-10-28"),
            focus_areas: vec![],
        };
        app::funds::create(u, new).await
    })
    .await
    .unwrap()
    .id;
    run(db, async |u| {
        let new = app::ledger::NewContribution {
            contributor_institution_id: sponsor,
            amount: cny(contributed),
            received_on: day("2024-11-01"),
            reference: None,
        };
        app::ledger::contribute(u, fund, new).await
    })
    .await
    .unwrap();
    let project = run(db, async |u| {
        let new = app::projects::New {
            code: "solar".to_owned().try_into().unwrap(),
            title: text("Solar"),
            summary: None,
            alliance_id: None,
            sector: Sector::CleanEnergy,
            countries: vec!["TO".parse().unwrap()],
            rio_markers: serde_json::from_value::<RioMarkers>(serde_json::json!({"mitigation": 2, "adaptation": 0}))
                .unwrap(),
            planned_start: day("2025-01-01"),
            planned_end: day("2026-12-31"),
            actual_start: None,
            actual_end: None,
        };
        app::projects::create(u, new).await
    })
    .await
    .unwrap()
    .id;
    run(db, async |u| {
        app::projects::add_participant(u, project, recipient, ParticipantRole::Lead).await
    })
    .await
    .unwrap();
    Setup {
        fund,
        project,
        recipient,
    }
}

async fn grant(db: &DatabaseConnection, s: &Setup, amount: &str) -> Uuid {
    let new = app::grants::New {
        code: None,
        fund_id: s.fund,
        project_id: s.project,
        recipient_institution_id: s.recipient,
        title: text("Panels"),
        purpose: None,
        amount: cny(amount),
    };
    run(db, async |u| app::grants::create(u, new).await).await.unwrap().id
}

async fn move_grant(db: &DatabaseConnection, id: Uuid, to: GrantStatus) -> AppResult<app::grants::Grant> {
    run(db, async |u| app::grants::transition(u, id, to, None).await).await
}

async fn pay(
    db: &DatabaseConnection,
    grant: Uuid,
    amount: &str,
    tranche: Option<Uuid>,
) -> AppResult<app::grants::Disbursement> {
    let new = app::grants::NewDisbursement {
        amount: cny(amount),
        paid_on: day("2025-03-01"),
        tranche_id: tranche,
        reference: None,
        local_amount: None,
        exchange_rate: None,
    };
    run(db, async |u| app::grants::disburse(u, grant, new).await).await
}

async fn approved(db: &DatabaseConnection, s: &Setup, amount: &str) -> Uuid {
    let id = grant(db, s, amount).await;
    move_grant(db, id, GrantStatus::Submitted).await.unwrap();
    move_grant(db, id, GrantStatus::Approved).await.unwrap();
    id
}

#[tokio::test]
async fn approving_commits_the_amount_and_needs_it_available() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let first = approved(db, &s, "60.00").await;
        assert_eq!(books(db, s.fund).await, (4000, 6000, 0));
        let second = grant(db, &s, "40.01").await;
        move_grant(db, second, GrantStatus::Submitted).await.unwrap();
        assert_eq!(
            conflict_code(move_grant(db, second, GrantStatus::Approved).await),
            "insufficient_funds"
        );
        assert_eq!(
            books(db, s.fund).await,
            (4000, 6000, 0),
            "a refused approval commits nothing"
        );
        let g = move_grant(db, first, GrantStatus::Active).await.unwrap();
        assert_eq!(g.decided_on, Some(chrono::Utc::now().date_naive()));
    })
    .await;
}

#[tokio::test]
async fn a_move_the_life_cycle_does_not_allow_is_invalid_transition() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = grant(db, &s, "10.00").await;
        assert_eq!(
            conflict_code(move_grant(db, g, GrantStatus::Approved).await),
            "invalid_transition"
        );
        assert_eq!(
            conflict_code(move_grant(db, g, GrantStatus::Completed).await),
            "invalid_transition"
        );
        assert_eq!(books(db, s.fund).await, (10000, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn net_disbursed_never_passes_the_award_and_the_first_payment_activates() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = approved(db, &s, "50.00").await;
        pay(db, g, "30.00", None).await.unwrap();
        assert_eq!(conflict_code(pay(db, g, "20.01", None).await), "over_disbursement");
        pay(db, g, "20.00", None).await.unwrap();
        assert_eq!(books(db, s.fund).await, (5000, 0, 5000));
        let status = run(db, async |u| {
            Ok(app::access::grant(u.db(), u.actor(), g, app::access::Lock::No)
                .await?
                .status)
        })
        .await
        .unwrap();
        assert_eq!(status, GrantStatus::Active);
    })
    .await;
}

#[tokio::test]
async fn a_reversal_returns_money_to_the_grant_while_it_is_open_and_to_the_fund_after() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = approved(db, &s, "50.00").await;
        let first = pay(db, g, "20.00", None).await.unwrap();
        let second = pay(db, g, "10.00", None).await.unwrap();
        run(db, async |u| {
            app::grants::reverse(u, first.id, note("wrong account")).await
        })
        .await
        .unwrap();
        // Back to the grant: still committed, not available.
        assert_eq!(books(db, s.fund).await, (5000, 4000, 1000));
        let again = run(db, async |u| app::grants::reverse(u, first.id, note("twice")).await).await;
        assert_eq!(conflict_code(again), "already_reversed");
        move_grant(db, g, GrantStatus::Completed).await.unwrap();
        assert_eq!(
            books(db, s.fund).await,
            (9000, 0, 1000),
            "completing frees what was not paid"
        );
        run(db, async |u| app::grants::reverse(u, second.id, note("returned")).await)
            .await
            .unwrap();
        assert_eq!(
            books(db, s.fund).await,
            (10000, 0, 0),
            "after completion the money returns to the fund"
        );
    })
    .await;
}

#[tokio::test]
async fn tranches_never_sum_past_the_grant_and_wait_for_their_milestone() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = approved(db, &s, "50.00").await;
        let milestone = run(db, async |u| {
            let new = app::milestones::New {
                title: text("Panels installed"),
                description: None,
                due_on: day("2025-06-30"),
            };
            app::milestones::create(u, s.project, new).await
        })
        .await
        .unwrap();
        let tranche = |amount: &'static str, m: Option<Uuid>| async move {
            let new = app::grants::NewTranche {
                amount: cny(amount),
                due_on: None,
                milestone_id: m,
            };
            run(db, async |u| app::grants::add_tranche(u, g, new).await).await
        };
        let tied = tranche("30.00", Some(milestone.id)).await.unwrap();
        assert_eq!(conflict_code(tranche("20.01", None).await), "tranche_over_allocated");
        assert_eq!(
            conflict_code(pay(db, g, "10.00", Some(tied.id)).await),
            "milestone_not_achieved"
        );
        let achieved = run(db, async |u| {
            app::milestones::achieve(u, milestone.id, day("2025-06-01"), note("certificate")).await
        })
        .await
        .unwrap();
        assert_eq!(achieved.status, MilestoneStatus::Achieved);
        pay(db, g, "30.00", Some(tied.id)).await.unwrap();
        assert_eq!(
            conflict_code(pay(db, g, "0.01", Some(tied.id)).await),
            "over_disbursement"
        );
    })
    .await;
}

#[tokio::test]
async fn an_exchange_rate_needs_the_local_amount_it_converts() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = approved(db, &s, "50.00").await;
        let new = app::grants::NewDisbursement {
            amount: cny("10.00"),
            paid_on: day("2025-03-01"),
            tranche_id: None,
            reference: None,
            local_amount: None,
            exchange_rate: Some(ExchangeRate::try_from("0.3251".to_owned()).unwrap()),
        };
        match run(db, async |u| app::grants::disburse(u, g, new).await).await {
            Err(AppError::Invalid(errors)) => assert_eq!(errors[0].field, "local_amount"),
            other => panic!("expected 422, got {other:?}"),
        }
        assert_eq!(books(db, s.fund).await, (5000, 5000, 0));
    })
    .await;
}

#[tokio::test]
async fn money_of_another_currency_is_refused_on_its_field() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let new = app::grants::New {
            code: None,
            fund_id: s.fund,
            project_id: s.project,
            recipient_institution_id: s.recipient,
            title: text("Panels"),
            purpose: None,
            amount: money("10.00", "USD"),
        };
        match run(db, async |u| app::grants::create(u, new).await).await {
            Err(AppError::Invalid(errors)) => assert_eq!(errors[0].field, "amount.currency"),
            other => panic!("expected 422, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_partner_actor_sees_only_its_grants_and_may_not_move_money() {
    each_backend(|app: TestApp| async move {
        let db = &app.db;
        let s = setup(db, "100.00").await;
        let g = approved(db, &s, "50.00").await;
        let partner = Actor::token(
            Uuid::now_v7(),
            "partner".into(),
            climate_tracker::domain::kinds::Role::Partner,
            Some(s.recipient),
        );
        let stranger = Actor::token(
            Uuid::now_v7(),
            "stranger".into(),
            climate_tracker::domain::kinds::Role::Partner,
            Some(Uuid::now_v7()),
        );
        for (actor, expected) in [(partner, "forbidden"), (stranger, "not_found")] {
            let mut uow = UnitOfWork::begin(db, actor).await.unwrap();
            let new = app::grants::NewDisbursement {
                amount: cny("1.00"),
                paid_on: day("2025-03-01"),
                tranche_id: None,
                reference: None,
                local_amount: None,
                exchange_rate: None,
            };
            let got = match app::grants::disburse(&mut uow, g, new).await {
                Err(AppError::Forbidden(_)) => "forbidden",
                Err(AppError::NotFound) => "not_found",
                other => panic!("{other:?}"),
            };
            assert_eq!(
                got, expected,
                "404 for what a partner cannot see, 403 for what it may not do"
            );
        }
        assert_eq!(books(db, s.fund).await, (5000, 5000, 0));
    })
    .await;
}
