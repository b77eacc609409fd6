//! One module per tab of the window; each `show` draws from the [`View`] and
//! returns what the user asked for.
//!
//! [`View`]: crate::gui::view::View

pub mod activations;
pub mod curves;
pub mod landscape;
pub mod lesions;
pub mod model;
pub mod residuals;
pub mod responses;
