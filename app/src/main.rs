//! `reslab`: the command line (and, with no subcommand, the desktop app).

mod cli;

fn main() {
    if let Err(e) = cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
