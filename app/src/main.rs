//! `reslab`: the command line, and with no subcommand (or `reslab gui`) the desktop app.

fn main() {
    if let Err(e) = reslab_app::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
