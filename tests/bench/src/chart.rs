//! A small SVG chart of measured throughput against the account limit C, with the bound
//! C / (L × R) as a line: written by hand, no plotting dependency.

use std::fmt::Write;
use std::time::Duration;

/// `points`: (C, bound per second, measured per second), in increasing C.
pub fn svg(points: &[(usize, f64, f64)], latency: Duration) -> String {
    let (w, h) = (560.0, 340.0);
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 50.0);
    let max_c = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let max_y = points.iter().map(|p| p.1.max(p.2)).fold(1.0f64, f64::max) * 1.1;
    let x = |c: f64| left + (w - left - right) * c / max_c;
    let y = |v: f64| h - bottom - (h - top - bottom) * v / max_y;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">billsync throughput against the NetSuite concurrency limit (L = {} ms, R = 3)</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">account limit C (requests in flight)</text>
<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">invoices per second</text>
"#,
        w / 2.0,
        latency.as_millis(),
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
    );
    // Ticks.
    for p in points {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(p.0 as f64),
            h - bottom + 16.0,
            p.0
        );
    }
    for i in 0..=4 {
        let v = max_y * i as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text><line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            left - 6.0,
            y(v) + 4.0,
            v,
            y(v),
            w - right,
            y(v)
        );
    }
    // The bound: a straight line through the origin.
    let slope = points.first().map(|p| p.1 / p.0 as f64).unwrap_or(0.0);
    let _ = writeln!(
        s,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="6 4"/>"##,
        x(0.0),
        y(0.0),
        x(max_c),
        y(slope * max_c)
    );
    let path: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.0 as f64), y(p.2)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f6feb" stroke-width="2"/>"##,
        path.join(" ")
    );
    for p in points {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f6feb"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#1f6feb">{:.1}</text>"##,
            x(p.0 as f64),
            y(p.2),
            x(p.0 as f64),
            y(p.2) - 10.0,
            p.2
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888" stroke-dasharray="6 4"/><text x="{}" y="{}">bound C/(L×R)</text>
<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#1f6feb" stroke-width="2"/><text x="{}" y="{}">measured</text>
</svg>"##,
        left + 10.0,
        top + 6.0,
        left + 40.0,
        top + 6.0,
        left + 46.0,
        top + 10.0,
        left + 10.0,
        top + 24.0,
        left + 40.0,
        top + 24.0,
        left + 46.0,
        top + 28.0
    );
    s
}
