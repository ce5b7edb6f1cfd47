//! Plan and apply at scale (issue 12): a benchmark, not a timed test.
//!
//! For each latency, size and store it starts the emulator in-process with
//! that latency on every Graph HTTP request, generates a policy of
//! B businesses × U system users × T tokens, and measures with the wall
//! clock, one after another on the same store:
//!
//! 1. `plan (empty)`: observe and plan before anything exists;
//! 2. `issue`: the first apply (system users, installs, N tokens);
//! 3. `plan (steady)`: observe and plan with N tokens stored;
//! 4. `refresh`: 45 days later, apply refreshes all N 60-day tokens;
//! 5. `revoke`: 25 hours later, apply revokes the N replaced tokens.
//!
//! For each phase it prints the Graph HTTP requests the client sent, the
//! time those requests take one after another at that latency (the
//! sequential lower bound), the ratio of that bound to the wall time, and
//! the store calls by kind per token. `docs/performance.md` explains the
//! columns and records the figures.
//!
//! `cargo bench -p graphform-engine --bench scale -- --help` lists the
//! options. Run without `--bench` (as `cargo test --benches` does), it is
//! a smoke run of 10 tokens without latency on the file store.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark's report is its output; progress goes to stderr"
)]

mod report;
mod run;
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;

use graphform_engine::apply::ApplyOptions;

use report::Measured;
use run::{Backend, measure, median};
use world::Shape;

const USAGE: &str = "\
usage: cargo bench -p graphform-engine --bench scale -- [OPTIONS]

  --latency-ms LIST     latency added to each Graph HTTP request, in ms; e.g.
                        50,0 adds a reference run without latency (default 50)
  --tokens LIST         sizes: N (a multiple of 50: N/50 businesses x 5 system
                        users x 10 tokens) or BxUxT (default 100,1000)
  --stores LIST         file, vault (OpenBao), aws (moto) (default file,vault,aws)
  --store-max-tokens N  vault and aws run at the first latency only, at sizes up
                        to N tokens (default 100)
  --parallelism N       apply's starting parallelism (default: apply's, 8)
  --max-parallelism N   the most apply paces itself up to (default: apply's,
                        32); equal to --parallelism for a fixed parallelism
  --runs N              measure each configuration N times and report the run
                        with the median wall time of each phase (default 1)
";

struct Settings {
    latencies: Vec<u64>,
    shapes: Vec<Shape>,
    backends: Vec<Backend>,
    store_max_tokens: usize,
    parallelism: usize,
    max_parallelism: usize,
    runs: usize,
}

impl Settings {
    /// Parses the arguments; `Ok(None)` for `--help`.
    fn parse(args: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut args = args.peekable();
        let mut bench = false;
        let mut given: BTreeMap<String, String> = BTreeMap::new();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--help" | "-h" => return Ok(None),
                "--latency-ms" | "--tokens" | "--stores" | "--store-max-tokens"
                | "--parallelism" | "--max-parallelism" | "--runs" => {
                    let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                    given.insert(arg, value);
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        // Without `--bench` this is `cargo test --benches`: a smoke run.
        let default = |name: &str, bench_value: &str, smoke_value: &str| {
            given
                .get(name)
                .cloned()
                .unwrap_or_else(|| (if bench { bench_value } else { smoke_value }).to_owned())
        };
        let list = |text: String| -> Vec<String> { text.split(',').map(str::to_owned).collect() };
        let number = |text: &str| -> Result<usize, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("not a number: `{text}`"))
        };
        Ok(Some(Self {
            latencies: list(default("--latency-ms", "50", "0"))
                .iter()
                .map(|text| {
                    text.trim()
                        .parse()
                        .map_err(|_| format!("not a latency: `{text}`"))
                })
                .collect::<Result<_, _>>()?,
            shapes: list(default("--tokens", "100,1000", "1x2x5"))
                .iter()
                .map(|text| Shape::parse(text))
                .collect::<Result<_, _>>()?,
            backends: list(default("--stores", "file,vault,aws", "file"))
                .iter()
                .map(|text| Backend::parse(text))
                .collect::<Result<_, _>>()?,
            store_max_tokens: number(&default("--store-max-tokens", "100", "100"))?,
            runs: number(&default("--runs", "1", "1"))?.max(1),
            parallelism: match given.get("--parallelism") {
                Some(text) => number(text)?,
                None => ApplyOptions::default().parallelism,
            },
            max_parallelism: match given.get("--max-parallelism") {
                Some(text) => number(text)?,
                None => ApplyOptions::default().max_parallelism,
            },
        }))
    }
}

/// The load average (1, 5 and 15 minutes), where the system tells it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn main() -> ExitCode {
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprint!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let load_before = load_average();
    let mut rows = Vec::new();
    for (index, latency_ms) in settings.latencies.iter().copied().enumerate() {
        for shape in settings.shapes.iter().copied() {
            for backend in settings.backends.iter().copied() {
                if backend != Backend::File
                    && (index > 0 || shape.total() > settings.store_max_tokens)
                {
                    continue;
                }
                eprintln!(
                    "measuring: {latency_ms} ms, {} tokens ({shape}), {} store",
                    shape.total(),
                    backend.name()
                );
                let mut runs = Vec::new();
                for _ in 0..settings.runs {
                    match runtime.block_on(measure(
                        settings.parallelism,
                        settings.max_parallelism,
                        latency_ms,
                        shape,
                        backend,
                    )) {
                        Ok(phases) => runs.push(phases),
                        Err(error) => {
                            eprintln!(
                                "error: {latency_ms} ms, {} tokens, {} store: {error}",
                                shape.total(),
                                backend.name()
                            );
                            return ExitCode::FAILURE;
                        }
                    }
                }
                rows.extend(median(runs).into_iter().map(|phase| Measured {
                    latency_ms,
                    backend,
                    shape,
                    phase,
                }));
            }
        }
    }
    println!(
        "graphform scale benchmark: apply parallelism {} up to {}, {} cores, median of {} run(s), load average {} at the start, {} at the end\n",
        settings.parallelism,
        settings.max_parallelism,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        settings.runs,
        load_before,
        load_average()
    );
    print!("{}", report::render(&rows));
    ExitCode::SUCCESS
}
