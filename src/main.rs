//! The `nv2` binary: all behaviour lives in the library.

fn main() -> std::process::ExitCode {
    nv2::cli::run()
}
