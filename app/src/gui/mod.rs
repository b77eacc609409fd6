//! The desktop app: plain and residual nets training side by side, r_b = |F(x)|/|x|
//! per block as it happens, activations drawn from GPU buffers, growing,
//! lesions and loss landscapes, and run folders of the command line opened
//! beside them. One wgpu device serves the window and the engine.

pub mod app;
pub mod export;
pub mod panels;
pub mod runs;
pub mod settings;
pub mod tabs;
pub mod view;
pub mod worker;

use std::sync::Arc;

/// What the window starts with besides its remembered settings: another
/// data set, and a checkpoint to open.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub data: Option<String>,
    pub data_dir: Option<String>,
    pub image_size: Option<usize>,
    pub open: Option<view::OpenForm>,
    /// Start with the Degradation preset.
    pub degradation: bool,
    /// Run folders to open beside the nets.
    pub runs: Vec<std::path::PathBuf>,
}

/// Opens the window.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    // The engine's kernels want the adapter's real limits and the optional
    // features it has, not the renderer's conservative defaults.
    setup.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
        label: Some("reslab"),
        required_features: adapter.features() & reslab::device::wanted_features(),
        required_limits: adapter.limits(),
        ..Default::default()
    });
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1440.0, 900.0])
            .with_title("reslab"),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "reslab",
        options,
        Box::new(|cc| {
            app::ReslabApp::new(cc, launch)
                .map(|a| Box::new(a) as Box<dyn eframe::App>)
                .map_err(|e| e.to_string().into())
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}
