//! HTML building blocks for the console: escaping, the page frame, tables, an SVG bar chart.
//!
//! Pages are written as strings on the server, with no script at all: every value passes
//! through [`esc`] on its way in, and the Content-Security-Policy forbids scripts outright, so
//! text from a message can never run in an operator's browser.

use std::fmt::Write as _;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, Utc};

/// The console's policy: its own stylesheet, forms posting to itself, nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string value made safe for a URL (and then for HTML, by the caller's `esc`).
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A complete HTML answer with the console's security headers.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // `same-origin`, not the API's `no-referrer`: under `no-referrer` a browser posts the
    // console's own forms with `Origin: null`, which the gate must refuse (another site can
    // send that too).
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// One entry of the navigation bar.
pub struct NavLink {
    pub path: &'static str,
    pub label: &'static str,
}

/// The frame around every page: the title, the navigation the viewer may use, who is signed
/// in, and the sign-out button.
pub fn frame(
    title: &str,
    nav: &[NavLink],
    active: &str,
    who: Option<(&str, &str)>,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Concord</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         </head><body><header><a class=\"brand\" href=\"/console\">Concord</a><nav>",
        esc(title)
    );
    for link in nav {
        let class = if link.path == active {
            " class=\"active\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{}\"{class}>{}</a>", link.path, link.label);
    }
    out.push_str("</nav>");
    if let Some((actor, csrf)) = who {
        let _ = write!(
            out,
            "<form class=\"who\" method=\"post\" action=\"/console/sign-out\">\
             <span>{}</span><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>",
            esc(actor),
            esc(csrf)
        );
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// A table: header labels and rows of cells that are already HTML (escaped by the caller).
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{id}\">{}</p>", esc(empty));
    }
    let mut out = format!("<table id=\"{id}\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A link to a console page, escaped.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A number with its label, for the overview's tiles.
pub fn tile(label: &str, value: impl std::fmt::Display, class: &str) -> String {
    format!(
        "<div class=\"tile {class}\"><span class=\"value\">{}</span><span class=\"label\">{}</span></div>",
        esc(&value.to_string()),
        esc(label)
    )
}

/// An age as operators say it: `45s`, `12m`, `3h 20m`, `4d 2h`.
pub fn age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A duration with millisecond precision under a minute: `340 ms`, `2.4 s`, then [`age`].
pub fn latency(d: Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => age(d),
    }
}

/// A UTC instant as `2026-11-22 14:03:07Z`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A bar chart as inline SVG: one bar per bucket from `since`, `buckets` of `width` each,
/// empty buckets drawn as gaps; each bar carries its count as a tooltip.
pub fn bar_chart(
    label: &str,
    counts: &[(DateTime<Utc>, i64)],
    since: DateTime<Utc>,
    width: Duration,
    buckets: usize,
) -> String {
    let mut values = vec![0i64; buckets];
    let step = width.num_microseconds().unwrap_or(1).max(1);
    for (at, n) in counts {
        let offset = (*at - since).num_microseconds().unwrap_or(-1);
        if offset >= 0 && ((offset / step) as usize) < buckets {
            values[(offset / step) as usize] += n;
        }
    }
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, bar) = (600.0, 120.0, 600.0 / buckets.max(1) as f64);
    let mut out = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\">",
        h + 16.0,
        esc(label)
    );
    for (i, n) in values.iter().enumerate() {
        let bh = (*n as f64 / max as f64) * h;
        let at = since + Duration::microseconds(step * i as i64);
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{} from {}</title></rect>",
            i as f64 * bar + 0.5,
            h - bh,
            (bar - 1.0).max(0.5),
            n,
            when(at)
        );
    }
    let _ = write!(
        out,
        "<text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">now</text>\
         <text x=\"0\" y=\"12\">max {max}</text></svg><figcaption>{}</figcaption></figure>",
        h + 14.0,
        esc(&when(since)),
        h + 14.0,
        esc(label)
    );
    out
}

/// The value at quantile `q` (0..=1) of sorted values, nearest-rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url_part("PO 1&x=<y>"), "PO%201%26x%3D%3Cy%3E");
    }

    #[test]
    fn ages_and_latencies_read_as_operators_say_them() {
        assert_eq!(age(Duration::seconds(45)), "45s");
        assert_eq!(age(Duration::seconds(12 * 60 + 5)), "12m");
        assert_eq!(age(Duration::seconds(3 * 3600 + 20 * 60)), "3h 20m");
        assert_eq!(age(Duration::seconds(4 * 86_400 + 2 * 3600)), "4d 2h");
        assert_eq!(age(Duration::seconds(-5)), "0s");
        assert_eq!(latency(Duration::milliseconds(340)), "340 ms");
        assert_eq!(latency(Duration::milliseconds(2400)), "2.4 s");
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let ms = |v: &[i64]| {
            v.iter()
                .map(|m| Duration::milliseconds(*m))
                .collect::<Vec<_>>()
        };
        let sorted = ms(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(quantile(&sorted, 0.5), Some(Duration::milliseconds(50)));
        assert_eq!(quantile(&sorted, 0.95), Some(Duration::milliseconds(100)));
        assert_eq!(quantile(&ms(&[7]), 0.95), Some(Duration::milliseconds(7)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_chart_puts_each_count_in_its_bucket_and_skips_outsiders() {
        let since = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let hour = Duration::hours(1);
        let svg = bar_chart(
            "events",
            &[
                (since, 3),
                (since + Duration::minutes(150), 6),
                (since - hour, 100),
                (since + Duration::hours(5), 100),
            ],
            since,
            hour,
            4,
        );
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("<title>3 from"));
        assert!(svg.contains("<title>6 from"));
        assert!(svg.contains("max 6"), "{svg}");
        assert!(!svg.contains("<title>100 from"));
    }
}
