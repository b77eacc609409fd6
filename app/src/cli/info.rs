use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let gpu = reslab::Gpu::new()?;
    let info = gpu.info();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let l = &info.limits;
    println!("backend:  {}", info.backend);
    println!("adapter:  {} ({})", info.adapter, info.device_type);
    println!("driver:   {} {}", info.driver, info.driver_info);
    println!("features: {}", info.features.join(", "));
    println!(
        "limits:   storage binding {} MiB, buffer {} MiB, {} workgroups per dimension,",
        l.max_storage_buffer_binding_size >> 20,
        l.max_buffer_size >> 20,
        l.max_compute_workgroups_per_dimension
    );
    println!(
        "          {} invocations and {} KiB shared memory per workgroup, {} storage buffers per stage",
        l.max_compute_invocations_per_workgroup,
        l.max_compute_workgroup_storage_size >> 10,
        l.max_storage_buffers_per_shader_stage
    );
    let c = &info.pipeline_cache;
    match &c.path {
        Some(p) => println!(
            "pipeline cache: {p} ({} bytes read{})",
            c.loaded_bytes,
            c.note
                .as_ref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        None => println!(
            "pipeline cache: none on disk ({})",
            c.note.as_deref().unwrap_or("")
        ),
    }
    Ok(())
}
