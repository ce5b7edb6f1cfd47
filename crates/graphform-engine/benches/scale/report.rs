//! The report: the main table, where time and writes go, and the API
//! calls by endpoint.

use std::fmt::Write as _;
use std::time::Duration;

use graphform_testkit::counting::CallKind;

use crate::run::{Backend, Phase};
use crate::world::Shape;

/// One line of the report: which run, and its phase.
pub(crate) struct Measured {
    pub(crate) latency_ms: u64,
    pub(crate) backend: Backend,
    pub(crate) shape: Shape,
    pub(crate) phase: Phase,
}

fn per_token(count: u64, tokens: usize) -> String {
    if tokens == 0 {
        if count == 0 {
            "-".to_owned()
        } else {
            count.to_string()
        }
    } else {
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let ratio = count as f64 / tokens as f64;
        format!("{ratio:.2}")
    }
}

fn report(rows: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>7} {:>5} {:>6} {:<13} {:>7} {:>7} {:>6} {:>8} {:>6} | {:>5} {:>5} {:>5} {:>6} {:>5}",
        "latency",
        "store",
        "tokens",
        "phase",
        "changes",
        "wall s",
        "HTTP",
        "seq. s",
        "ratio",
        "w/tok",
        "token",
        "state",
        "delete",
        "lease"
    );
    for row in rows {
        let phase = &row.phase;
        let counts = &phase.store;
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let bound = phase.http.http_requests as f64 * row.latency_ms as f64 / 1000.0;
        let wall = phase.wall.as_secs_f64();
        let ratio = if row.latency_ms == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}x", bound / wall)
        };
        let _ = writeln!(
            out,
            "{:>5}ms {:>5} {:>6} {:<13} {:>7} {:>7.2} {:>6} {:>8.1} {:>6} | {:>5} {:>5} {:>5} {:>6} {:>5}",
            row.latency_ms,
            row.backend.name(),
            row.shape.total(),
            phase.name,
            phase.changes,
            wall,
            phase.http.http_requests,
            bound,
            ratio,
            per_token(counts.writes(), phase.tokens),
            per_token(counts.of(CallKind::WriteToken).calls, phase.tokens),
            per_token(counts.of(CallKind::WriteState).calls, phase.tokens),
            per_token(counts.of(CallKind::DeleteToken).calls, phase.tokens),
            per_token(counts.of(CallKind::WriteLease).calls, phase.tokens),
        );
    }
    out
}

fn details(rows: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>7} {:>5} {:>6} {:<13} {:>12} {:>9} {:>6} {:>6} {:>7} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "latency",
        "store",
        "tokens",
        "phase",
        "wall range s",
        "in flight",
        "API",
        "reads",
        "read s",
        "write s",
        "st.writes",
        "st. KB",
        "st. MB",
        "retries"
    );
    for row in rows {
        let phase = &row.phase;
        let counts = &phase.store;
        let (reads, read_time) = CallKind::ALL
            .iter()
            .filter(|kind| !kind.is_write())
            .fold((0, Duration::ZERO), |(calls, time), kind| {
                (calls + counts.of(*kind).calls, time + counts.of(*kind).time)
            });
        let write_time: Duration = CallKind::ALL
            .iter()
            .filter(|kind| kind.is_write())
            .map(|kind| counts.of(*kind).time)
            .sum();
        let in_flight = if phase.peak_in_flight == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}/{}", phase.mean_in_flight, phase.peak_in_flight)
        };
        #[expect(clippy::cast_precision_loss, reason = "sizes far below 2^52")]
        let (largest, written) = (
            counts.largest_state as f64 / 1024.0,
            counts.state_bytes_written as f64 / (1024.0 * 1024.0),
        );
        let _ = writeln!(
            out,
            "{:>5}ms {:>5} {:>6} {:<13} {:>12} {:>9} {:>6} {:>6} {:>7.2} {:>7.2} {:>9} {:>8.1} {:>8.1} {:>8}",
            row.latency_ms,
            row.backend.name(),
            row.shape.total(),
            phase.name,
            format!(
                "{:.2}-{:.2}",
                phase.wall_range.0.as_secs_f64(),
                phase.wall_range.1.as_secs_f64()
            ),
            in_flight,
            phase.http.api_calls,
            reads,
            read_time.as_secs_f64(),
            write_time.as_secs_f64(),
            counts.of(CallKind::WriteState).calls,
            largest,
            written,
            phase.http.retries,
        );
    }
    out
}

/// The three tables, ready to print.
pub(crate) fn render(rows: &[Measured]) -> String {
    let mut out = format!(
        "{}\nwhere time and writes go:\n{}",
        report(rows),
        details(rows)
    );
    // Calls do not depend on latency or store: those of the largest size
    // on the file store.
    if let Some(largest) = rows
        .iter()
        .filter(|row| row.backend == Backend::File)
        .map(|row| (row.shape.total(), row.latency_ms))
        .max_by_key(|(tokens, _)| *tokens)
    {
        let phases: Vec<&Measured> = rows
            .iter()
            .filter(|row| {
                row.backend == Backend::File && (row.shape.total(), row.latency_ms) == largest
            })
            .collect();
        let _ = write!(
            out,
            "\nAPI calls by endpoint ({} tokens, file store):\n{}",
            largest.0,
            endpoints(&phases)
        );
    }
    out
}

fn endpoints(rows: &[&Measured]) -> String {
    let mut out = String::new();
    for row in rows {
        let calls: Vec<String> = row
            .phase
            .endpoints
            .iter()
            .map(|(endpoint, count)| format!("{endpoint} {count}"))
            .collect();
        let _ = writeln!(out, "{:<13} {}", row.phase.name, calls.join(", "));
    }
    out
}
