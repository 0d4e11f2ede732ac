//! Writes the API's OpenAPI document (`make openapi` puts it in docs/openapi.json).

fn main() {
    print!("{}", shared::http::openapi::json_text());
}
