//! Lambda events and contexts for handler tests, from the sample files in `events/` (so the
//! samples stay valid).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::Context;

use crate::domain::OrderId;

/// A Lambda context whose deadline is `timeout` from now, as the runtime gives one.
pub fn context(timeout: Duration) -> Context {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut context = Context::default();
    context.deadline = u64::try_from((now + timeout).as_millis()).unwrap();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context
}

/// Parses an API Gateway event file into a request.
pub fn request_from_event(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json).unwrap()
}

/// Replaces a request's authorizer context (`None` removes it).
pub fn with_principal(
    request: lambda_http::Request,
    principal: Option<(&str, &str)>,
) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV1(mut ctx)) = request.request_context_ref().cloned() else {
        panic!("not a REST API event");
    };
    ctx.authorizer.fields.clear();
    if let Some((id, role)) = principal {
        ctx.authorizer
            .fields
            .insert("principalId".into(), id.into());
        ctx.authorizer.fields.insert("role".into(), role.into());
    }
    request.with_request_context(RequestContext::ApiGatewayV1(ctx))
}

/// The `id` path parameter of an API Gateway sample event.
pub fn path_id(json: &str) -> OrderId {
    let event: serde_json::Value = serde_json::from_str(json).unwrap();
    OrderId::parse(event["pathParameters"]["id"].as_str().unwrap()).unwrap()
}

/// An SQS sample event.
pub fn sqs_event(json: &str) -> SqsEvent {
    serde_json::from_str(json).unwrap()
}

/// The order named by the first record of an SQS sample event.
pub fn order_of(event: &SqsEvent) -> OrderId {
    let body = event.records[0].body.as_deref().unwrap();
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    OrderId::parse(body["orderId"].as_str().unwrap()).unwrap()
}

/// The event with its first record's body replaced.
pub fn with_body(mut event: SqsEvent, body: &str) -> SqsEvent {
    event.records[0].body = Some(body.to_string());
    event
}

/// The event with one more record: a copy of the first under `message_id` with `body`.
pub fn with_record(mut event: SqsEvent, message_id: &str, body: &str) -> SqsEvent {
    let mut record = event.records[0].clone();
    record.message_id = Some(message_id.into());
    record.body = Some(body.into());
    event.records.push(record);
    event
}
