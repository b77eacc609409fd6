use std::path::PathBuf;

use anyhow::{Result, bail};
use reslab::checkpoint;

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint: PyTorch's .pt/.pth (torch.save of a state_dict, or of a
    /// dict holding it) or safetensors.
    input: PathBuf,
    /// Where to write its state_dict as safetensors (float tensors as f32,
    /// the BN step counters as int64); an existing file is kept unless --force.
    output: PathBuf,
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.output.exists() && !a.force {
        bail!("{} exists; give --force to replace it", a.output.display());
    }
    let t = checkpoint::read(&a.input)?;
    for n in &t.notes {
        eprintln!("note: {}: {n}", a.input.display());
    }
    let values: Vec<_> = t
        .f32s
        .iter()
        .map(|(k, (s, v))| (k.clone(), s.clone(), v.clone()))
        .collect();
    // Counters keep their value (one element each, as BN's num_batches_tracked).
    let mut counters = Vec::new();
    for (k, (s, v)) in &t.i64s {
        match v[..] {
            [x] => counters.push((k.clone(), x)),
            _ => bail!(
                "{}: integer tensor {k} of shape {s:?}: only one-element counters are kept",
                a.input.display()
            ),
        }
    }
    let mut meta = t.metadata.clone();
    meta.insert("format".into(), "pt".into());
    checkpoint::write(&a.output, &values, &counters, meta)?;
    println!(
        "wrote {} tensors and {} counters to {}",
        values.len(),
        counters.len(),
        a.output.display()
    );
    Ok(())
}
