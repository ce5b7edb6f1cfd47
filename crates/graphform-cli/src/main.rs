//! The `graphform` binary: parse arguments, run, map to an exit code.

fn main() -> std::process::ExitCode {
    graphform_cli::main()
}
