//! The API's contract as an OpenAPI 3.1 document (`docs/openapi.json`), built from the request and
//! view types the functions read and write (their `utoipa::ToSchema` derives) and one table of
//! operations. The document is never written by hand: `make openapi` regenerates it, a test fails
//! when the committed file and this code disagree, another when its operations and template.yaml's
//! API events differ, and `make fuzz-api` checks the running service against it.
//!
//! Only the generator and the tests build this (feature `openapi`); no Lambda carries it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::AnyOfBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, HttpMethod, InfoBuilder, KnownFormat, ObjectBuilder, OpenApi,
    OpenApiBuilder, Paths, Ref, RefOr, Required, ResponseBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::problem::Problem;
use super::views::{HealthView, HistoryListView, ListView, OrderView, ProductView, RegisteredView};
use crate::auth::IssuedToken;
use crate::auth::tokens::Jwks;
use crate::domain::OrderStatus;
use crate::service::accounts::Credentials;
use crate::service::catalog::PutProductRequest;
use crate::service::orders::{PlaceOrderRequest, RefundRequest};

/// Who may call an operation, as the gateway and the function check it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No API key, no token (`/health`, the JWKS).
    Public,
    /// The client application's API key only.
    Keyed,
    /// The API key and a user's bearer token (the role is checked in the function).
    SignedIn,
}

/// One operation: everything the document says about it, beside its schemas.
struct Operation {
    method: HttpMethod,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    access: Access,
    parameters: Vec<Parameter>,
    body: Body,
    /// `(status, description, schema, headers)`
    answers: Vec<Answer>,
    /// Problems the function itself answers, beside those every operation of its access can get.
    problems: &'static [(u16, &'static str)],
}

