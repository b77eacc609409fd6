//! The `reslab` binary's code: the command line (`cli`) and the desktop app (`gui`).

pub mod cli;
pub mod gui;
