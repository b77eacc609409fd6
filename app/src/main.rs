use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reslab",
    version,
    about = "Train and look inside ResNets on any GPU (wgpu)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter, backend, driver, limits and features.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Info { json }) => info(json),
        None => {
            eprintln!("nothing to do; see `reslab --help`");
            Ok(())
        }
    }
}

fn info(json: bool) -> Result<()> {
    let gpu = reslab::Gpu::new()?;
    let info = gpu.info();
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        println!("backend:  {}", info.backend);
        println!("adapter:  {} ({})", info.adapter, info.device_type);
        println!("driver:   {} {}", info.driver, info.driver_info);
        println!("features: {}", info.features.join(", "));
        let l = &info.limits;
        println!(
            "limits:   max_storage_buffer_binding_size {} B, max_buffer_size {} B,",
            l.max_storage_buffer_binding_size, l.max_buffer_size
        );
        println!(
            "          max_compute_workgroups_per_dimension {}, max_compute_invocations_per_workgroup {},",
            l.max_compute_workgroups_per_dimension, l.max_compute_invocations_per_workgroup
        );
        println!(
            "          max_compute_workgroup_storage_size {} B, max_storage_buffers_per_shader_stage {}",
            l.max_compute_workgroup_storage_size, l.max_storage_buffers_per_shader_stage
        );
    }
    Ok(())
}