enum Body {
    None,
    Required(&'static str),
    /// May be left out (the refund: no body refunds the whole total).
    Optional(&'static str),
}

struct Answer {
    status: u16,
    description: &'static str,
    schema: Option<&'static str>,
    headers: &'static [&'static str],
}

struct Parameter {
    name: &'static str,
    place: ParameterIn,
    required: bool,
    description: &'static str,
    schema: RefOr<Schema>,
}

const ID: &str = "id";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn order_id() -> Parameter {
    path_id("The order's id: `ord_` and 32 lowercase hex digits.")
        .schema(string().pattern(Some("^ord_[0-9a-f]{32}$")).into())
}

fn product_id() -> Parameter {
    path_id("The product's id: 1-64 of `A-Z a-z 0-9 _ -`, starting with a letter or digit.").schema(
        string()
            .pattern(Some("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))
            .into(),
    )
}

fn path_id(description: &'static str) -> Parameter {
    Parameter {
        name: ID,
        place: ParameterIn::Path,
        required: true,
        description,
        schema: RefOr::T(string().into()),
    }
}

impl Parameter {
    fn schema(self, schema: Schema) -> Self {
        Self {
            schema: RefOr::T(schema),
            ..self
        }
    }

    fn query(name: &'static str, description: &'static str, schema: Schema) -> Self {
        Self::with(name, ParameterIn::Query, description, RefOr::T(schema))
    }

    fn with(
        name: &'static str,
        place: ParameterIn,
        description: &'static str,
        schema: RefOr<Schema>,
    ) -> Self {
        Self {
            name,
            place,
            required: false,
            description,
            schema,
        }
    }

    fn header(name: &'static str, description: &'static str, schema: Schema) -> Self {
        Self {
            name,
            place: ParameterIn::Header,
            ..Self::query(name, description, schema)
        }
    }
}

fn paging() -> Vec<Parameter> {
    vec![
        Parameter::query(
            "limit",
            "Page size, 1-100 (20 if not given).",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(100))
                .into(),
        ),
        Parameter::query(
            "cursor",
            "The `cursor` of the previous page, as it was given.",
            string().max_length(Some(512)).into(),
        ),
    ]
}

fn time(description: &'static str) -> Schema {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(description))
        .into()
}

fn if_none_match() -> Parameter {
    Parameter::header(
        "If-None-Match",
        "An `ETag` of an earlier answer: 304 while it is still current.",
        string().into(),
    )
}

fn ok(description: &'static str, schema: &'static str, headers: &'static [&'static str]) -> Answer {
    Answer {
        status: 200,
        description,
        schema: Some(schema),
        headers,
    }
}

fn not_modified() -> Answer {
    Answer {
        status: 304,
        description: "Not modified: the `If-None-Match` tag is still current.",
        schema: None,
        headers: &["ETag"],
    }
}

const CACHED: &[&str] = &["ETag", "Cache-Control"];
const COUNTED: &[&str] = &[
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
];
const ORDER_READ: &[&str] = &[
    "ETag",
    "Cache-Control",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
];
const BODY_PROBLEMS: &[(u16, &str)] = &[
    (400, "The request is invalid; `errors` names each field."),
    (413, "The body is over 32 KiB."),
    (415, "The body is not `application/json`."),
];

/// Every operation of the API: what template.yaml routes, one entry each.
fn operations() -> Vec<Operation> {
    use Access::{Keyed, Public, SignedIn};
    vec![
        Operation {
            method: HttpMethod::Post,
            path: "/auth/register",
            id: "register",
            summary: "Sign up: the same answer for a new and an existing account",
            access: Keyed,
            parameters: vec![],
            body: Body::Required("Credentials"),
            answers: vec![Answer {
                status: 201,
                description: "Registered (or already was).",
                schema: Some("Registered"),
                headers: COUNTED,
            }],
            problems: BODY_PROBLEMS,
        },
        Operation {
            method: HttpMethod::Post,
            path: "/auth/login",
            id: "login",
            summary: "Log in: a bearer token for 15 minutes",
            access: Keyed,
            parameters: vec![],
            body: Body::Required("Credentials"),
            answers: vec![ok("The access token.", "IssuedToken", COUNTED)],
            problems: &[
                (400, "The request is invalid; `errors` names each field."),
                (
                    401,
                    "Wrong password or unknown account: one answer for both.",
                ),
                (413, "The body is over 32 KiB."),
                (415, "The body is not `application/json`."),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/.well-known/jwks.json",
            id: "jwks",
            summary: "The public keys that verify access tokens",
            access: Public,
            parameters: vec![if_none_match()],
            body: Body::None,
            answers: vec![ok("The key set.", "Jwks", CACHED), not_modified()],
            problems: &[],
        },
        Operation {
            method: HttpMethod::Post,
            path: "/orders",
            id: "placeOrder",
            summary: "Place an order at catalog prices",
            access: SignedIn,
            parameters: vec![Parameter::header(
                "Idempotency-Key",
                "Makes a retry safe: the same key and body answer the same order for 24 h.",
                string().pattern(Some("^[A-Za-z0-9_.:-]{1,128}$")).into(),
            )],
            body: Body::Required("NewOrder"),
            answers: vec![Answer {
                status: 201,
                description: "Placed (or replayed, with `Idempotent-Replayed: true`).",
                schema: Some("Order"),
                headers: &[
                    "Location",
                    "Idempotent-Replayed",
                    "X-RateLimit-Limit",
                    "X-RateLimit-Remaining",
                    "X-RateLimit-Reset",
                ],
            }],
            problems: &[
                (400, "The request is invalid; `errors` names each field."),
                (
                    409,
                    "A request with this `Idempotency-Key` is still running, or took over.",
                ),
                (413, "The body is over 32 KiB."),
                (415, "The body is not `application/json`."),
                (
                    422,
                    "Unknown product, mixed currencies, or a key reused with another body.",
                ),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/orders",
            id: "listOrders",
            summary: "The caller's orders, newest first",
            access: SignedIn,
            parameters: paging(),
            body: Body::None,
            answers: vec![ok("A page of orders.", "OrderPage", COUNTED)],
            problems: &[(400, "`limit` or `cursor` is invalid.")],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/orders/{id}",
            id: "getOrder",
            summary: "One order, to its customer or an admin",
            access: SignedIn,
            parameters: vec![order_id(), if_none_match()],
            body: Body::None,
            answers: vec![ok("The order.", "Order", ORDER_READ), not_modified()],
            problems: &[
                (400, "`id` is not an order id."),
                (404, "No such order for this caller."),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/orders/{id}/history",
            id: "getOrderHistory",
            summary: "An order's transitions, oldest first",
            access: SignedIn,
            parameters: vec![order_id(), if_none_match()],
            body: Body::None,
            answers: vec![ok("The timeline.", "History", ORDER_READ), not_modified()],
            problems: &[
                (400, "`id` is not an order id."),
                (404, "No such order for this caller."),
            ],
        },
        Operation {
            method: HttpMethod::Post,
            path: "/orders/{id}/cancel",
            id: "cancelOrder",
            summary: "Cancel an order that has not shipped; anything taken is given back",
            access: SignedIn,
            parameters: vec![order_id()],
            body: Body::None,
            answers: vec![ok("The order, `CANCELLED`.", "Order", COUNTED)],
            problems: &[
                (400, "`id` is not an order id."),
                (404, "No such order for this caller."),
                (
                    409,
                    "The order shipped or ended, or changed meanwhile: retry.",
                ),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/admin/orders",
            id: "adminListOrders",
            summary: "Admins: the orders in a status, most recently changed first",
            access: SignedIn,
            parameters: {
                let mut parameters = vec![
                    Parameter {
                        required: true,
                        ..Parameter::with(
                            "status",
                            ParameterIn::Query,
                            "The status the orders are in now.",
                            OrderStatus::schema(),
                        )
                    },
                    Parameter::query("from", "", time("Last changed at or after.")),
                    Parameter::query("to", "", time("Last changed before.")),
                ];
                parameters.extend(paging());
                parameters
            },
            body: Body::None,
            answers: vec![ok("A page of orders.", "OrderPage", COUNTED)],
            problems: &[
                (
                    400,
                    "`status`, `from`, `to`, `limit` or `cursor` is invalid.",
                ),
                (404, "The caller is not an admin."),
            ],
        },
        Operation {
            method: HttpMethod::Post,
            path: "/admin/orders/{id}/refund",
            id: "refundOrder",
            summary: "Admins: refund a completed order in full (the goods stay delivered)",
            access: SignedIn,
            parameters: vec![order_id()],
            body: Body::Optional("RefundRequest"),
            answers: vec![ok(
                "The order, `REFUNDED`; the refund and the customer's notice follow.",
                "Order",
                COUNTED,
            )],
            problems: &[
                (400, "The request is invalid; `errors` names each field."),
                (404, "The caller is not an admin, or no such order."),
                (
                    409,
                    "The order has not completed (cancel it instead), or changed meanwhile.",
                ),
                (413, "The body is over 32 KiB."),
                (415, "The body is not `application/json`."),
                (
                    422,
                    "`amount` is not the order's whole total: partial refunds are not supported.",
                ),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/products",
            id: "listProducts",
            summary: "The catalog",
            access: Keyed,
            parameters: {
                let mut parameters = paging();
                parameters.push(if_none_match());
                parameters
            },
            body: Body::None,
            answers: vec![
                ok("A page of products.", "ProductPage", CACHED),
                not_modified(),
            ],
            problems: &[(400, "`limit` or `cursor` is invalid.")],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/products/{id}",
            id: "getProduct",
            summary: "One product; its `ETag` is its version",
            access: Keyed,
            parameters: vec![product_id(), if_none_match()],
            body: Body::None,
            answers: vec![ok("The product.", "Product", CACHED), not_modified()],
            problems: &[
                (400, "`id` is not a product id."),
                (404, "No such product."),
            ],
        },
        Operation {
            method: HttpMethod::Put,
            path: "/products/{id}",
            id: "putProduct",
            summary: "Admins: create a product, or replace the version read (`If-Match`)",
            access: SignedIn,
            parameters: vec![
                product_id(),
                Parameter::header(
                    "If-Match",
                    "The `ETag` read: required to replace, not to create.",
                    string().into(),
                ),
            ],
            body: Body::Required("ProductDraft"),
            answers: vec![
                ok("Replaced.", "Product", &["ETag"]),
                Answer {
                    status: 201,
                    description: "Created.",
                    schema: Some("Product"),
                    headers: &["ETag"],
                },
            ],
            problems: &[
                (400, "The request is invalid; `errors` names each field."),
                (412, "The product changed since it was read: read it again."),
                (413, "The body is over 32 KiB."),
                (415, "The body is not `application/json`."),
                (428, "Replacing needs `If-Match`."),
            ],
        },
        Operation {
            method: HttpMethod::Get,
            path: "/health",
            id: "health",
            summary: "Up or not; `?deep=true` asks every dependency",
            access: Public,
            parameters: vec![Parameter::query(
                "deep",
                "Ask every table, queue, secret and the payment provider.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["true", "false"]))
                    .into(),
            )],
            body: Body::None,
            answers: vec![
                ok(
                    "`ok`, or `degraded` when only payments wait.",
                    "Health",
                    &[],
                ),
                Answer {
                    status: 503,
                    description: "A required dependency did not answer.",
                    schema: Some("Health"),
                    headers: &[],
                },
            ],
            problems: &[(400, "`deep` is neither `true` nor `false`.")],
        },
    ]
}

/// Problems an operation of `access` can get whatever it does: from the gateway (key, token,
/// throttles, a broken function) and from the functions' shared checks (role, per-user limit).
fn shared_problems(access: Access) -> Vec<(u16, &'static str)> {
    let mut problems = Vec::new();
    if access != Access::Public {
        problems.push((
            403,
            "No or an unknown `x-api-key`; or the route needs the admin role.",
        ));
    }
    // The stage's throttle covers every route, the public ones too.
    problems.push((
        429,
        "Over a limit: the per-user or sign-up budget, or a throttle.",
    ));
    if access == Access::SignedIn {
        problems.push((401, "No bearer token, or one that is expired or not ours."));
        problems.push((404, "No such resource for this caller."));
    }
    problems.push((
        500,
        "The gateway or the authorizer failed (the gateway answers).",
    ));
    problems.push((502, "The function failed (the gateway answers)."));
    problems.push((
        503,
        "A dependency is unavailable, or order intake is paused: retry after `Retry-After`.",
    ));
    problems
}

fn header(name: &str) -> (String, utoipa::openapi::Header) {
    let (schema, description): (Schema, &str) = match name {
        "ETag" => (
            string().into(),
            "The representation's tag, for `If-None-Match`.",
        ),
        "Cache-Control" => (string().into(), "How long the answer may be reused."),
        "Location" => (string().into(), "The new order's path."),
        "Idempotent-Replayed" => (
            string().enum_values(Some(["true"])).into(),
            "Present when the answer replays an earlier request with this key.",
        ),
        "Retry-After" => (integer(), "Seconds to wait before retrying."),
        "X-RateLimit-Limit" => (integer(), "Requests allowed in the window."),
        "X-RateLimit-Remaining" => (integer(), "Requests left in the window."),
        "X-RateLimit-Reset" => (integer(), "When the window ends (epoch seconds)."),
        "WWW-Authenticate" => (string().into(), "`Bearer`."),
        "x-correlation-id" => (
            string().into(),
            "The client's own correlation id if it sent a valid one, else a new one: in every log \
             line of the request and on the order history entries it makes.",
        ),
        _ => (string().into(), ""),
    };
    (
        name.to_string(),
        HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description))
            .build(),
    )
}

fn integer() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .into()
}

fn json(schema: &str) -> Content {
    Content::new(Some(Ref::from_schema_name(schema)))
}

fn operation(op: &Operation) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary));
    for parameter in &op.parameters {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(parameter.name)
                .parameter_in(parameter.place.clone())
                .required(if parameter.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(parameter.description).filter(|d| !d.is_empty()))
                .schema(Some(parameter.schema.clone())),
        );
    }
    let body = match op.body {
        Body::None => None,
        Body::Required(schema) => Some((schema, Required::True)),
        Body::Optional(schema) => Some((schema, Required::False)),
    };
    if let Some((schema, required)) = body {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(required))
                .content("application/json", json(schema))
                .build(),
        ));
    }
    for answer in &op.answers {
        let mut response = ResponseBuilder::new().description(answer.description);
        if let Some(schema) = answer.schema {
            response = response.content("application/json", json(schema));
        }
        for name in answer.headers.iter().chain(["x-correlation-id"].iter()) {
            let (name, header) = header(name);
            response = response.header(name, header);
        }
        builder = builder.response(answer.status.to_string(), response.build());
    }
    let mut problems: Vec<(u16, &str)> = op.problems.to_vec();
    for (status, description) in shared_problems(op.access) {
        if !problems.iter().any(|(s, _)| *s == status)
            && !op.answers.iter().any(|a| a.status == status)
        {
            problems.push((status, description));
        }
    }
    problems.sort_by_key(|(status, _)| *status);
    for (status, description) in problems {
        let mut response = ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", json("Problem"));
        let headers: &[&str] = match status {
            401 => &["WWW-Authenticate"],
            409 | 500 | 502 | 503 => &["Retry-After"],
            429 => &[
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            _ => &[],
        };
        for name in headers {
            let (name, header) = header(name);
            response = response.header(name, header);
        }
        builder = builder.response(status.to_string(), response.build());
    }
    builder = match op.access {
        Access::Public => builder.securities(Some(Vec::<SecurityRequirement>::new())),
        Access::Keyed => builder.security(SecurityRequirement::new(API_KEY, Vec::<String>::new())),
        Access::SignedIn => builder.security(
            SecurityRequirement::new(API_KEY, Vec::<String>::new())
                .add(BEARER, Vec::<String>::new()),
        ),
    };
    builder.build()
}

