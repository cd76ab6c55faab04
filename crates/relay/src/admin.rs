//! The admin listener: `/healthz` (the process answers), `/readyz` (the lease loop has run
//! and shutdown has not begun), `/metrics` (Prometheus text).
//!
//! Its own listener, apart from any traffic, so health checks and scrapes keep working
//! while the relay drains. The router is a plain function of its state, testable without a
//! socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tower_http::timeout::TimeoutLayer;

use crate::metrics;

/// No admin request may take longer than this (a stuck scrape must not hold a connection).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Health {
    /// The lease loop completed a round.
    pub leases_ready: Arc<AtomicBool>,
    /// Shutdown has begun.
    pub stopping: AtomicBool,
}

impl Health {
    /// Ready: leases were handled once and the relay is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.leases_ready.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire)
    }
}

/// The admin routes' state.
#[derive(Debug)]
pub struct Admin {
    /// Every relay metric.
    pub registry: Registry,
    /// Readiness.
    pub health: Arc<Health>,
}

/// The admin router.
pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(admin)
}

async fn readyz(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    if admin.health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics_text(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&admin.registry),
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::metrics::Metrics;

    fn admin() -> (Arc<Admin>, Metrics) {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let admin = Arc::new(Admin {
            registry,
            health: Arc::new(Health::default()),
        });
        (admin, metrics)
    }

    async fn get_path(admin: &Arc<Admin>, path: &str) -> (StatusCode, String) {
        let response = router(Arc::clone(admin))
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_follows_the_lease_loop_and_shutdown() {
        let (admin, _) = admin();
        assert_eq!(get_path(&admin, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&admin, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        admin.health.leases_ready.store(true, Ordering::Release);
        assert_eq!(get_path(&admin, "/readyz").await.0, StatusCode::OK);
        admin.health.stopping.store(true, Ordering::Release);
        assert_eq!(
            get_path(&admin, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let (admin, metrics) = admin();
        metrics.sockets_open.set(3);
        let (status, body) = get_path(&admin, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("# TYPE relay_sockets_open gauge"), "{body}");
        assert!(body.contains("relay_sockets_open 3"), "{body}");
    }
}
