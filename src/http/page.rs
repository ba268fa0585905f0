//! page (pending)
pub fn routes() -> axum::Router {
    axum::Router::new()
}
