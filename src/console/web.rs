//! The live web console: one page, its script and style, and the vendored chart library
//! (uPlot 1.6.32 from the npm registry, MIT, licence served beside it), all embedded in the
//! binary so nothing is fetched at run time and `cargo run` needs no build step.

use actix_web::http::header;
use actix_web::HttpResponse;

const INDEX: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/console.js");
const STYLE: &str = include_str!("web/console.css");
const UPLOT_SCRIPT: &str = include_str!("web/uPlot.iife.min.js");
const UPLOT_STYLE: &str = include_str!("web/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("web/uPlot.LICENSE.txt");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    let mut response = asset("text/html; charset=utf-8", INDEX);
    // Everything the page loads comes from this listener.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

pub async fn uplot_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", UPLOT_SCRIPT)
}

pub async fn uplot_style() -> HttpResponse {
    asset("text/css; charset=utf-8", UPLOT_STYLE)
}

pub async fn uplot_license() -> HttpResponse {
    asset("text/plain; charset=utf-8", UPLOT_LICENSE)
}
