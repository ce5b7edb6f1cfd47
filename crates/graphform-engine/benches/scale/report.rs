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

/// A table: each column a title and a width; cells are right-aligned
/// except the phase's.
fn table(columns: &[(&str, usize)], rows: impl Iterator<Item = Vec<String>>) -> String {
    let line = |cells: &[String]| -> String {
        let mut text = String::new();
        for ((title, width), cell) in columns.iter().zip(cells) {
            if !text.is_empty() {
                text.push(' ');
            }
            let _ = if *title == "phase" {
                write!(text, "{cell:<width$}")
            } else {
                write!(text, "{cell:>width$}")
            };
        }
        text.push('\n');
        text
    };
    let titles: Vec<String> = columns
        .iter()
        .map(|(title, _)| (*title).to_owned())
        .collect();
    let mut out = line(&titles);
    for row in rows {
        out.push_str(&line(&row));
    }
    out
}

/// The columns every table starts with, and their cells.
const KEY: [(&str, usize); 4] = [("latency", 7), ("store", 5), ("tokens", 6), ("phase", 13)];

fn key(row: &Measured) -> Vec<String> {
    vec![
        format!("{}ms", row.latency_ms),
        row.backend.name().to_owned(),
        row.shape.total().to_string(),
        row.phase.name.to_owned(),
    ]
}

fn report(rows: &[Measured]) -> String {
    let columns = [
        ("changes", 7),
        ("wall s", 7),
        ("HTTP", 6),
        ("seq. s", 8),
        ("ratio", 6),
        ("|", 1),
        ("w/tok", 5),
        ("token", 5),
        ("root", 5),
        ("user", 5),
        ("delete", 6),
        ("lease", 5),
    ];
    let cells = rows.iter().map(|row| {
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
        let per_kind = [
            CallKind::WriteToken,
            CallKind::WriteState,
            CallKind::WriteSystemUserState,
            CallKind::DeleteToken,
            CallKind::WriteLease,
        ]
        .map(|kind| per_token(counts.of(kind).calls, phase.tokens));
        let mut cells = key(row);
        cells.extend([
            phase.changes.to_string(),
            format!("{wall:.2}"),
            phase.http.http_requests.to_string(),
            format!("{bound:.1}"),
            ratio,
            "|".to_owned(),
            per_token(counts.writes(), phase.tokens),
        ]);
        cells.extend(per_kind);
        cells
    });
    table(&[&KEY[..], &columns].concat(), cells)
}

fn details(rows: &[Measured]) -> String {
    let columns = [
        ("wall range s", 12),
        ("in flight", 9),
        ("API", 6),
        ("reads", 6),
        ("read s", 7),
        ("write s", 7),
        ("st.writes", 9),
        ("st. KB", 8),
        ("st. MB", 8),
        ("retries", 8),
    ];
    let cells = rows.iter().map(|row| {
        let phase = &row.phase;
        let counts = &phase.store;
        let tally = |write: bool| {
            CallKind::ALL
                .iter()
                .filter(|kind| kind.is_write() == write)
                .fold((0, Duration::ZERO), |(calls, time), kind| {
                    (calls + counts.of(*kind).calls, time + counts.of(*kind).time)
                })
        };
        let (reads, read_time) = tally(false);
        let (_, write_time) = tally(true);
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
        let mut cells = key(row);
        cells.extend([
            format!(
                "{:.2}-{:.2}",
                phase.wall_range.0.as_secs_f64(),
                phase.wall_range.1.as_secs_f64()
            ),
            in_flight,
            phase.http.api_calls.to_string(),
            reads.to_string(),
            format!("{:.2}", read_time.as_secs_f64()),
            format!("{:.2}", write_time.as_secs_f64()),
            (counts.of(CallKind::WriteState).calls
                + counts.of(CallKind::WriteSystemUserState).calls)
                .to_string(),
            format!("{largest:.1}"),
            format!("{written:.1}"),
            phase.http.retries.to_string(),
        ]);
        cells
    });
    table(&[&KEY[..], &columns].concat(), cells)
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
