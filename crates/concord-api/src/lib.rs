//! Concord's HTTP API. Only this crate knows wire JSON and status codes; handlers are thin:
//! parse and check the request at the edge, call the hub, shape the answer.

pub mod access;
mod clinical;
pub mod console;
mod edge;
mod governance;
pub mod openapi;
pub mod problem;
mod routes;
mod suppliers;
pub mod tls;

use axum::Router;
use concord_engine::Hub;

pub use problem::ApiError;

/// The whole API as a router (tests drive it with `oneshot`, `serve` binds it).
pub fn router(hub: Hub) -> Router {
    routes::router(hub)
}

/// Why serving stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("serving the API failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the API until `shutdown` resolves: HTTPS when `[api.tls]` is configured, else HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Hub,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(hub.clone());
    match &hub.config().api.tls {
        Some(tls) => {
            let config = tls::server_config(
                &hub.config().resolve(&tls.cert),
                &hub.config().resolve(&tls.key),
            )?;
            let listener = tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
    }
    Ok(())
}

/// The scheme the API is served with, for messages and links.
pub fn scheme(hub: &Hub) -> &'static str {
    if hub.config().api.tls.is_some() {
        "https"
    } else {
        "http"
    }
}
