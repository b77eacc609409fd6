//! Subcommands. Each parses its flags, calls the engine, prints or writes the
//! result; errors reach `main` once, with their context.

mod ab;
pub mod bench;
pub mod common;
mod convert;
mod degradation;
mod eval;
mod gui;
mod infer;
mod info;
mod landscape;
mod lesion;
mod probe;
mod redundancy;
mod train;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reslab",
    version,
    about = "Train ResNets and their plain twins on any GPU (wgpu), and look inside them"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the GPU adapter, backend, driver, limits and features.
    Info(info::Args),
    /// Time the kernels and whole models on this adapter.
    Bench(bench::Args),
    /// Train a model; writes config.json, metrics.jsonl and checkpoints to --out.
    Train(train::Args),
    /// Test loss and accuracy of a checkpoint (batch norm in eval mode), as JSON.
    Eval(eval::Args),
    /// Train plain and residual nets at several depths with one recipe: the
    /// paper's degradation experiment (Fig. 6 curves, Fig. 7 responses).
    Degradation(degradation::Args),
    /// Grow a trained shallow net by inserting blocks and train on: F(x) of
    /// the inserted (redundant) blocks shrinks toward zero.
    Redundancy(redundancy::Args),
    /// Test accuracy with single blocks removed, and the k blocks of smallest r_b.
    Lesion(lesion::Args),
    /// Loss and accuracy around a checkpoint along filter-normalised directions.
    Landscape(landscape::Args),
    /// r_b per block and the response std per 3x3 layer of a finished net,
    /// over test images (mean and spread), as JSON and PNG plots.
    Probe(probe::Args),
    /// A checkpoint (PyTorch's .pt/.pth, or safetensors) as safetensors.
    Convert(convert::Args),
    /// Open the desktop app (also what `reslab` with no subcommand does),
    /// optionally with a checkpoint and its data.
    Gui(gui::Args),
    /// Logits of a checkpoint for a .npy array or an image; --top K prints classes.
    Infer(infer::Args),
}

pub fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Which flags a user gave (not their defaults): --resume compares them
    // with the run's own settings.
    let given = |name: &str| {
        matches
            .subcommand_matches(name)
            .map(train::Given::from)
            .unwrap_or_default()
    };
    match cli.command {
        Some(Command::Info(a)) => info::run(a),
        Some(Command::Bench(a)) => bench::run(a),
        Some(Command::Train(a)) => train::run(a, &given("train")),
        Some(Command::Eval(a)) => eval::run(a),
        Some(Command::Infer(a)) => infer::run(a),
        Some(Command::Degradation(a)) => degradation::run(a),
        Some(Command::Redundancy(a)) => redundancy::run(a),
        Some(Command::Lesion(a)) => lesion::run(a),
        Some(Command::Landscape(a)) => landscape::run(a),
        Some(Command::Probe(a)) => probe::run(a),
        Some(Command::Convert(a)) => convert::run(a),
        Some(Command::Gui(a)) => gui::run(a),
        None => gui::run(gui::Args::default()),
    }
}
