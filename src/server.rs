//! `serve`: migrate, load reference data into an empty database, make sure
//! an admin can get in, then serve until SIGTERM or Ctrl-C.

use crate::app::{self, Actor, UnitOfWork};
use crate::config::{self, Serve};
use crate::domain::kinds::Role;
use crate::{db, http, jobs, seed, store};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The actor the audit trail names for what start-up does.
const START_UP: &str = "system:start-up";

/// Descriptors kept for everything but client connections: the database
/// pool, SQLite's files, the listener, the runtime, logs.
const RESERVED_DESCRIPTORS: u64 = 128;

pub async fn serve(url: &str, settings: Serve) -> Result<(), Box<dyn std::error::Error>> {
    let connections = fit_below_open_file_limit(settings.connections.clone(), raise_open_file_limit());
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

    // Webhook delivery, reminders and e-mail, shared with any other instance through the database.
    let workers = jobs::start(db.clone(), settings.jobs.clone(), Default::default());
    let state = http::AppState {
        db,
        metrics: http::ops::metrics_handle(),
        security: http::security::Security::new(settings.security.clone()),
        clock: Default::default(),
        url_policy: settings.jobs.url_policy(),
    };
    let listener = TcpListener::bind(&settings.bind).await?;
    let addr = listener.local_addr()?;
    eprintln!("climate-tracker listening on http://{addr}  (API docs: http://{addr}/docs)");
    listen(listener, http::router(state), &connections, shutdown_signal()).await;
    // What was in flight keeps its lease; another instance, or this one restarted, retries it.
    workers.abort();
    Ok(())
}

/// Raises the soft open-file limit to the hard one (each connection holds a
/// descriptor, and the usual soft limit of 1,024 is soon reached); returns
/// the limit now in force, if it can be read.
fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
        }
    }
}

/// Lowers the connection cap to leave descriptors for the rest, so that a
/// flood of connections meets the cap (and waits) before the process runs
/// out of descriptors (and fails at everything, the database included).
fn fit_below_open_file_limit(mut connections: config::Connections, open_files: Option<u64>) -> config::Connections {
    if let Some(limit) = open_files {
        let room = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        if u64::from(connections.max_connections) > room {
            tracing::warn!(
                configured = connections.max_connections,
                open_file_limit = limit,
                "lowering the connection cap to fit below the open-file limit"
            );
            connections.max_connections = u32::try_from(room).unwrap_or(u32::MAX);
        }
    }
    connections
}

/// Serves `app` on `listener` until `shutdown` resolves; then accepts no
/// more connections and lets the requests in flight finish.
///
/// `axum::serve` gives hyper no timer, so hyper's header-read timeout never
/// fires: a client that sends nothing, or a byte a second, keeps its socket
/// for ever. Here each connection is hyper's own with a timer. A request's
/// headers must arrive within the header-read timeout, and hyper starts the
/// same timer when a kept-alive connection goes idle, so an idle socket is
/// closed after it too. At most `max_connections` are open at once; past
/// the cap a new connection waits in the kernel's listen backlog.
pub async fn listen(
    listener: TcpListener,
    app: axum::Router,
    limits: &config::Connections,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let open = Arc::new(Semaphore::new(limits.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, permit) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &open) => accepted,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts and clients going away: theirs, not ours.
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The next connection, once one of the open-connection permits is free.
async fn accept(listener: &TcpListener, open: &Arc<Semaphore>) -> (TcpStream, OwnedSemaphorePermit) {
    let permit = open
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, permit),
            // A client that gave up between SYN and accept: nothing to do.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                // Out of descriptors or memory: wait a little rather than spin.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
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
