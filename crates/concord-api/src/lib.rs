//! Concord's HTTP API. Only this crate knows wire JSON and status codes; handlers are thin:
//! parse and check the request at the edge, call the hub, shape the answer.

pub mod access;
mod governance;
pub mod problem;
mod routes;

use std::net::SocketAddr;

use axum::Router;
use concord_engine::Hub;

pub use problem::ApiError;

/// The whole API as a router (tests drive it with `oneshot`, `serve` binds it).
pub fn router(hub: Hub) -> Router {
    routes::router(hub)
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Hub,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(hub).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