const API_KEY: &str = "apiKey";
const BEARER: &str = "bearer";

/// A gateway-answered problem: `requestId` instead of `correlationId`, `status` not always set.
fn gateway_problem() -> Schema {
    ObjectBuilder::new()
        .description(Some(
            "A problem API Gateway answers itself (key, token, throttle, no route, a broken \
             function), from template.yaml's GatewayResponses.",
        ))
        .property("type", string())
        .property("title", string())
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .property("detail", string())
        .property("instance", string())
        .property("requestId", string())
        .required("type")
        .required("title")
        .required("requestId")
        .into()
}

/// The schema `T` derives, under `name`, with every schema it refers to.
fn register<T: ToSchema>(components: ComponentsBuilder, name: &str) -> ComponentsBuilder {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    components
        .schema(name, T::schema())
        .schemas_from_iter(referenced)
}

/// The whole document, as `docs/openapi.json` holds it.
pub fn document() -> OpenApi {
    let mut components = ComponentsBuilder::new();
    components = register::<PlaceOrderRequest>(components, "NewOrder");
    components = register::<PutProductRequest>(components, "ProductDraft");
    components = register::<RefundRequest>(components, "RefundRequest");
    components = register::<Credentials>(components, "Credentials");
    components = register::<OrderView>(components, "Order");
    components = register::<ListView<OrderView>>(components, "OrderPage");
    components = register::<ProductView>(components, "Product");
    components = register::<ListView<ProductView>>(components, "ProductPage");
    components = register::<HistoryListView>(components, "History");
    components = register::<RegisteredView>(components, "Registered");
    components = register::<IssuedToken>(components, "IssuedToken");
    components = register::<Jwks>(components, "Jwks");
    components = register::<HealthView>(components, "Health");
    components = register::<Problem>(components, "ServiceProblem");
    let components = components
        .schema("GatewayProblem", gateway_problem())
        .schema(
            "Problem",
            AnyOfBuilder::new()
                .description(Some("application/problem+json (RFC 9457)"))
                .item(Ref::from_schema_name("ServiceProblem"))
                .item(Ref::from_schema_name("GatewayProblem")),
        )
        .security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        )
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("From `POST /auth/login`; EdDSA, 15 minutes."))
                    .build(),
            ),
        )
        .build();
    let mut paths = Paths::new();
    for op in operations() {
        paths.add_path_operation(op.path, vec![op.method.clone()], operation(&op));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Order service")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Orders, the catalog and accounts. JSON in camelCase; money in minor units; \
                     every error is application/problem+json. See docs/api.md.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// `docs/openapi.json`'s text: pretty JSON with a final newline.
pub fn json_text() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
