//! Small charts as inline SVG, drawn on the server: no script, nothing fetched. Each chart carries a
//! text description (`role="img"` with a label), and the pages show the same numbers as text too.

use std::fmt::Write;

use chrono::NaiveDateTime;

use crate::domain::invitation::html_escape;

/// Horizontal bars, one per label.
pub fn bars(description: &str, items: &[(&str, i64)]) -> String {
    let row = 26;
    let label_width = 210;
    let bar_space = 300;
    let height = row * items.len().max(1) + 4;
    let max = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {height}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"#,
        w = label_width + bar_space + 60,
        label = html_escape(description),
    );
    for (i, (label, n)) in items.iter().enumerate() {
        let y = i * row + 2;
        let width = ((*n as f64 / max as f64) * bar_space as f64).round() as i64;
        let _ = write!(
            svg,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" class="label">{label}</text><rect x="{bx}" y="{y}" width="{width}" height="{h}" class="bar"/><text x="{nx}" y="{ty}" class="value">{n}</text>"#,
            lx = label_width - 8,
            ty = y + 16,
            label = html_escape(label),
            bx = label_width,
            h = row - 8,
            nx = label_width as i64 + width + 6,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Requests per hour as stacked columns: successes below, failures on top.
pub fn hourly(description: &str, series: &[(NaiveDateTime, i64, i64)]) -> String {
    let width = 720.0;
    let height = 160.0;
    let bottom = 20.0;
    let left = 40.0;
    let max = series
        .iter()
        .map(|(_, ok, failed)| ok + failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = (width - left) / series.len().max(1) as f64;
    let scale = (height - bottom - 8.0) / max;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"#,
        label = html_escape(description),
    );
    let _ = write!(
        svg,
        r#"<text x="{x}" y="12" text-anchor="end" class="value">{max}</text><text x="{x}" y="{y0}" text-anchor="end" class="value">0</text><line x1="{left}" y1="{base}" x2="{width}" y2="{base}" class="axis"/>"#,
        x = left - 4.0,
        max = max as i64,
        y0 = height - bottom,
        base = height - bottom,
    );
    for (i, (hour, ok, failed)) in series.iter().enumerate() {
        let x = left + i as f64 * step + 1.0;
        let w = (step - 2.0).max(1.0);
        let ok_h = *ok as f64 * scale;
        let failed_h = *failed as f64 * scale;
        let base = height - bottom;
        let title = format!("{}: {ok} succeeded, {failed} failed", hour.format("%Y-%m-%d %H:00 UTC"));
        let _ = write!(
            svg,
            r#"<g><title>{title}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{ok_h:.1}" class="ok"/><rect x="{x:.1}" y="{fy:.1}" width="{w:.1}" height="{failed_h:.1}" class="failed"/></g>"#,
            y = base - ok_h,
            fy = base - ok_h - failed_h,
        );
        // A tick at each midnight.
        if hour.format("%H").to_string() == "00" {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{ty}" class="value">{day}</text>"#,
                ty = height - 4.0,
                day = hour.format("%b %d"),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
