//! `serve`: migrate, load reference data into an empty database, make sure
//! an admin can get in, then serve until SIGTERM or Ctrl-C.

use crate::app::{self, Actor, UnitOfWork};
use crate::config::Serve;
use crate::domain::kinds::Role;
use crate::{db, http, seed, store};

/// The actor the audit trail names for what start-up does.
const START_UP: &str = "system:start-up";

pub async fn serve(url: &str, settings: Serve) -> Result<(), Box<dyn std::error::Error>> {
    let db = db::connect(url).await?;
    let turn = db::start_up_turn(&db).await?;
    db::migrate_up(&db).await?;
    let added = seed::reference_if_empty(&db).await?;
    if added > 0 {
        tracing::info!(records = added, "loaded the reference data");
    }
    if let Some(secret) = settings.admin_token.as_deref().filter(|s| !s.is_empty()) {
        let mut uow = UnitOfWork::begin(&db, Actor::system(START_UP)).await?;
        app::tokens::ensure_admin(&mut uow, secret).await?;
        uow.commit().await?;
    } else if !app::tokens::any_exist(&db).await? {
        let new = app::tokens::New {
            name: "initial admin".into(),
            role: Role::Admin,
            institution_id: None,
        };
        let created = app::tokens::create_as_system(&db, START_UP, new).await?;
        eprintln!(
            "No token existed, so an admin token was created. It is shown only this once:\n\n    {}\n",
            created.secret
        );
    }

    let sealed = store::audit::seal_unchained(&db).await?;
    if sealed > 0 {
        tracing::info!(
            events = sealed,
            "chained audit events written before the hash chain existed"
        );
    }
    if let Some(turn) = turn {
        turn.commit().await?;
    }

    let state = http::AppState {
        db,
        metrics: http::ops::metrics_handle(),
        security: http::security::Security::new(settings.security.clone()),
        clock: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(&settings.bind).await?;
    let addr = listener.local_addr()?;
    eprintln!("climate-tracker listening on http://{addr}  (API docs: http://{addr}/docs)");
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C; requests in flight are finished first.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
