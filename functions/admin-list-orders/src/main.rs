//! `GET /admin/orders`: support's listing of the orders in one status, across customers.
//!
//! This binary only serves it: `handler` parses and answers; the use case lives in `shared`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::serve_http(admin_list_orders::handler::handle).await
}
